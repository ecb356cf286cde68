package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.transport.MigrationUri;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** What a new user meets first: --version, suggestions for typos, completion, --help's exit codes, a terminal as fd:1. */
class CliFinishTest {
    @TempDir
    Path dir;

    /** Runs the command line in this JVM (no migration starts: usage, help, version); stdout and stderr as text. */
    private record Run(int exitCode, String out, String err) {
    }

    private static Run run(String... args) {
        CommandLine commandLine = VmMigrate.commandLine();
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        commandLine.setOut(new PrintWriter(out));
        commandLine.setErr(new PrintWriter(err));
        int code = commandLine.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    @Test
    void versionIsTheBuildsAndNamesTheQemuVersions() throws IOException {
        Matcher parent = Pattern.compile("<parent>.*?<version>([^<]+)</version>", Pattern.DOTALL)
                .matcher(Files.readString(Path.of("pom.xml")));
        assertTrue(parent.find(), "no parent version in cli/pom.xml");
        Run r = run("--version");
        assertEquals(0, r.exitCode(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals("vm-migrate " + parent.group(1), lines.getFirst(), r.out());
        assertTrue(r.out().contains("tested against QEMU 7.2 and 10.0"), r.out());
    }

    @Test
    void aMistypedOptionGetsTheNearestOne() {
        Run r = run("send", "--max-bandwith", "1M", "tcp:127.0.0.1:1");
        assertEquals(ExitCode.USAGE, r.exitCode(), r.err());
        assertTrue(r.err().lines().anyMatch("Did you mean: --max-bandwidth?"::equals), r.err());
    }

    @Test
    void aMistypedCommandGetsTheNearestOne() {
        Run r = run("recieve", "tcp:0.0.0.0:4444");
        assertEquals(ExitCode.USAGE, r.exitCode(), r.err());
        assertTrue(r.err().lines().anyMatch("Did you mean: receive?"::equals), r.err());
    }

    @Test
    void editDistance() {
        assertEquals(1, VmMigrate.editDistance("--max-bandwith", "--max-bandwidth"));
        assertEquals(0, VmMigrate.editDistance("send", "send"));
        assertEquals(2, VmMigrate.editDistance("sned", "send"));
        assertEquals(4, VmMigrate.editDistance("", "demo"));
    }

    /**
     * Every code a command documents is in the top-level list, which names every command under 0
     * and says which signals cancel.
     */
    @Test
    void topLevelExitCodesCoverEachCommands() {
        CommandLine top = VmMigrate.commandLine();
        Map<String, String> all = top.getCommandSpec().usageMessage().exitCodeList();
        for (String name : List.of("send", "receive", "relay", "inspect", "demo")) {
            Map<String, String> own = top.getSubcommands().get(name).getCommandSpec().usageMessage().exitCodeList();
            assertTrue(all.keySet().containsAll(own.keySet()), name + "'s " + own.keySet() + " vs " + all.keySet());
            assertTrue(all.get("0").contains("(" + name + ")"), "0 does not say what " + name + " does: " + all.get("0"));
            if (own.containsKey("3")) {
                assertTrue(own.get("3").contains("SIGTERM") && all.get("3").contains(name), name + ": " + own.get("3"));
            }
        }
        assertTrue(all.get("3").contains("Ctrl-C, SIGTERM or SIGHUP"), all.get("3"));
    }

    /** picocli's script, sourced in bash: completes a command and an option the way TAB would. */
    @Test
    void completionScriptCompletesInBash() throws Exception {
        Run r = run("completion");
        assertEquals(0, r.exitCode(), r.err());
        Path script = Files.writeString(dir.resolve("vm-migrate.bash"), r.out());
        String probe = "source " + CliProcess.shellQuote(script.toString()) + " 2>/dev/null\n"
                + "complete -p vm-migrate >/dev/null || exit 9\n"
                + "try() { COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); COMP_LINE=\"$*\"; COMP_POINT=${#COMP_LINE};"
                + " COMPREPLY=(); _complete_vm-migrate 2>/dev/null; echo \"${COMPREPLY[*]}\"; }\n"
                + "try vm-migrate sen\n"
                + "try vm-migrate send --max-band\n";
        Process bash = new ProcessBuilder("bash", "-c", probe).redirectErrorStream(true).start();
        String output = new String(bash.getInputStream().readAllBytes());
        assertEquals(0, bash.waitFor(), output);
        assertEquals(List.of("send", "--max-bandwidth"), output.lines().toList(), output);
    }

    @Test
    void anFdThatIsATerminalIsRefused() {
        MigrationUri fd1 = MigrationUri.parse("fd:1");
        CliFailure refused = assertThrows(CliFailure.class, () -> TerminalGuard.refuseTerminal(fd1, fd -> fd == 1));
        assertEquals(ExitCode.USAGE, refused.exitCode());
        assertEquals("fd:1 is a terminal: refusing to write a binary migration stream to it (redirect descriptor 1 "
                + "to a file or a pipe)", refused.getMessage());
        TerminalGuard.refuseTerminal(fd1, fd -> false); // a pipe or a file: no refusal
        TerminalGuard.refuseTerminal(MigrationUri.parse("file:x.mig"), fd -> true); // not a descriptor
    }

    /** The real thing: send fd:1 with stdout on a pseudo-terminal (util-linux script(1)). */
    @Test
    void sendToATerminalExitsTwoWithOneLine() throws Exception {
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/usr/bin/script")), "no script(1) for a pseudo-terminal");
        String command = CliProcess.shellCommand("send", "fd:1", "--ram", "16M");
        try (CliProcess p = CliProcess.startCommand("script send fd:1", dir, Map.of(),
                List.of("/usr/bin/script", "-qec", command, "/dev/null"))) {
            CliProcess.Result r = p.await();
            assertEquals(ExitCode.USAGE, r.exitCode(), r.describe());
            List<String> lines = r.stdoutText().lines().filter(l -> !l.isBlank()).toList();
            assertEquals(List.of("vm-migrate send: fd:1 is a terminal: refusing to write a binary migration stream "
                    + "to it (redirect descriptor 1 to a file or a pipe)"), lines, r.describe());
        }
    }
}
