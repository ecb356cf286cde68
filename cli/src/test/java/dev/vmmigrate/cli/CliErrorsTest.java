package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * DESIGN.md section 6: bad input gets one clear error line naming the value (and for streams the
 * offset), a distinct exit code (2: bad usage or input, 1: failed), and no stack trace unless
 * {@code --debug} asks for one.
 */
class CliErrorsTest {
    @TempDir
    Path dir;

    @Test
    void unknownOption() {
        CliProcess.Result r = CliProcess.run(dir, "send", "--no-such-option", "tcp:127.0.0.1:1");
        assertUsageError(r, "--no-such-option");
    }

    @Test
    void badSize() {
        CliProcess.Result r = CliProcess.run(dir, "send", "--ram", "12Q", "tcp:127.0.0.1:1");
        assertUsageError(r, "12Q");
    }

    @Test
    void badUri() {
        assertUsageError(CliProcess.run(dir, "send", "foo:bar"), "foo:bar");
        assertUsageError(CliProcess.run(dir, "receive", "foo:bar"), "foo:bar");
    }

    @Test
    void missingCommand() {
        CliProcess.Result r = CliProcess.run(dir);
        assertEquals(ExitCode.USAGE, r.exitCode(), r.describe());
        assertNoStackTrace(r);
    }

    /**
     * Postcopy with block migration is refused before anything connects: the disk's iterative
     * section would go on after the switch while the destination's guest runs.
     */
    @Test
    void postcopyWithCopyStorageIsRefused() throws IOException {
        Path image = Files.write(dir.resolve("disk.img"), new byte[1 << 20]);
        CliProcess.Result r = CliProcess.run(dir, "send", "tcp:127.0.0.1:1", "--ram", "4M", "--disk", image.toString(),
                "--copy-storage", "all", "--postcopy-after", "auto");
        assertUsageError(r, "postcopy-ram cannot go with block migration (--copy-storage)");
        CliProcess.Result withoutPostcopy = CliProcess.run(dir, "send", "tcp:127.0.0.1:1", "--ram", "4M", "--disk",
                image.toString(), "--copy-storage", "all");
        assertNotEquals(ExitCode.USAGE, withoutPostcopy.exitCode(), "only the pair is refused: "
                + withoutPostcopy.describe());
    }

    @Test
    void inspectOfAMissingFile() {
        CliProcess.Result r = CliProcess.run(dir, "inspect", "no-such-file.mig");
        assertUsageError(r, "no-such-file.mig");
    }

    @Test
    void inspectWrongMagic() throws IOException {
        Path file = write("magic.mig", "<?xml version='1.0'?>".getBytes());
        CliProcess.Result r = CliProcess.run(dir, "inspect", file.toString());
        assertUsageError(r, "offset 0");
        assertTrue(r.stderr().contains("magic"), r.describe());
    }

    @Test
    void inspectWrongVersion() throws IOException {
        Path file = write("version.mig", new byte[] {'Q', 'E', 'V', 'M', 0, 0, 0, 2, 7, 0, 0, 0, 4, 'n', 'o', 'n', 'e'});
        CliProcess.Result r = CliProcess.run(dir, "inspect", file.toString());
        assertUsageError(r, "offset 4");
        assertTrue(r.stderr().contains("version 2"), r.describe());
    }

    /** A QEMU header and configuration, then section type 0x09 (there is none) at offset 17. */
    @Test
    void inspectUnknownSectionType() throws IOException {
        byte[] real = Files.readAllBytes(QemuTestData.NONE_2M.copyTo(dir));
        byte[] bad = Arrays.copyOf(real, real.length);
        assertEquals(0x01, bad[17], "START after 'QEVM' v3 and configuration 'none' (core/src/test/resources/qemu-streams/FACTS.md)");
        bad[17] = 0x09;
        Path file = write("type9.mig", bad);
        CliProcess.Result r = CliProcess.run(dir, "inspect", file.toString());
        assertUsageError(r, "offset 17");
        assertTrue(r.stderr().toLowerCase().contains("0x09"), r.describe());
    }

    @Test
    void inspectTruncated() throws IOException {
        byte[] real = Files.readAllBytes(QemuTestData.NONE_2M.copyTo(dir));
        for (int cut : new int[] {3, 40, real.length / 2, real.length - 2}) {
            Path file = write("cut-" + cut + ".mig", Arrays.copyOf(real, cut));
            CliProcess.Result r = CliProcess.run(dir, "inspect", file.toString());
            assertUsageError(r, "offset");
            long offset = Long.parseLong(r.stderrLines().getFirst().replaceAll(".*offset (\\d+).*", "$1"));
            assertTrue(offset <= cut, "offset " + offset + " within the " + cut + " bytes: " + r.describe());
        }
    }

    @Test
    void debugShowsTheStackTrace() throws IOException {
        byte[] real = Files.readAllBytes(QemuTestData.NONE_2M.copyTo(dir));
        Path file = write("cut.mig", Arrays.copyOf(real, real.length / 2));
        for (List<String> args : List.of(List.of("inspect", "--debug", file.toString()),
                List.of("--debug", "inspect", file.toString()))) {
            CliProcess.Result r = CliProcess.run(dir, args.toArray(String[]::new));
            assertEquals(ExitCode.USAGE, r.exitCode(), r.describe());
            assertTrue(r.stderrLines().getFirst().startsWith("vm-migrate inspect: "), r.describe());
            assertTrue(r.stderr().contains("TruncatedStreamException") && r.stderr().contains("\tat "),
                    "a stack trace with " + args + ": " + r.describe());
        }
    }

