package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The QMP socket of send and receive, driven by a QMP client as a script drives QEMU: a
 * throttled migration sped up in flight, one cancelled, a receiver that migrates its guest on
 * (A -> B -> C), and the field names of the replies next to QEMU 7.2's.
 */
class QmpCliTest {
    private static final Pattern TCP_PORT = Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)");
    private static final Duration GUARD = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    static void awaitActive(QmpClient qmp) throws Exception {
        long deadline = System.nanoTime() + GUARD.toNanos();
        while (!qmp.execute("query-migrate").path("status").asText().equals("active")) {
            assertTrue(System.nanoTime() < deadline, "the migration never became active");
            Thread.sleep(50);
        }
    }

    /** A 32 MiB half-random guest at 256 KiB/s: minutes at that limit. */
    private CliProcess throttledSend(String port, Path socket) {
        return CliProcess.start(dir, "send", "tcp:127.0.0.1:" + port, "--ram", "32M", "--fill", "half_random",
                "--max-bandwidth", "256K/s", "--qmp", "unix:" + socket, "--json");
    }

    @Test
    void aMidFlightSpeedChangeFinishesAThrottledMigration() throws Exception {
        Path socket = dir.resolve("send.qmp");
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "0");
             CliProcess send = throttledSend(receive.awaitStderr(TCP_PORT), socket);
             QmpClient qmp = QmpClient.connect(socket, send.process(), GUARD)) {
            awaitActive(qmp);
            JsonNode info = qmp.execute("query-migrate");
            assertTrue(info.path("ram").path("remaining").asLong() > 8L << 20, info.toString());
            assertEquals(262144, qmp.execute("query-migrate-parameters").get("max-bandwidth").asLong());
            qmp.execute("migrate-set-parameters", QmpClient.args().put("max-bandwidth", 0)); // QEMU's "no limit"
            CliProcess.Result sent = send.await();
            assertEquals(0, sent.exitCode(), sent.describe());
            assertTrue(sent.stderrLines().getLast().contains("\"status\":\"completed\""), sent.describe());
            assertEquals(0, receive.await().exitCode());
        }
    }

    @Test
    void migrateCancelEndsSendWithExitThree() throws Exception {
        Path socket = dir.resolve("send.qmp");
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "0");
             CliProcess send = throttledSend(receive.awaitStderr(TCP_PORT), socket);
             QmpClient qmp = QmpClient.connect(socket, send.process(), GUARD)) {
            awaitActive(qmp);
            qmp.execute("migrate_cancel");
            CliProcess.Result sent = send.await();
            assertEquals(ExitCode.CANCELLED, sent.exitCode(), sent.describe());
            assertTrue(sent.stderrLines().getLast().contains("\"status\":\"cancelled\""), sent.describe());
            receive.await();
        }
    }

    /** A -> B -> C: B receives, then migrates the guest it runs on to C through its QMP socket. */
    @Test
    void aReceiverMigratesItsGuestOnThroughQmp() throws Exception {
        Path socket = dir.resolve("b.qmp");
        try (CliProcess c = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "0");
             CliProcess b = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--qmp", "unix:" + socket)) {
            String cPort = c.awaitStderr(TCP_PORT);
            String bPort = b.awaitStderr(TCP_PORT);
            CliProcess.Result a = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + bPort, "--ram", "8M", "--fill",
                    "half_random", "--workload", "random:1M/s");
            assertEquals(0, a.exitCode(), a.describe());
            try (QmpClient qmp = QmpClient.connect(socket, b.process(), GUARD)) {
                assertEquals("running", qmp.execute("query-status").get("status").asText());
                qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + cPort));
                long deadline = System.nanoTime() + GUARD.toNanos();
                String status;
                while (!(status = qmp.execute("query-migrate").path("status").asText()).equals("completed")) {
                    assertTrue(!status.equals("failed") && System.nanoTime() < deadline,
                            "B's onward migration: " + qmp.execute("query-migrate"));
                    Thread.sleep(50);
                }
                assertEquals("postmigrate", qmp.execute("query-status").get("status").asText());
                CliProcess.Result cResult = c.await();
                assertEquals(0, cResult.exitCode(), cResult.describe());
                assertTrue(cResult.stderr().contains("guest loaded"), cResult.describe());
                qmp.execute("quit");
            }
            CliProcess.Result bResult = b.await();
            assertEquals(0, bResult.exitCode(), bResult.describe());
        }
    }

    /** A script written against QEMU 7.2 reads ours: every name we answer with is QEMU's. */
    @Test
    void theRepliesUseQemuSevenTwosNames() throws Exception {
        Path socket = dir.resolve("send.qmp");
        try (QemuProcess qemu = QemuProcess.start(QemuVersion.V7_2, dir, "-machine", "none", "-S");
             CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "0");
             CliProcess send = throttledSend(receive.awaitStderr(TCP_PORT), socket);
             QmpClient ours = QmpClient.connect(socket, send.process(), GUARD)) {
            awaitActive(ours);
            assertNamesWithin(ours.execute("query-migrate-parameters"), qemu.qmp.execute("query-migrate-parameters"),
                    "query-migrate-parameters");
            assertEquals(names(qemu.qmp.execute("query-status")), names(ours.execute("query-status")), "query-status");
            List<String> qemuCapabilities = new ArrayList<>();
            qemu.qmp.execute("query-migrate-capabilities").forEach(c -> qemuCapabilities.add(c.get("capability").asText()));
            List<String> ourCapabilities = new ArrayList<>();
            ours.execute("query-migrate-capabilities").forEach(c -> ourCapabilities.add(c.get("capability").asText()));
            assertEquals(qemuCapabilities, ourCapabilities, "query-migrate-capabilities");
            // QEMU's query-migrate of an active migration: the members ours sends must all be QEMU's.
            List<String> qemuMigrate = List.of("status", "total-time", "setup-time", "expected-downtime", "downtime",
                    "ram", "disk", "xbzrle-cache", "compression", "cpu-throttle-percentage", "error-desc");
            for (String name : names(ours.execute("query-migrate"))) {
                assertTrue(qemuMigrate.contains(name) || name.equals("reconnect"),
                        "query-migrate member '" + name + "' is not QEMU's");
            }
            ours.execute("migrate_cancel");
            send.await();
            receive.await();
        }
    }

    private static void assertNamesWithin(JsonNode ours, JsonNode qemus, String what) {
        for (String name : names(ours)) {
            assertTrue(qemus.has(name), what + ": '" + name + "' is not in QEMU 7.2's reply " + qemus);
        }
    }

    private static List<String> names(JsonNode object) {
        List<String> names = new ArrayList<>();
        object.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
