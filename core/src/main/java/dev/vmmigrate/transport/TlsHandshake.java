package dev.vmmigrate.transport;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.SocketChannel;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;

/**
 * The TLS handshake on an established socket (QEMU's migration_tls_channel_connect and
 * migration_tls_channel_process_incoming), bounded as a whole: a peer that connects and never
 * finishes it is dropped when the time is up.
 */
final class TlsHandshake {
    /** How long a refused peer is given to read our alert before the socket closes. */
    private static final Duration ALERT_WAIT = Duration.ofSeconds(1);

    private TlsHandshake() {
    }

    static Connection run(TlsCredentials creds, Connection plain, String peerName, Duration timeout)
            throws IOException {
        if (!(plain instanceof ChannelConnection channelConnection) || channelConnection.socket() == null) {
            plain.close();
            throw new IllegalArgumentException("TLS needs a tcp: or unix: socket; " + plain.description() + " is not one");
        }
        SocketChannel socket = channelConnection.socket();
        boolean client = creds.role() == TlsRole.CLIENT;
        if (client && (peerName == null || peerName.isEmpty())) {
            plain.close();
            throw new IllegalArgumentException("no host name to check the certificate of " + plain.description()
                    + " against (QEMU's tls-hostname)");
        }
        String peer = peerAddress(socket, plain);
        InetSocketAddress remote = socket.getRemoteAddress() instanceof InetSocketAddress inet ? inet : null;
        AtomicBoolean timedOut = new AtomicBoolean();
        CountDownLatch done = new CountDownLatch(1);
        Thread deadline = Thread.ofVirtual().name("tls-handshake-deadline").start(() -> {
            try {
                if (!done.await(timeout.toMillis(), TimeUnit.MILLISECONDS)) {
                    timedOut.set(true);
                    plain.shutdown(); // wakes the handshake, which then fails
                }
            } catch (InterruptedException ignored) {
                // the handshake ended
            }
        });
        try {
            SSLSocket ssl = layer(creds, socket, client ? peerName : null, remote);
            ssl.startHandshake();
            done.countDown();
            if (timedOut.get()) {
                throw new java.net.SocketTimeoutException("timed out");
            }
            return new TlsConnection(plain, socket, ssl, creds, client ? peerName : peer);
        } catch (IOException | RuntimeException e) {
            done.countDown();
            if (!timedOut.get()) {
                SocketDrain.untilPeerCloses(socket, ALERT_WAIT); // our alert must not be overtaken by a reset
            }
            plain.close();
            String reason = timedOut.get()
                    ? "no TLS handshake within " + seconds(timeout) + " (the peer connected but did not complete it)"
                    : TlsFailures.reason(e, creds, peerName);
            throw new IOException("TLS handshake with " + peer + " failed: " + reason, e);
        } finally {
            deadline.interrupt();
        }
    }

    /**
     * An SSLSocket over {@code socket}: a client that checks the receiver's name, or a server that
     * requires a client certificate (QEMU's verify-peer=on).
     */
    private static SSLSocket layer(TlsCredentials creds, SocketChannel socket, String peerName,
                                   InetSocketAddress remote) throws IOException {
        SSLSocket ssl;
        List<String> protocols = TlsCredentials.PROTOCOLS;
        if (peerName != null) {
            ssl = (SSLSocket) creds.context().getSocketFactory().createSocket(new ChannelSocket(socket),
                    peerName, remote != null ? remote.getPort() : 0, true);
        } else {
            ClientHelloPeek hello = ClientHelloPeek.read(socket);
            if (hello.handshake() && !hello.signatureAlgorithmsCert() && creds.caSignsWithRsa()) {
                protocols = List.of("TLSv1.2"); // see ClientHelloPeek: gnutls 3.7 and RSA certificates
            }
            ssl = (SSLSocket) creds.context().getSocketFactory().createSocket(new ChannelSocket(socket),
                    new ByteArrayInputStream(hello.consumed()), true);
        }
        SSLParameters parameters = ssl.getSSLParameters();
        parameters.setProtocols(protocols.toArray(String[]::new));
        ssl.setUseClientMode(peerName != null);
        if (peerName != null) {
            // The receiver's certificate must name the host we meant (IP addresses: an IP SAN).
            parameters.setEndpointIdentificationAlgorithm("HTTPS");
        } else {
            parameters.setNeedClientAuth(true);
        }
        ssl.setSSLParameters(parameters);
        return ssl;
    }

    /** "127.0.0.1:4444" for tcp (the peer's address), the connection's description otherwise. */
    private static String peerAddress(SocketChannel socket, Connection plain) {
        try {
            if (socket.getRemoteAddress() instanceof InetSocketAddress inet) {
                String host = TcpUri.format(inet.getAddress());
                return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + inet.getPort();
            }
        } catch (IOException ignored) {
            // fall back to the description
        }
        return plain.description();
    }

    private static String seconds(Duration timeout) {
        return timeout.toMillis() % 1000 == 0 ? timeout.toSeconds() + " s" : timeout.toMillis() + " ms";
    }
}