    @Test
    void receiveOfADifferentlyNamedRamBlockNamesIt() throws IOException {
        Path stream = QemuTestData.NONE_2M.copyTo(dir);
        CliProcess.Result r = CliProcess.run(dir, "receive", "file:" + stream, "--ram-file", "dst.ram",
                "--run-for", "0");
        assertNotEquals(0, r.exitCode(), r.describe());
        assertNoStackTrace(r);
        String error = errorLine(r);
        assertTrue(error.contains("'ram'") && error.contains("mem") && error.contains("use --ram-id"), r.describe());
    }

    @Test
    void receiveOfADifferentRamLengthNamesBoth() throws IOException {
        Path stream = QemuTestData.NONE_2M.copyTo(dir);
        CliProcess.Result r = CliProcess.run(dir, "receive", "file:" + stream, "--ram-id", "mem", "--ram", "4M",
                "--ram-file", "dst.ram", "--run-for", "0");
        assertNotEquals(0, r.exitCode(), r.describe());
        assertNoStackTrace(r);
        assertTrue(r.stderr().contains("2097152") && r.stderr().contains("4194304"), r.describe());
        assertFalse(r.stderr().contains("guest loaded"), r.describe());
    }

    @Test
    void receiveOfAnotherMachineTypeNamesBoth() throws IOException {
        Path stream = QemuTestData.PC_16M.copyTo(dir);
        // Without --machine a pc stream is held; --machine none asks for the built-in guest.
        CliProcess.Result r = CliProcess.run(dir, "receive", "file:" + stream, "--machine", "none", "--ram-id", "mem",
                "--ram-file", "dst.ram", "--run-for", "0");
        assertNotEquals(0, r.exitCode(), r.describe());
        assertNoStackTrace(r);
        assertTrue(r.stderr().contains("pc-i440fx-7.2") && r.stderr().contains("'none'"), r.describe());
        assertFalse(r.stderr().contains("guest loaded"), r.describe());
    }

    @Test
    void sendToAPortNobodyListensOn() throws IOException {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        CliProcess.Result r = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + port, "--ram", "1M");
        assertEquals(ExitCode.FAILED, r.exitCode(), r.describe());
        assertNoStackTrace(r);
        assertEquals(1, r.stderrLines().size(), "one line says it: " + r.describe());
        assertTrue(errorLine(r).contains("127.0.0.1:" + port), r.describe());
    }

    /**
     * The seeds' migrate_fd_error: a transport that fails before any byte still fails the
     * migration, so --json has the MIGRATION event and the final query-migrate record.
     */
    @Test
    void sendToAPortNobodyListensOnReportsTheFailureInJson() throws IOException {
        int port;
        try (ServerSocket socket = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            port = socket.getLocalPort();
        }
        CliProcess.Result r = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + port, "--ram", "1M", "--json");
        assertEquals(ExitCode.FAILED, r.exitCode(), r.describe());
        assertNoStackTrace(r);
        ObjectMapper json = new ObjectMapper();
        List<JsonNode> lines = new ArrayList<>();
        for (String line : r.stderrLines()) {
            lines.add(json.readTree(line));
        }
        assertEquals(2, lines.size(), "a MIGRATION event and the reply: " + r.describe());
        JsonNode event = lines.getFirst();
        assertEquals("MIGRATION", event.path("event").asText(), event.toString());
        assertEquals("failed", event.path("data").path("status").asText(), event.toString());
        assertTrue(event.path("data").path("error-desc").asText().contains("127.0.0.1:" + port), event.toString());
        JsonNode reply = lines.getLast().path("return");
        assertEquals("failed", reply.path("status").asText(), r.describe());
        assertTrue(reply.path("error-desc").asText().contains("127.0.0.1:" + port), r.describe());
    }

    private Path write(String name, byte[] bytes) throws IOException {
        return Files.write(dir.resolve(name), bytes);
    }

    /**
     * Exit 2 and one error line "vm-migrate CMD: ..." containing {@code mentions}; picocli's
     * "Try '... --help'" hint may follow a usage error, nothing else may.
     */
    private static void assertUsageError(CliProcess.Result r, String mentions) {
        assertEquals(ExitCode.USAGE, r.exitCode(), r.describe());
        assertNoStackTrace(r);
        List<String> lines = r.stderrLines();
        assertTrue(!lines.isEmpty() && lines.getFirst().startsWith("vm-migrate"), r.describe());
        assertTrue(lines.getFirst().contains(mentions), "error line names '" + mentions + "': " + r.describe());
        for (String extra : lines.subList(1, lines.size())) {
            assertTrue(extra.startsWith("Try '") && extra.contains("--help"), "only one error line: " + r.describe());
        }
        assertEquals(0, r.stdout().length, "nothing on stdout: " + r.describe());
    }

    /** The last line that is not progress chatter: where the command says why it stopped. */
    private static String errorLine(CliProcess.Result r) {
        return r.stderrLines().getLast();
    }

    private static void assertNoStackTrace(CliProcess.Result r) {
        String all = r.stderr() + r.stdoutText();
        assertFalse(all.contains("Exception"), "no exception class in the output: " + r.describe());
        assertFalse(all.contains("\tat "), "no stack trace: " + r.describe());
    }
}
