package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmmigrate.testing.FaultProxy;
import java.nio.file.Path;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * send and receive --reconnect through a proxy whose first connection resets mid-stream: both
 * exit 0, the receiver verified the guest, both said the link went down and came back, and
 * send's final JSON record counts the reconnect and the bytes sent again.
 */
class ReconnectCliTest {
    private static final Pattern TCP_PORT = Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)");

    @TempDir
    Path dir;

    @Test
    void aResetLinkResumesAndBothSidesSaySo() throws Exception {
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "0",
                "--reconnect", "20s", "--stall-timeout", "2s", "--ram-file", "dst.ram", "--json");
             FaultProxy proxy = FaultProxy.restoring(Integer.parseInt(receive.awaitStderr(TCP_PORT)),
                     new FaultProxy.Fault(FaultProxy.Direction.FORWARD, 5_000_000, FaultProxy.Kind.RESET))) {
            CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + proxy.port(), "--ram", "32M",
                    "--fill", "half_random", "--workload", "random:4M/s", "--max-bandwidth", "16M/s",
                    "--reconnect", "20s", "--stall-timeout", "2s", "--json");
            CliProcess.Result received = receive.await();
            assertEquals(0, sent.exitCode(), sent.describe());
            assertEquals(0, received.exitCode(), received.describe());
            String last = sent.stderrLines().getLast();
            assertTrue(last.contains("\"status\":\"completed\"") && last.contains("\"reconnect\":{\"reconnects\":1,"),
                    sent.describe());
            assertTrue(sent.stderr().contains("\"event\":\"LINK_DOWN\"") && sent.stderr().contains("\"event\":\"LINK_UP\""),
                    sent.describe());
            assertTrue(received.stderr().contains("\"event\":\"LINK_DOWN\"")
                    && received.stderr().contains("\"event\":\"LINK_UP\""), received.describe());
            assertTrue(proxy.connections() >= 2, "the sender connected again");
        }
    }

    /**
     * A reset after the switch to postcopy: both sides report postcopy-paused and recover, both
     * exit 0, and send's final record counts the reconnect, the pages sent again and the requests.
     */
    @Test
    void aResetAfterTheSwitchToPostcopyRecovers() throws Exception {
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "1s",
                "--reconnect", "20s", "--stall-timeout", "2s", "--json");
             // The switch comes after the first pass, at about 50 MB of about 115 MB.
             FaultProxy proxy = FaultProxy.restoring(Integer.parseInt(receive.awaitStderr(TCP_PORT)),
                     new FaultProxy.Fault(FaultProxy.Direction.FORWARD, 75_000_000, FaultProxy.Kind.RESET))) {
            CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + proxy.port(), "--ram", "64M",
                    "--fill", "half_random", "--workload", "random:64M/s", "--max-bandwidth", "16M/s",
                    "--postcopy-after", "auto", "--reconnect", "20s", "--stall-timeout", "2s", "--json");
            CliProcess.Result received = receive.await();
            assertEquals(0, sent.exitCode(), sent.describe());
            assertEquals(0, received.exitCode(), received.describe());
            JsonNode last = new ObjectMapper().readTree(sent.stderrLines().getLast()).path("return");
            assertEquals("completed", last.path("status").asText(), sent.describe());
            assertEquals(1, last.path("reconnect").path("reconnects").asLong(), last.toString());
            assertTrue(last.path("reconnect").path("resent-bytes").asLong() > 0, last.toString());
            assertTrue(last.path("ram").path("postcopy-requests").asLong() > 0, last.toString());
            for (CliProcess.Result side : new CliProcess.Result[] {sent, received}) {
                String err = side.stderr();
                int paused = err.indexOf("\"status\":\"postcopy-paused\"");
                int recover = err.indexOf("\"status\":\"postcopy-recover\"");
                assertTrue(paused > 0 && recover > paused && err.indexOf("\"status\":\"postcopy-active\"", recover) > 0,
                        "paused, recovered, active again: " + side.describe());
                assertTrue(err.contains("\"event\":\"LINK_DOWN\"") && err.contains("\"event\":\"LINK_UP\""),
                        side.describe());
            }
        }
    }

    /**
     * Ctrl-C twice while postcopy is paused: cancelling would lose the guest that runs at the
     * destination, so send says why it does not cancel, stays, recovers and completes (before,
     * the second signal ended send at once with exit 3, and the destination's guest with it).
     */
    @Test
    void signalsInPostcopyAreRefusedAndTheMigrationRecovers() throws Exception {
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "1s",
                "--reconnect", "20s", "--stall-timeout", "2s");
             FaultProxy proxy = FaultProxy.restoring(Integer.parseInt(receive.awaitStderr(TCP_PORT)),
                     new FaultProxy.Fault(FaultProxy.Direction.FORWARD, 75_000_000, FaultProxy.Kind.STALL));
             CliProcess send = CliProcess.start(dir, "send", "tcp:127.0.0.1:" + proxy.port(), "--ram", "64M",
                     "--fill", "half_random", "--workload", "random:64M/s", "--max-bandwidth", "16M/s",
                     "--postcopy-after", "auto", "--reconnect", "20s", "--stall-timeout", "2s")) {
            send.awaitStderr(Pattern.compile("migration postcopy-active"), java.time.Duration.ofSeconds(60));
            send.signal("INT");
            send.awaitStderr(Pattern.compile("not cancelled: the migration is in postcopy"));
            send.signal("INT");
            CliProcess.Result sent = send.await();
            CliProcess.Result received = receive.await();
            assertEquals(0, sent.exitCode(), sent.describe());
            assertEquals(0, received.exitCode(), received.describe());
            assertTrue(sent.stderr().contains("migration completed"), sent.describe());
            assertEquals(2, sent.stderr().split("not cancelled: the migration is in postcopy", -1).length - 1,
                    "each signal said why: " + sent.describe());
        }
    }

    @Test
    void reconnectIsRefusedWhereItCannotWork() {
        CliProcess.Result file = CliProcess.run(dir, "send", "file:" + dir.resolve("out.stream"), "--ram", "4M",
                "--reconnect", "5s");
        assertEquals(ExitCode.USAGE, file.exitCode(), file.describe());
        assertTrue(file.stderr().contains("--reconnect needs a tcp: or unix: URI"), file.describe());
        CliProcess.Result qemu = CliProcess.run(dir, "send", "tcp:127.0.0.1:1", "--ram", "4M", "--compat", "qemu",
                "--reconnect", "5s");
        assertEquals(ExitCode.USAGE, qemu.exitCode(), qemu.describe());
        assertTrue(qemu.stderr().contains("reconnect needs capability return-path"), qemu.describe());
        CliProcess.Result receive = CliProcess.run(dir, "receive", "file:" + dir.resolve("none.stream"),
                "--reconnect", "5s");
        assertEquals(ExitCode.USAGE, receive.exitCode(), receive.describe());
        assertTrue(receive.stderr().contains("--reconnect needs a tcp: or unix: URI"), receive.describe());
    }
}
