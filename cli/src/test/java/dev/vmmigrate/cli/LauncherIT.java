package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * scripts/vm-migrate with the packaged jar and the AOT cache the build trained beside it (so an
 * integration test: it runs after {@code package}). The launcher's promises: it uses the cache,
 * and a cache that does not fit the jar costs time only, never a byte on stdout, which may be
 * the migration stream.
 */
class LauncherIT {
    private static final Path MODULE = Path.of("").toAbsolutePath();
    private static final Path LAUNCHER = MODULE.resolve("../scripts/vm-migrate").normalize();
    private static final Path JAR = MODULE.resolve("target/vm-migrate.jar");
    private static final Path CACHE = MODULE.resolve("target/vm-migrate.aot");
    /** Turns the launcher's silenced AOT log back on, on stderr. */
    private static final String AOT_LOG = "-Xlog:aot=info:stderr";

    private static CliProcess.Result launch(Path dir, Map<String, String> env, String... args) {
        List<String> command = new java.util.ArrayList<>(List.of(LAUNCHER.toString()));
        command.addAll(List.of(args));
        try (CliProcess p = CliProcess.startCommand("vm-migrate " + String.join(" ", args), dir, env, command)) {
            return p.await();
        }
    }

    @Test
    void theBuildTrainedACacheAndTheLauncherUsesIt(@TempDir Path dir) {
        assertTrue(Files.isRegularFile(CACHE), "the build left no AOT cache at " + CACHE
                + " (see target/aot-training.log)");
        CliProcess.Result r = launch(dir, Map.of("VM_MIGRATE_JAVA_OPTIONS", AOT_LOG), "--version");
        assertEquals(0, r.exitCode(), r.describe());
        assertTrue(r.stderr().contains("Using AOT-linked classes: true"), r.describe());
        assertTrue(r.stdoutText().startsWith("vm-migrate "), r.describe());
    }

    /** Installed as a symlink in PATH (~/bin/vm-migrate -> the tree's script): it still finds its jar. */
    @Test
    void aSymlinkToTheLauncherWorks(@TempDir Path dir) throws IOException {
        Path bin = Files.createDirectories(dir.resolve("bin"));
        Path link = Files.createSymbolicLink(bin.resolve("vm-migrate"), LAUNCHER);
        CliProcess.Result r = CliProcess.runShell(dir, "PATH=" + CliProcess.shellQuote(bin + ":" + System.getenv("PATH"))
                + " vm-migrate --version");
        assertEquals(0, r.exitCode(), r.describe() + " (link " + link + ")");
        assertTrue(r.stdoutText().matches("(?s)vm-migrate \\d+\\.\\d+\\.\\d+\\S*\n.*QEMU 7\\.2 and 10\\.0.*"), r.describe());
    }

    /**
     * SIGQUIT asks HotSpot for a thread dump, which it prints to stdout by default: into the
     * stream of a send fd:1. The launcher sends it to stderr; the stream stays whole.
     */
    @Test
    void sigQuitDumpsThreadsToStderrNotIntoTheStream(@TempDir Path dir) throws IOException {
        List<String> command = List.of(LAUNCHER.toString(), "send", "fd:1", "--ram", "32M", "--fill", "half_random",
                "--paused", "--max-bandwidth", "8M/s", "--progress", "plain");
        CliProcess.Result r;
        try (CliProcess p = CliProcess.startCommand("vm-migrate send fd:1", dir, Map.of(), command)) {
            p.awaitStderr(java.util.regex.Pattern.compile("migration active"));
            p.signal("QUIT");
            p.awaitStderr(java.util.regex.Pattern.compile("Full thread dump"));
            r = p.await();
        }
        assertEquals(0, r.exitCode(), r.describe());
        assertFalse(new String(r.stdout(), java.nio.charset.StandardCharsets.ISO_8859_1).contains("Full thread dump"),
                "the thread dump went into the stream");
        Path stream = Files.write(dir.resolve("out.mig"), r.stdout());
        CliProcess.Result inspect = launch(dir, Map.of(), "inspect", stream.toString());
        assertEquals(0, inspect.exitCode(), inspect.describe());
    }

    @Test
    void aCacheThatDoesNotFitTheJarLeavesStdoutToTheStream(@TempDir Path dir) throws IOException {
        // The same jar and cache elsewhere: the cache names the jar's old path, so the JVM
        // refuses it, and says so; that must not reach stdout.
        Path jar = Files.copy(JAR, dir.resolve("vm-migrate.jar"));
        Files.copy(CACHE, dir.resolve("vm-migrate.aot"));
        Map<String, String> moved = Map.of("VM_MIGRATE_JAR", jar.toString());

        Map<String, String> logged = new java.util.HashMap<>(moved);
        logged.put("VM_MIGRATE_JAVA_OPTIONS", AOT_LOG);
        CliProcess.Result version = launch(dir, logged, "--version");
        assertEquals(0, version.exitCode(), version.describe());
        assertTrue(version.stderr().contains("mismatch") || version.stderr().contains("does not exist"),
                "the moved cache was not refused, so this test proves nothing: " + version.describe());
        assertFalse(version.stdoutText().contains("["), "JVM log lines on stdout: " + version.describe());

        String launcher = CliProcess.shellQuote(LAUNCHER.toString());
        CliProcess.Result pipe = CliProcess.runShell(dir, "export VM_MIGRATE_JAR=" + CliProcess.shellQuote(jar.toString())
                + "; " + launcher + " send fd:1 --ram 16M --fill half_random --paused --progress none"
                + " | " + launcher + " receive fd:0 --run-for 0 --progress none");
        assertEquals(0, pipe.exitCode(), pipe.describe());
    }
}
