package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A QEMU pc VM (the QEMU 7.2 capture) through the CLI: held and saved by receive, sent on by
 * send --load, passed through relay; and the refusals around machine types and COMMAND sections.
 */
class HeldVmCliTest {
    private static final Pattern TCP_PORT = Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)");

    @TempDir
    Path dir;

    private Path checkpoint() throws IOException {
        Path capture = QemuTestData.PC_16M.copyTo(dir);
        CliProcess.Result saved = CliProcess.run(dir, "receive", "file:" + capture, "--save", "pc.ckpt", "--run-for", "0");
        assertEquals(0, saved.exitCode(), saved.describe());
        assertTrue(saved.stderr().contains("machine pc-i440fx-7.2, 9 RAM blocks")
                && saved.stderr().contains("held stopped"), saved.describe());
        assertTrue(saved.stderr().contains("saved to pc.ckpt"), saved.describe());
        return dir.resolve("pc.ckpt");
    }

    @Test
    void savedVmGoesOutWithSendLoadAndThroughARelayUnchanged() throws IOException {
        byte[] checkpoint = Files.readAllBytes(checkpoint());
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--save", "received.ckpt",
                "--run-for", "0");
             CliProcess relay = CliProcess.start(dir, "relay", "tcp:127.0.0.1:0",
                     "tcp:127.0.0.1:" + receive.awaitStderr(TCP_PORT), "--save", "relayed.ckpt")) {
            String relayPort = relay.awaitStderr(TCP_PORT);
            CliProcess.Result send = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + relayPort, "--load", "pc.ckpt");
            assertEquals(0, send.exitCode(), send.describe());
            CliProcess.Result relayed = relay.await();
            assertEquals(0, relayed.exitCode(), relayed.describe());
            assertTrue(relayed.stderr().contains("of a pc-i440fx-7.2 VM"), relayed.describe());
            CliProcess.Result received = receive.await();
            assertEquals(0, received.exitCode(), received.describe());
        }
        assertArrayEquals(checkpoint, Files.readAllBytes(dir.resolve("received.ckpt")), "send --load -> relay -> receive");
        assertArrayEquals(checkpoint, Files.readAllBytes(dir.resolve("relayed.ckpt")), "the relay's own copy");
    }

    /** With --compress: the relay reads vm-migrate's capabilities section to follow zstd pages. */
    @Test
    void builtInGuestLiveThroughARelay() throws IOException {
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram-file", "dst.ram",
                "--run-for", "0");
             CliProcess relay = CliProcess.start(dir, "relay", "tcp:127.0.0.1:0",
                     "tcp:127.0.0.1:" + receive.awaitStderr(TCP_PORT))) {
            CliProcess.Result send = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + relay.awaitStderr(TCP_PORT),
                    "--ram", "8M", "--ram-file", "src.ram", "--workload", "random:16M/s", "--warmup", "200ms",
                    "--compress");
            assertEquals(0, send.exitCode(), send.describe());
            assertEquals(0, relay.await().exitCode());
            CliProcess.Result received = receive.await();
            assertEquals(0, received.exitCode(), received.describe());
        }
        assertArrayEquals(Files.readAllBytes(dir.resolve("src.ram")), Files.readAllBytes(dir.resolve("dst.ram")));
    }

    @Test
    void sendRefusesAnotherMachineTypeWithoutLoad() {
        CliProcess.Result r = CliProcess.run(dir, "send", "tcp:127.0.0.1:1", "--machine", "pc-i440fx-7.2",
                "--ram-id", "pc.ram", "--ram", "16M");
        assertEquals(ExitCode.USAGE, r.exitCode(), r.describe());
        assertTrue(r.stderr().contains("--machine pc-i440fx-7.2: the built-in guest is machine none")
                && r.stderr().contains("--load FILE"), r.describe());
    }

    @Test
    void sendLoadRefusesLiveGuestOptionsForAHeldVm() throws IOException {
        checkpoint();
        CliProcess.Result r = CliProcess.run(dir, "send", "tcp:127.0.0.1:1", "--load", "pc.ckpt",
                "--workload", "random:1M/s");
        assertEquals(ExitCode.USAGE, r.exitCode(), r.describe());
        assertTrue(r.stderr().contains("do not apply to a pc-i440fx-7.2 VM from --load"), r.describe());
    }

    @Test
    void receiveRefusesRamSizeForAHeldVm() throws IOException {
        Path capture = QemuTestData.PC_16M.copyTo(dir);
        CliProcess.Result r = CliProcess.run(dir, "receive", "file:" + capture, "--ram", "16M", "--run-for", "0");
        assertEquals(ExitCode.USAGE, r.exitCode(), r.describe());
        assertTrue(r.stderr().contains("--ram applies to the built-in guest (machine none)"), r.describe());
    }

    @Test
    void aSwitchToPostcopyWithoutAReturnPathIsRefusedByName() throws IOException {
        // QEMU's preamble for machine none, POSTCOPY_ADVISE (taken), then POSTCOPY_LISTEN (the switch),
        // from a file: no return path to ask for pages on.
        Path stream = Files.write(dir.resolve("listen.mig"), HexFormat.of().parseHex(
                "5145564d000000030700000004" + "6e6f6e65" + "0800030010" + "0000000000001000" + "0000000000001000"
                        + "0800040000"));
        CliProcess.Result r = CliProcess.run(dir, "receive", "file:" + stream, "--run-for", "0");
        assertEquals(ExitCode.FAILED, r.exitCode(), r.describe());
        assertTrue(r.stderr().contains("QEMU's switch to postcopy needs the return path (tcp: or unix:), on which the "
                + "destination asks for the pages its guest touches (COMMAND POSTCOPY_LISTEN) at offset 38"), r.describe());
    }
}
