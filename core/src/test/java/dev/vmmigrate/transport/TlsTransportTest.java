package dev.vmmigrate.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.testing.TestPki;
import dev.vmmigrate.testing.TestPki.KeyFormat;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * TLS over tcp: and unix: with QEMU's tls-creds-x509 directories: both directions at once (the
 * return path), every key format certtool and openssl write, and each refusal as one line that
 * names its cause on both ends.
 */
@Timeout(60)
class TlsTransportTest {
    private static final Duration TIMEOUT = Duration.ofSeconds(10);
    private static final TestPki CA = TestPki.newCa("vm-migrate test CA");

    @TempDir
    Path dir;

    /** Both ends' outcome: the connection or the one-line error of each. */
    private record Outcome(Connection server, IOException serverError, Connection client, IOException clientError) {
    }

    private Outcome handshake(MigrationUri uri, Path serverCreds, Path clientCreds, String peerName) throws Exception {
        TlsCredentials server = TlsCredentials.load(serverCreds, TlsRole.SERVER);
        TlsCredentials client = TlsCredentials.load(clientCreds, TlsRole.CLIENT);
        try (IncomingEndpoint endpoint = uri.listen()) {
            MigrationUri bound = MigrationUri.parse(endpoint.boundAddress());
            Future<Connection> connecting = Streams.async(() -> client.handshake(bound.connect(), peerName, TIMEOUT));
            Connection accepted = null;
            IOException serverError = null;
            try {
                accepted = server.handshake(endpoint.accept(), null, TIMEOUT);
            } catch (IOException e) {
                serverError = e;
            }
            try {
                return new Outcome(accepted, serverError, connecting.get(20, TimeUnit.SECONDS), null);
            } catch (ExecutionException e) {
                return new Outcome(accepted, serverError, null, (IOException) e.getCause());
            }
        }
    }

    @ParameterizedTest
    @EnumSource(KeyFormat.class)
    void bothDirectionsAtOnceOverTcp(KeyFormat format) throws Exception {
        Path creds = CA.creds(dir.resolve("creds")).keys(format).write();
        Outcome outcome = handshake(new TcpUri("127.0.0.1", 0), creds, creds, "127.0.0.1");
        exchange(outcome);
    }

    @Test
    void bothDirectionsAtOnceOverUnix() throws Exception {
        Path creds = CA.creds(dir.resolve("creds")).serverNames("DNS:migration.test").write();
        Outcome outcome = handshake(new UnixUri(dir.resolve("tls.sock")), creds, creds, "migration.test");
        exchange(outcome);
    }

    /** The stream one way while the other way answers, as the return path does; then a clean end. */
    private static void exchange(Outcome outcome) throws Exception {
        assertEquals(null, outcome.serverError());
        assertEquals(null, outcome.clientError());
        byte[] stream = Streams.random(Streams.PAYLOAD, 7);
        byte[] answers = Streams.random(Streams.PAYLOAD / 4, 8);
        try (Connection server = outcome.server(); Connection client = outcome.client()) {
            assertTrue(client.hasBackChannel() && server.hasBackChannel());
            assertTrue(client.description().contains(" over TLSv1.3"), client.description());
            Future<byte[]> received = Streams.async(() -> Streams.readAll(server.input()));
            Future<byte[]> answered = Streams.async(() -> Streams.readExactly(client.input(), answers.length));
            Streams.writeAll(server.output(), answers);
            Streams.writeAll(client.output(), stream);
            Streams.assertSameBytes(answers, answered.get(20, TimeUnit.SECONDS));
            client.close(); // close_notify: the server reads the end of the stream
            Streams.assertSameBytes(stream, received.get(20, TimeUnit.SECONDS));
        }
    }

    @Test
    void directBuffersGoThroughToo() throws Exception {
        Path creds = CA.creds(dir.resolve("creds")).keys(KeyFormat.EC).write();
        Outcome outcome = handshake(new TcpUri("127.0.0.1", 0), creds, creds, "localhost");
        try (Connection server = outcome.server(); Connection client = outcome.client()) {
            ByteBuffer out = ByteBuffer.allocateDirect(1 << 20);
            byte[] data = Streams.random(out.capacity(), 3);
            out.put(data).flip();
            while (out.hasRemaining()) {
                client.output().write(out);
            }
            ByteBuffer in = ByteBuffer.allocateDirect(data.length);
            while (in.hasRemaining()) {
                assertTrue(server.input().read(in) >= 0, "early end of stream");
            }
            byte[] got = new byte[data.length];
            in.flip().get(got);
            Streams.assertSameBytes(data, got);
        }
    }

