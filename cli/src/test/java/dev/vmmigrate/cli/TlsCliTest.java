package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.testing.TestPki;
import dev.vmmigrate.testing.TestPki.KeyFormat;
import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * send --tls-creds into receive --tls-creds, and every refusal: a plain client, a TLS client to a
 * plain receiver, a client of another CA, an expired client certificate, a server certificate for
 * another name (and --tls-hostname accepting it), a client that never handshakes. Each refusal
 * fails both ends with exit 1 and one line naming the cause, and the receiver's --ram-file keeps
 * its bytes.
 */
class TlsCliTest {
    private static final Pattern TCP_PORT = Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)");
    private static final int RAM = 4 << 20;
    private static final TestPki CA = TestPki.newCa("vm-migrate CLI test CA");

    @TempDir
    Path dir;
    private Path creds;
    private Path srcRam;
    private Path dstRam;
    private byte[] dstBefore;

    @BeforeEach
    void setUp() throws IOException {
        creds = CA.creds(dir.resolve("creds")).keys(KeyFormat.PKCS1).write();
        byte[] content = new byte[RAM];
        new Random(13).nextBytes(content);
        srcRam = Files.write(dir.resolve("src.ram"), content);
        byte[] old = new byte[RAM];
        new Random(14).nextBytes(old);
        dstBefore = old;
        dstRam = Files.write(dir.resolve("dst.ram"), old);
    }

    private record Ends(CliProcess.Result sent, CliProcess.Result received) {
        String sendLast() {
            return sent.stderrLines().getLast();
        }

        String receiveLast() {
            return received.stderrLines().getLast();
        }
    }

    private Ends migrate(List<String> receiveOptions, List<String> sendOptions) {
        List<String> receive = new ArrayList<>(List.of("receive", "tcp:127.0.0.1:0", "--ram-file", dstRam.toString(),
                "--run-for", "0", "--stall-timeout", "5s"));
        receive.addAll(receiveOptions);
        try (CliProcess receiver = CliProcess.start(dir, receive.toArray(String[]::new))) {
            List<String> send = new ArrayList<>(List.of("send", "tcp:127.0.0.1:" + receiver.awaitStderr(TCP_PORT),
                    "--ram-file", srcRam.toString(), "--paused", "--max-bandwidth", "unlimited", "--stall-timeout", "5s"));
            send.addAll(sendOptions);
            CliProcess.Result sent = CliProcess.run(dir, send.toArray(String[]::new));
            return new Ends(sent, receiver.await());
        }
    }

    /** Both ends exit 1; the receiver's RAM file is as it was. */
    private void assertRefused(Ends ends) throws IOException {
        assertEquals(ExitCode.FAILED, ends.sent().exitCode(), ends.sent().describe());
        assertEquals(ExitCode.FAILED, ends.received().exitCode(), ends.received().describe());
        assertArrayEquals(dstBefore, Files.readAllBytes(dstRam), "the receiver's --ram-file must keep its bytes");
    }

    @Test
    void migratesOverMutualTls() throws IOException {
        Ends ends = migrate(List.of("--tls-creds", creds.toString()), List.of("--tls-creds", creds.toString()));
        assertEquals(0, ends.sent().exitCode(), ends.sent().describe());
        assertEquals(0, ends.received().exitCode(), ends.received().describe());
        assertArrayEquals(Files.readAllBytes(srcRam), Files.readAllBytes(dstRam), "RAM byte for byte");
        assertTrue(!ends.sent().stderr().contains("verdict is unknown"), "the return path works over TLS: "
                + ends.sent().describe());
    }

    @Test
    void migratesOverTlsOnUnixWithTlsHostname() throws IOException {
        Path named = CA.creds(dir.resolve("named")).keys(KeyFormat.EC).serverNames("DNS:dest.test").write();
        Path socket = dir.resolve("m.sock");
        try (CliProcess receiver = CliProcess.start(dir, "receive", "unix:" + socket, "--ram-file", dstRam.toString(),
                "--run-for", "0", "--tls-creds", named.toString())) {
            receiver.awaitStderr(Pattern.compile("listening on unix:"));
            CliProcess.Result sent = CliProcess.run(dir, "send", "unix:" + socket, "--ram-file", srcRam.toString(),
                    "--paused", "--max-bandwidth", "unlimited", "--tls-creds", named.toString(), "--tls-hostname", "dest.test");
            assertEquals(0, sent.exitCode(), sent.describe());
            CliProcess.Result received = receiver.await();
            assertEquals(0, received.exitCode(), received.describe());
        }
        assertArrayEquals(Files.readAllBytes(srcRam), Files.readAllBytes(dstRam), "RAM byte for byte");
    }

    /** relay --tls-creds: the server to send, the client to receive; the return path passes through. */
    @Test
    void relayUsesTlsOnBothSides() throws IOException {
        String tls = creds.toString();
        try (CliProcess receiver = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram-file", dstRam.toString(),
                "--run-for", "0", "--tls-creds", tls);
             CliProcess relay = CliProcess.start(dir, "relay", "tcp:127.0.0.1:0",
                     "tcp:127.0.0.1:" + receiver.awaitStderr(TCP_PORT), "--tls-creds", tls)) {
            CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + relay.awaitStderr(TCP_PORT),
                    "--ram-file", srcRam.toString(), "--paused", "--max-bandwidth", "unlimited", "--tls-creds", tls);
            assertEquals(0, sent.exitCode(), sent.describe());
            assertTrue(!sent.stderr().contains("verdict is unknown"), sent.describe());
            CliProcess.Result relayed = relay.await();
            assertEquals(0, relayed.exitCode(), relayed.describe());
            assertEquals(0, receiver.await().exitCode());
        }
        assertArrayEquals(Files.readAllBytes(srcRam), Files.readAllBytes(dstRam), "RAM byte for byte");
    }

    /**
     * A receiver with --tls-creds migrates its guest on (QMP's migrate) over TLS with the client
     * files of the same directory; with only the server's there it refuses to send in clear.
     */
    @Test
    void aReceiverMigratesOnOverTlsOnly() throws Exception {
        Path serverOnly = Files.createDirectories(dir.resolve("server-only"));
        for (String file : List.of("ca-cert.pem", "server-cert.pem", "server-key.pem")) {
            Files.copy(creds.resolve(file), serverOnly.resolve(file));
        }
        JsonNode refused = migrateOnward(serverOnly);
        assertEquals("failed", refused.path("status").asText(), refused.toString());
        assertTrue(refused.path("error-desc").asText().contains("client-cert.pem"), refused.toString());
        assertTrue(!Arrays.equals(Files.readAllBytes(srcRam), Files.readAllBytes(dstRam)), "nothing reached C");

        assertEquals("completed", migrateOnward(creds).path("status").asText());
        assertArrayEquals(Files.readAllBytes(srcRam), Files.readAllBytes(dstRam), "A's RAM at C, byte for byte");
    }

    /** A sends to B (receive --tls-creds {@code bCreds} --qmp), B's guest goes on to C over QMP; B's last query-migrate. */
    private JsonNode migrateOnward(Path bCreds) throws Exception {
        Path socket = dir.resolve("b.qmp");
        Duration guard = Duration.ofSeconds(60);
        try (CliProcess c = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram-file", dstRam.toString(),
                "--run-for", "0", "--tls-creds", creds.toString(), "--stall-timeout", "5s");
             CliProcess b = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--tls-creds", bCreds.toString(),
                     "--qmp", "unix:" + socket, "--stall-timeout", "5s")) {
            String cPort = c.awaitStderr(TCP_PORT);
            CliProcess.Result a = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + b.awaitStderr(TCP_PORT), "--ram-file",
                    srcRam.toString(), "--paused", "--max-bandwidth", "unlimited", "--tls-creds", creds.toString());
            assertEquals(0, a.exitCode(), a.describe());
            JsonNode last;
            try (QmpClient qmp = QmpClient.connect(socket, b.process(), guard)) {
                try {
                    qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + cPort));
                } catch (IOException refused) {
                    // QMP's error reply: a migration that could not start; query-migrate says why too
                }
                long deadline = System.nanoTime() + guard.toNanos();
                while (true) {
                    last = qmp.execute("query-migrate");
                    String status = last.path("status").asText();
                    if (status.equals("completed") || status.equals("failed")) {
                        break;
                    }
                    assertTrue(System.nanoTime() < deadline, "B's onward migration: " + last);
                    Thread.sleep(50);
                }
                qmp.execute("quit");
            }
            assertEquals(0, b.await().exitCode());
            if (last.path("status").asText().equals("completed")) {
                CliProcess.Result cResult = c.await();
                assertEquals(0, cResult.exitCode(), cResult.describe());
            }
            return last;
        }
    }

    @Test
    void plainClientToTlsReceiver() throws IOException {
        Ends ends = migrate(List.of("--tls-creds", creds.toString()), List.of());
        assertRefused(ends);
        assertTrue(ends.receiveLast().matches("vm-migrate receive: TLS handshake with 127\\.0\\.0\\.1:\\d+ failed: the peer "
                + "does not speak TLS .*"), ends.received().describe());
        assertTrue(ends.sendLast().contains("the destination uses TLS (QEMU's tls-creds) and this end does not"), ends.sent().describe());
    }

    @Test
    void tlsClientToPlainReceiver() throws IOException {
        // A plain receiver drops the TLS client with a line saying why, and listens on for the real sender.
        try (CliProcess receiver = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram-file", dstRam.toString(),
                "--run-for", "0", "--stall-timeout", "5s")) {
            CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + receiver.awaitStderr(TCP_PORT),
                    "--ram-file", srcRam.toString(), "--paused", "--stall-timeout", "5s", "--tls-creds", creds.toString());
            assertEquals(ExitCode.FAILED, sent.exitCode(), sent.describe());
            assertTrue(sent.stderrLines().getLast().matches("vm-migrate: migration failed: TLS handshake with "
                    + "127\\.0\\.0\\.1:\\d+ failed: the peer closed the connection during the handshake .*"),
                    sent.describe());
            receiver.awaitStderr(Pattern.compile("the source uses TLS \\(QEMU's tls-creds\\) and this end does not"));
            receiver.signal("TERM");
            CliProcess.Result received = receiver.await();
            assertEquals(ExitCode.CANCELLED, received.exitCode(), received.describe());
            assertArrayEquals(dstBefore, Files.readAllBytes(dstRam), "the receiver's --ram-file must keep its bytes");
        }
    }

    @Test
    void clientOfAnotherCa() throws IOException {
        Path other = TestPki.newCa("another CA").creds(dir.resolve("other")).write();
        Files.copy(creds.resolve("ca-cert.pem"), other.resolve("ca-cert.pem"), StandardCopyOption.REPLACE_EXISTING);
        Ends ends = migrate(List.of("--tls-creds", creds.toString()), List.of("--tls-creds", other.toString()));
        assertRefused(ends);
        assertTrue(ends.receiveLast().endsWith("failed: the peer's certificate is not signed by the CA in "
                + creds.resolve("ca-cert.pem")), ends.received().describe());
        assertTrue(ends.sendLast().contains("certificate " + other.resolve("client-cert.pem")), ends.sent().describe());
    }

    @Test
    void expiredClientCertificate() throws IOException {
        Path expired = CA.creds(dir.resolve("expired")).clientExpired().write();
        Ends ends = migrate(List.of("--tls-creds", creds.toString()), List.of("--tls-creds", expired.toString()));
        assertRefused(ends);
        assertTrue(ends.receiveLast().contains("failed: the peer's certificate has expired"), ends.received().describe());
        assertTrue(ends.sendLast().contains("certificate " + expired.resolve("client-cert.pem")), ends.sent().describe());
    }

    @Test
    void serverCertificateForAnotherNameAndTlsHostname() throws IOException {
        Path elsewhere = CA.creds(dir.resolve("elsewhere")).serverNames("DNS:elsewhere.test").write();
        Ends ends = migrate(List.of("--tls-creds", elsewhere.toString()), List.of("--tls-creds", elsewhere.toString()));
        assertRefused(ends);
        assertTrue(ends.sendLast().contains("failed: the peer's certificate is not for 127.0.0.1"), ends.sent().describe());
        assertTrue(ends.receiveLast().contains("failed: the peer refused our certificate "
                + elsewhere.resolve("server-cert.pem")), ends.received().describe());

        Ends named = migrate(List.of("--tls-creds", elsewhere.toString()),
                List.of("--tls-creds", elsewhere.toString(), "--tls-hostname", "elsewhere.test"));
        assertEquals(0, named.sent().exitCode(), named.sent().describe());
        assertEquals(0, named.received().exitCode(), named.received().describe());
        assertArrayEquals(Files.readAllBytes(srcRam), Files.readAllBytes(dstRam));
    }

    @Test
    void aClientThatNeverHandshakesIsDropped() throws Exception {
        try (CliProcess receiver = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram-file", dstRam.toString(),
                "--run-for", "0", "--stall-timeout", "1s", "--tls-creds", creds.toString());
             Socket silent = new Socket(InetAddress.getLoopbackAddress(),
                     Integer.parseInt(receiver.awaitStderr(TCP_PORT)))) {
            CliProcess.Result received = receiver.await();
            assertEquals(ExitCode.FAILED, received.exitCode(), received.describe());
            assertTrue(received.stderrLines().getLast().endsWith("failed: no TLS handshake within 1 s (the peer "
                    + "connected but did not complete it)"), received.describe());
            assertTrue(silent.isConnected());
        }
        assertArrayEquals(dstBefore, Files.readAllBytes(dstRam));
    }

    @Test
    void tlsNeedsASocketAndCredentialsThatLoad() throws IOException {
        for (String uri : List.of("exec:cat > /dev/null", "fd:1", "file:" + dir.resolve("out.mig"))) {
            CliProcess.Result sent = CliProcess.run(dir, "send", uri, "--ram", "1M", "--tls-creds", creds.toString());
            assertEquals(ExitCode.USAGE, sent.exitCode(), sent.describe());
            assertTrue(sent.stderrLines().getLast().endsWith("--tls-creds " + creds + ": TLS needs a socket (tcp: or "
                    + "unix:), and " + uri + " is not one"), sent.describe());
        }
        CliProcess.Result unix = CliProcess.run(dir, "send", "unix:" + dir.resolve("x.sock"), "--ram", "1M",
                "--tls-creds", creds.toString());
        assertEquals(ExitCode.USAGE, unix.exitCode(), unix.describe());
        assertTrue(unix.stderr().contains("needs --tls-hostname NAME"), unix.describe());
        Files.delete(creds.resolve("server-key.pem"));
        CliProcess.Result received = CliProcess.run(dir, "receive", "tcp:127.0.0.1:0", "--tls-creds", creds.toString());
        assertEquals(ExitCode.USAGE, received.exitCode(), received.describe());
        assertEquals("vm-migrate receive: --tls-creds: cannot read " + creds.resolve("server-key.pem")
                + ": no such file or directory", received.stderrLines().getLast(), received.describe());
        CliProcess.Result relay = CliProcess.run(dir, "relay", "tcp:127.0.0.1:0", "exec:cat >/dev/null",
                "--tls-creds", creds.toString());
        assertEquals(ExitCode.USAGE, relay.exitCode(), relay.describe());
    }
}
