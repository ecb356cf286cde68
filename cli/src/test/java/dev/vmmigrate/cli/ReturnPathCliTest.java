package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.testing.FaultProxy;
import java.nio.file.Path;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The destination's verdict through the CLI: a refusal fails send (status failed in its final
 * JSON record, the guest runs on there), a lost commit leaves receive's verified guest paused
 * (exit 5), a stall ends both within the stall timeout, and a cut in the first bytes names the
 * cut, not the RAM file.
 */
class ReturnPathCliTest {
    private static final Pattern TCP_PORT = Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)");

    @TempDir
    Path dir;

    private static String lastLine(CliProcess.Result result) {
        return result.stderrLines().getLast();
    }

    /** The case: the whole 4 MiB stream fits in the socket buffers, and the receiver refuses it. */
    @Test
    void aRefusedGuestFailsTheSender() {
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram", "2M", "--run-for", "0",
                "--json")) {
            CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + receive.awaitStderr(TCP_PORT),
                    "--ram", "4M", "--fill", "half_random", "--json");
            assertEquals(ExitCode.FAILED, sent.exitCode(), sent.describe());
            assertTrue(lastLine(sent).contains("\"status\":\"failed\"") && lastLine(sent).contains(
                    "the destination refused the migration: RAM block 'ram' has 4194304 bytes in the stream but "
                            + "2097152 in this guest"), sent.describe());
            CliProcess.Result received = receive.await();
            assertEquals(ExitCode.FAILED, received.exitCode(), received.describe());
            assertTrue(lastLine(received).startsWith("{\"return\":{\"status\":\"failed\""), received.describe());
        }
    }

    /** send and receive through a fault proxy; then the bytes the proxy passed on. */
    private record Run(CliProcess.Result sent, CliProcess.Result received, long forwarded) {
    }

    private CliProcess.Result[] throughProxy(FaultProxy.Fault fault, String... sendOptions) throws Exception {
        Run run = run(fault, sendOptions);
        return new CliProcess.Result[] {run.sent(), run.received()};
    }

    private Run run(FaultProxy.Fault fault, String... sendOptions) throws Exception {
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "0",
                "--stall-timeout", "1s", "--ram-file", "dst.ram", "--save", "held.ckpt");
             FaultProxy proxy = new FaultProxy(Integer.parseInt(receive.awaitStderr(TCP_PORT)), fault)) {
            String[] send = new String[5 + sendOptions.length];
            System.arraycopy(new String[] {"send", "tcp:127.0.0.1:" + proxy.port(), "--ram", "4M", "--stall-timeout"},
                    0, send, 0, 5);
            System.arraycopy(sendOptions, 0, send, 5, sendOptions.length);
            CliProcess.Result sent = CliProcess.run(dir, send);
            return new Run(sent, receive.await(), proxy.forwarded());
        }
    }

    @Test
    void aBitFlippedPageFailsVerificationAndTheSender() throws Exception {
        CliProcess.Result[] results = throughProxy(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, 300,
                FaultProxy.Kind.FLIP), "1s", "--fill", "half_random");
        assertEquals(ExitCode.VERIFICATION, results[1].exitCode(), results[1].describe());
        assertEquals(ExitCode.FAILED, results[0].exitCode(), results[0].describe());
        assertTrue(lastLine(results[0]).contains("the destination refused the migration: verification failed"),
                results[0].describe());
    }

    /** The commit is the stream's last 9 bytes: cut there, the destination holds the verified guest paused. */
    @Test
    void aLostCommitLeavesTheVerifiedGuestPaused() throws Exception {
        Run clean = run(FaultProxy.Fault.none(), "1s", "--paused");
        assertEquals(0, clean.sent().exitCode(), clean.sent().describe());
        long length = clean.forwarded(); // a paused guest's stream has the same length every time
        java.nio.file.Files.delete(dir.resolve("held.ckpt"));
        CliProcess.Result[] cut = throughProxy(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, length - 9,
                FaultProxy.Kind.CUT), "1s", "--paused");
        assertTrue(java.nio.file.Files.size(dir.resolve("held.ckpt")) > 0, "--save keeps the verified copy");
        assertEquals(0, cut[0].exitCode(), "the source had the destination's SHUT: " + cut[0].describe());
        assertEquals(ExitCode.UNCOMMITTED, cut[1].exitCode(), cut[1].describe());
        assertTrue(cut[1].stderr().contains("the guest is held paused here"), cut[1].describe());
    }

    @Test
    void aStallEndsBothSidesWithinTheStallTimeout() throws Exception {
        CliProcess.Result[] results = throughProxy(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, 100_000,
                FaultProxy.Kind.STALL), "1s", "--fill", "half_random", "--json");
        assertEquals(ExitCode.FAILED, results[1].exitCode(), results[1].describe());
        assertTrue(results[1].stderr().contains("stalled: no bytes from the source for 1 s at offset"),
                results[1].describe());
        assertEquals(ExitCode.FAILED, results[0].exitCode(), results[0].describe());
        assertTrue(lastLine(results[0]).contains("\"status\":\"failed\""), results[0].describe());
    }

    /** Without --ram, a new --ram-file takes its size from the stream: a stream cut before it says so names the cut. */
    @Test
    void aCutInTheFirstBytesNamesTheCutNotTheRamFile() throws Exception {
        CliProcess.Result[] results = throughProxy(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, 20,
                FaultProxy.Kind.CUT), "1s");
        assertEquals(ExitCode.FAILED, results[1].exitCode(), results[1].describe());
        assertTrue(results[1].stderr().contains("truncated stream"), results[1].describe());
    }
}