    @org.junit.jupiter.api.RepeatedTest(3) // the alert races the close: once was not enough to see it
    void clientOfAnotherCaIsRefusedOnBothEnds() throws Exception {
        Path server = CA.creds(dir.resolve("server")).write();
        Path client = TestPki.newCa("another CA").creds(dir.resolve("client")).write();
        // The client trusts our server: copy our CA in, keep its own certificate.
        Files.copy(server.resolve("ca-cert.pem"), client.resolve("ca-cert.pem"), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        Outcome outcome = handshake(new TcpUri("127.0.0.1", 0), server, client, "127.0.0.1");
        assertTrue(outcome.serverError().getMessage().matches("TLS handshake with 127\\.0\\.0\\.1:\\d+ failed: the peer's "
                + "certificate is not signed by the CA in " + server.resolve("ca-cert.pem")), outcome.serverError().getMessage());
        Connection connected = outcome.client();
        String clientMessage = connected == null ? outcome.clientError().getMessage() : readFailure(connected);
        assertTrue(clientMessage.contains("the peer does not trust our certificate " + client.resolve("client-cert.pem"))
                || clientMessage.contains("the peer refused our certificate " + client.resolve("client-cert.pem")),
                clientMessage);
    }

    @Test
    void expiredClientCertificateIsRefused() throws Exception {
        Path creds = CA.creds(dir.resolve("creds")).clientExpired().write();
        Outcome outcome = handshake(new TcpUri("127.0.0.1", 0), creds, creds, "127.0.0.1");
        assertTrue(outcome.serverError().getMessage().contains("failed: the peer's certificate has expired"),
                outcome.serverError().getMessage());
        String clientMessage = outcome.client() == null ? outcome.clientError().getMessage() : readFailure(outcome.client());
        assertTrue(clientMessage.contains("our certificate " + creds.resolve("client-cert.pem")), clientMessage);
    }

    /** ca-crl.pem is read when it is there (QEMU's QCRYPTO_TLS_CREDS_X509_CA_CRL). */
    @Test
    void revokedClientCertificateIsRefused() throws Exception {
        Path creds = CA.creds(dir.resolve("creds")).clientRevoked().write();
        Outcome outcome = handshake(new TcpUri("127.0.0.1", 0), creds, creds, "127.0.0.1");
        assertTrue(outcome.serverError().getMessage().endsWith("failed: the peer's certificate is revoked by "
                + creds.resolve("ca-crl.pem")), outcome.serverError().getMessage());
        String clientMessage = outcome.client() == null ? outcome.clientError().getMessage() : readFailure(outcome.client());
        assertTrue(clientMessage.contains("our certificate " + creds.resolve("client-cert.pem")), clientMessage);
    }

    @Test
    void serverCertificateForAnotherNameIsRefused() throws Exception {
        Path creds = CA.creds(dir.resolve("creds")).serverNames("DNS:elsewhere.test").write();
        Outcome outcome = handshake(new TcpUri("127.0.0.1", 0), creds, creds, "127.0.0.1");
        assertTrue(outcome.clientError().getMessage().matches("TLS handshake with 127\\.0\\.0\\.1:\\d+ failed: the peer's "
                + "certificate is not for 127\\.0\\.0\\.1 \\(.*\\)"), outcome.clientError().getMessage());
        assertTrue(outcome.serverError().getMessage().contains("failed: the peer refused our certificate "
                + creds.resolve("server-cert.pem")), outcome.serverError().getMessage());
        // The name the certificate is for (QEMU's tls-hostname) is accepted on the same address.
        Outcome named = handshake(new TcpUri("127.0.0.1", 0), creds, creds, "elsewhere.test");
        exchange(named);
    }

    @Test
    void plainClientIsRefusedAsNotTls() throws Exception {
        TlsCredentials server = TlsCredentials.load(CA.creds(dir.resolve("creds")).write(), TlsRole.SERVER);
        try (IncomingEndpoint endpoint = new TcpUri("127.0.0.1", 0).listen()) {
            try (Connection plain = MigrationUri.parse(endpoint.boundAddress()).connect()) {
                plain.output().write(ByteBuffer.wrap(new byte[] {'Q', 'E', 'V', 'M', 0, 0, 0, 3}));
                IOException e = assertThrows(IOException.class, () -> server.handshake(endpoint.accept(), null, TIMEOUT));
                assertTrue(e.getMessage().matches("TLS handshake with 127\\.0\\.0\\.1:\\d+ failed: the peer does not speak "
                        + "TLS .*"), e.getMessage());
            }
        }
    }

    @Test
    void silentClientIsDroppedAfterTheTimeout() throws Exception {
        TlsCredentials server = TlsCredentials.load(CA.creds(dir.resolve("creds")).write(), TlsRole.SERVER);
        try (IncomingEndpoint endpoint = new TcpUri("127.0.0.1", 0).listen();
             Connection silent = MigrationUri.parse(endpoint.boundAddress()).connect()) {
            long start = System.nanoTime();
            IOException e = assertThrows(IOException.class,
                    () -> server.handshake(endpoint.accept(), null, Duration.ofMillis(300)));
            assertTrue(e.getMessage().endsWith("failed: no TLS handshake within 300 ms (the peer connected but did not "
                    + "complete it)"), e.getMessage());
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10));
            ByteBuffer rest = ByteBuffer.allocate(1024);
            while (silent.input().read(rest.clear()) >= 0) {
                // the receiver's alert, if any, then the end: it closed the connection
            }
        }
    }

    /** Ctrl-C while a client handshakes closes the endpoint: the handshake ends then, not at its timeout. */
    @Test
    void closingTheEndpointEndsAHandshakeUnderWay() throws Exception {
        TlsCredentials server = TlsCredentials.load(CA.creds(dir.resolve("creds")).write(), TlsRole.SERVER);
        try (IncomingEndpoint endpoint = server.serve(new TcpUri("127.0.0.1", 0).listen(), Duration.ofSeconds(30));
             Connection silent = MigrationUri.parse(endpoint.boundAddress()).connect()) {
            Future<Connection> accepting = Streams.async(endpoint::accept);
            Thread.sleep(300); // the accept has most likely returned and the handshake waits
            long start = System.nanoTime();
            endpoint.close();
            ExecutionException e = assertThrows(ExecutionException.class, () -> accepting.get(10, TimeUnit.SECONDS));
            assertTrue(e.getCause() instanceof IOException, e.toString());
            assertTrue(System.nanoTime() - start < TimeUnit.SECONDS.toNanos(10), "ended by the close, not the timeout");
        }
    }

    @Test
    void credentialErrorsNameTheFile() throws Exception {
        Path creds = CA.creds(dir.resolve("creds")).write();
        IOException noDir = assertThrows(IOException.class, () -> TlsCredentials.load(dir.resolve("none"), TlsRole.SERVER));
        assertTrue(noDir.getMessage().startsWith("TLS credentials " + dir.resolve("none") + ": not a directory"),
                noDir.getMessage());
        Files.delete(creds.resolve("client-key.pem"));
        IOException noKey = assertThrows(IOException.class, () -> TlsCredentials.load(creds, TlsRole.CLIENT));
        assertEquals("cannot read " + creds.resolve("client-key.pem") + ": no such file or directory", noKey.getMessage());
        Files.copy(creds.resolve("server-key.pem"), creds.resolve("client-key.pem"));
        IOException wrongKey = assertThrows(IOException.class, () -> TlsCredentials.load(creds, TlsRole.CLIENT));
        assertEquals(creds.resolve("client-key.pem") + " is not the key of " + creds.resolve("client-cert.pem"),
                wrongKey.getMessage());
        Files.writeString(creds.resolve("client-key.pem"), "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
                + "MIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQIkmd8yxRhpqUCAggA\n-----END ENCRYPTED PRIVATE KEY-----\n");
        IOException bad = assertThrows(IOException.class, () -> TlsCredentials.load(creds, TlsRole.CLIENT));
        assertTrue(bad.getMessage().startsWith(creds.resolve("client-key.pem") + ": "), bad.getMessage());
        Files.writeString(creds.resolve("ca-cert.pem"), "garbage\n");
        IOException badCa = assertThrows(IOException.class, () -> TlsCredentials.load(creds, TlsRole.SERVER));
        assertTrue(badCa.getMessage().startsWith(creds.resolve("ca-cert.pem") + ": "), badCa.getMessage());
    }

    /** TLS 1.3 lets the server refuse a client certificate after the client's handshake ended: the first read says why. */
    private static String readFailure(Connection connection) {
        try (connection) {
            IOException e = assertThrows(IOException.class, () -> {
                while (connection.input().read(ByteBuffer.allocate(64)) >= 0) {
                    // nothing is sent: the alert or the end comes first
                }
                throw new IOException("the connection ended without an alert");
            });
            return e.getMessage();
        } catch (IOException e) {
            return e.getMessage();
        }
    }
}
