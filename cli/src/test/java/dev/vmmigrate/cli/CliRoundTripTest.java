package dev.vmmigrate.cli;

import static dev.vmmigrate.cli.CliProcess.shellCommand;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vm-migrate send} to {@code vm-migrate receive} in two real processes over every
 * transport of DESIGN.md section 5, with a guest that keeps writing its RAM while it is
 * migrated: both exit 0 and the destination's RAM file is the source's, byte for byte (the
 * source's file no longer changes once the migration completed: the guest is postmigrate).
 *
 * <p>The transport tests receive with {@code --run-for 0 --paused} so that they check the
 * transport and the stream only; {@link #receiveRunForZeroLeavesTheReceivedRamAsSent} checks
 * {@code --run-for 0} alone, where the received guest is resumed before the command exits.
 */
class CliRoundTripTest {
    private static final long RAM = 8L << 20;
    private static final Pattern TCP_PORT = Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)");
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private static String[] sender(String uri, String... more) {
        List<String> args = new ArrayList<>(List.of("send", uri, "--ram", "8M", "--ram-file", "src.ram",
                "--workload", "random:16M/s", "--warmup", "200ms"));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    private static String[] receiver(String uri, String... more) {
        List<String> args = new ArrayList<>(List.of("receive", uri, "--ram", "8M", "--ram-file", "dst.ram",
                "--run-for", "0", "--paused"));
        args.addAll(List.of(more));
        return args.toArray(String[]::new);
    }

    @Test
    void tcp() throws IOException {
        try (CliProcess receive = CliProcess.start(dir, receiver("tcp:127.0.0.1:0"))) {
            String port = receive.awaitStderr(TCP_PORT);
            CliProcess.Result send = CliProcess.run(dir, sender("tcp:127.0.0.1:" + port));
            CliProcess.Result received = receive.await();
            assertBothCompleted(send, received);
        }
        assertSameRam();
    }

    @Test
    void unixSocket() throws IOException {
        Path socket = dir.resolve("mig.sock");
        try (CliProcess receive = CliProcess.start(dir, receiver("unix:" + socket))) {
            receive.awaitStderr(Pattern.compile("listening on unix:" + Pattern.quote(socket.toString())));
            CliProcess.Result send = CliProcess.run(dir, sender("unix:" + socket));
            CliProcess.Result received = receive.await();
            assertBothCompleted(send, received);
        }
        assertSameRam();
    }

    /** ssh style: {@code send 'exec:ssh host vm-migrate receive fd:0'}, with a local command for ssh. */
    @Test
    void execPipelineToReceiveOnStdin() throws IOException {
        String receiveCommand = shellCommand(receiver("fd:0")) + " 2>recv.err; rc=$?; echo $rc >recv.rc; exit $rc";
        CliProcess.Result send = CliProcess.run(dir, sender("exec:" + receiveCommand));
        assertEquals(0, send.exitCode(), send.describe());
        assertReceiverFinishedOk();
        assertSameRam();
    }

    @Test
    void fdPipeFromStdoutToStdin() throws IOException {
        String script = "(" + shellCommand(sender("fd:1")) + " 2>send.err; echo $? >send.rc) | ("
                + shellCommand(receiver("fd:0")) + " 2>recv.err; echo $? >recv.rc)";
        CliProcess.Result shell = CliProcess.runShell(dir, script);
        assertEquals(0, shell.exitCode(), shell.describe());
        assertEquals("0", read("send.rc"), "send exit code; stderr:\n" + read("send.err"));
        assertReceiverFinishedOk();
        assertSameRam();
    }

    @Test
    void fdOtherThanStdinAndStdout() throws IOException {
        CliProcess.Result send = CliProcess.runShell(dir, shellCommand(sender("fd:5")) + " 5>stream.bin");
        assertEquals(0, send.exitCode(), send.describe());
        assertQevm(Files.readAllBytes(dir.resolve("stream.bin")));
        CliProcess.Result received = CliProcess.runShell(dir, shellCommand(receiver("fd:3")) + " 3<stream.bin");
        assertEquals(0, received.exitCode(), received.describe());
        assertTrue(received.stderr().contains("migration completed"), received.describe());
        assertSameRam();
    }

    @Test
    void file() throws IOException {
        Path stream = dir.resolve("stream.mig");
        CliProcess.Result send = CliProcess.run(dir, sender("file:" + stream));
        assertEquals(0, send.exitCode(), send.describe());
        assertQevm(Files.readAllBytes(stream));
        CliProcess.Result received = CliProcess.run(dir, receiver("file:" + stream));
        assertBothCompleted(send, received);
        assertSameRam();
    }

    /** As QEMU's rate limiter, {@code --max-bandwidth 0} means no limit (not refused, not 0 bytes a second). */
    @Test
    void maxBandwidthZeroMeansNoLimit() throws IOException {
        Path stream = dir.resolve("stream.mig");
        CliProcess.Result send = CliProcess.run(dir, sender("file:" + stream, "--max-bandwidth", "0"));
        assertEquals(0, send.exitCode(), send.describe());
        CliProcess.Result received = CliProcess.run(dir, receiver("file:" + stream));
        assertBothCompleted(send, received);
        assertSameRam();
    }

    /**
     * DESIGN.md 5: {@code --run-for 0} exits as soon as the guest is loaded. The RAM file it
     * leaves must be what was migrated, not what the resumed guest's workload wrote after the load.
     */
    @Test
    void receiveRunForZeroLeavesTheReceivedRamAsSent() throws IOException {
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram", "8M",
                "--ram-file", "dst.ram", "--run-for", "0")) {
            String port = receive.awaitStderr(TCP_PORT);
            // A busier guest than elsewhere: the receiver resumes the workload the stream carries.
            CliProcess.Result send = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + port, "--ram", "8M",
                    "--ram-file", "src.ram", "--workload", "random:256M/s", "--warmup", "200ms");
            CliProcess.Result received = receive.await();
            assertBothCompleted(send, received);
        }
        assertSameRam();
    }

    /** DESIGN.md 5: "tcp:HOST:PORT (port 0 picks one and prints it)", whatever the progress style. */
    @Test
    void receiveOnPortZeroPrintsThePortEvenWithProgressNone() {
        try (CliProcess receive = CliProcess.start(dir, receiver("tcp:127.0.0.1:0", "--progress", "none"))) {
            String port = receive.awaitStderr(TCP_PORT);
            CliProcess.Result send = CliProcess.run(dir, sender("tcp:127.0.0.1:" + port));
            assertEquals(0, send.exitCode(), send.describe());
            assertEquals(0, receive.await().exitCode());
        }
    }

    @Test
    void receiveJsonReportsTheListeningAddress() throws IOException {
        try (CliProcess receive = CliProcess.start(dir, receiver("tcp:127.0.0.1:0", "--json"))) {
            String port = receive.awaitStderr(Pattern.compile("\"listening on tcp:127\\.0\\.0\\.1:(\\d+)\""));
            CliProcess.Result send = CliProcess.run(dir, sender("tcp:127.0.0.1:" + port));
            CliProcess.Result received = receive.await();
            assertBothCompleted(send, received);
            List<JsonNode> lines = jsonLines(received);
            JsonNode last = lines.getLast();
            assertEquals("completed", last.path("return").path("status").asText(), received.describe());
        }
        assertSameRam();
    }

    /**
     * {@code send fd:1 --json}: stdout is the stream and nothing else; stderr is NDJSON with
     * QMP's MIGRATION events and a final query-migrate style {"return": {...}}.
     */
    @Test
    void sendJsonToStdout() throws IOException {
        CliProcess.Result send = CliProcess.run(dir, sender("fd:1", "--json"));
        assertEquals(0, send.exitCode(), send.describe());

        List<JsonNode> lines = jsonLines(send);
        List<String> statuses = lines.stream().filter(l -> "MIGRATION".equals(l.path("event").asText()))
                .map(l -> l.path("data").path("status").asText()).toList();
        assertTrue(statuses.contains("setup") && statuses.contains("active") && statuses.contains("completed"),
                "MIGRATION statuses " + statuses);
        assertTrue(statuses.indexOf("setup") < statuses.indexOf("active")
                && statuses.indexOf("active") < statuses.indexOf("completed"), "status order " + statuses);
        assertEquals("completed", statuses.getLast(), "last MIGRATION status " + statuses);
        for (JsonNode line : lines.subList(0, lines.size() - 1)) {
            assertTrue(line.has("event") && line.path("timestamp").path("seconds").isNumber(),
                    "event line " + line);
        }

        JsonNode last = lines.getLast();
        assertTrue(last.has("return"), "last line is {\"return\": ...}: " + last);
        JsonNode ret = last.get("return");
        assertEquals("completed", ret.path("status").asText(), ret.toString());
        assertTrue(ret.path("downtime").isNumber(), "numeric downtime: " + ret);
        assertTrue(ret.path("total-time").isNumber(), "numeric total-time: " + ret);
        assertTrue(ret.path("ram").path("total").canConvertToLong(), "ram.total: " + ret);
        assertEquals(RAM, ret.path("ram").path("total").asLong(), "ram.total: " + ret);
        assertTrue(ret.path("ram").path("transferred").asLong() > 0, "ram.transferred: " + ret);

        // stdout: the stream, complete (inspect reads it to the end of its vmdesc), nothing before or after
        byte[] stream = send.stdout();
        assertQevm(stream);
        Files.write(dir.resolve("stdout.mig"), stream);
        CliProcess.Result inspect = CliProcess.run(dir, "inspect", "stdout.mig");
        assertEquals(0, inspect.exitCode(), inspect.describe());
        assertTrue(inspect.stdoutText().contains(stream.length + " bytes"), inspect.stdoutText());
        assertEquals('}', stream[stream.length - 1], "the stream ends with the vmdesc JSON");

        CliProcess.Result received = CliProcess.run(dir, receiver("file:stdout.mig"));
        assertEquals(0, received.exitCode(), received.describe());
        assertSameRam();
    }

    private static List<JsonNode> jsonLines(CliProcess.Result result) {
        List<String> raw = result.stderrLines();
        assertTrue(!raw.isEmpty(), "no stderr output: " + result.describe());
        List<JsonNode> lines = new ArrayList<>();
        for (String line : raw) {
            try {
                JsonNode node = JSON.readTree(line);
                assertTrue(node != null && node.isObject(), "not a JSON object: " + line);
                lines.add(node);
            } catch (IOException e) {
                throw new AssertionError("stderr line is not JSON: '" + line + "' in\n" + result.stderr(), e);
            }
        }
        return lines;
    }

    private static void assertBothCompleted(CliProcess.Result send, CliProcess.Result received) {
        assertEquals(0, send.exitCode(), send.describe() + "\n--- receiver: " + received.describe());
        assertEquals(0, received.exitCode(), received.describe() + "\n--- sender: " + send.describe());
    }

    private void assertReceiverFinishedOk() throws IOException {
        assertTrue(Files.exists(dir.resolve("recv.rc")), "the receiver did not finish");
        assertEquals("0", read("recv.rc"), "receive exit code; stderr:\n" + read("recv.err"));
        assertTrue(read("recv.err").contains("migration completed"), read("recv.err"));
    }

    private String read(String name) throws IOException {
        Path file = dir.resolve(name);
        return Files.exists(file) ? Files.readString(file, StandardCharsets.UTF_8).strip() : "<no " + name + ">";
    }

    private static void assertQevm(byte[] stream) {
        assertTrue(stream.length > 8, "stream of " + stream.length + " bytes");
        assertArrayEquals(new byte[] {'Q', 'E', 'V', 'M', 0, 0, 0, 3}, java.util.Arrays.copyOf(stream, 8),
                "QEVM magic and version 3 first");
    }

    /** The receiver's RAM file equals the sender's, which the workload did write. */
    private void assertSameRam() throws IOException {
        byte[] source = Files.readAllBytes(dir.resolve("src.ram"));
        byte[] destination = Files.readAllBytes(dir.resolve("dst.ram"));
        assertEquals(RAM, source.length, "source RAM file size");
        long written = Stream.iterate(0, p -> p < source.length, p -> p + QemuTestData.PAGE)
                .filter(p -> java.util.Arrays.mismatch(source, p, p + QemuTestData.PAGE,
                        new byte[QemuTestData.PAGE], 0, QemuTestData.PAGE) >= 0)
                .count();
        assertTrue(written > 0, "the workload wrote no page of the source's RAM: the test proves nothing");
        QemuTestData.assertSameBytes(source, destination, "destination RAM file vs source RAM file");
    }
}
