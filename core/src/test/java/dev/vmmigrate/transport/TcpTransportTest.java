package dev.vmmigrate.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.ServerSocketChannel;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(20)
class TcpTransportTest {

    @Test
    void roundTripOverIpv4WithPortZero() throws Exception {
        roundTrip("tcp:127.0.0.1:0", "tcp:127\\.0\\.0\\.1:\\d+");
    }

    @Test
    void roundTripOverIpv6Loopback() throws Exception {
        try (ServerSocketChannel probe = ServerSocketChannel.open()) {
            probe.bind(new InetSocketAddress("::1", 0));
        } catch (IOException | RuntimeException e) {
            Assumptions.abort("IPv6 loopback [::1] is not available here: " + e);
        }
        roundTrip("tcp:[::1]:0", "tcp:\\[::1\\]:\\d+");
    }

    private static void roundTrip(String listenUri, String boundPattern) throws Exception {
        byte[] data = Streams.random(Streams.PAYLOAD, 1);
        try (IncomingEndpoint endpoint = MigrationUri.parse(listenUri).listen()) {
            String bound = endpoint.boundAddress();
            assertTrue(bound.matches(boundPattern), bound);
            assertNotEquals(0, ((TcpUri) MigrationUri.parse(bound)).port());
            Future<String> sender = Streams.async(() -> {
                try (Connection out = MigrationUri.parse(bound).connect()) {
                    Streams.writeAll(out.output(), data);
                    return out.description();
                }
            });
            try (Connection in = endpoint.accept()) {
                assertTrue(in.description().startsWith("tcp "), in.description());
                Streams.assertSameBytes(data, Streams.readAll(in.input()));
            }
            assertEquals("tcp " + bound.substring("tcp:".length()), sender.get(10, TimeUnit.SECONDS));
        }
    }

    @Test
    void connectErrorNamesTheAddress() throws Exception {
        int port;
        try (ServerSocketChannel unused = ServerSocketChannel.open().bind(new InetSocketAddress("127.0.0.1", 0))) {
            port = ((InetSocketAddress) unused.getLocalAddress()).getPort();
        }
        IOException e = assertThrows(IOException.class, () -> new TcpUri("127.0.0.1", port).connect());
        assertEquals("cannot connect to tcp:127.0.0.1:" + port + ": Connection refused", e.getMessage());
    }

    @Test
    void acceptsOnceThenStopsListening() throws Exception {
        try (IncomingEndpoint endpoint = new TcpUri("127.0.0.1", 0).listen()) {
            MigrationUri bound = MigrationUri.parse(endpoint.boundAddress());
            try (Connection out = bound.connect(); Connection in = endpoint.accept()) {
                assertThrows(IllegalStateException.class, endpoint::accept);
                assertThrows(IOException.class, bound::connect, "a second sender must be refused");
                out.output().write(ByteBuffer.wrap(new byte[] {42}));
                assertEquals(42, Streams.readExactly(in.input(), 1)[0]);
            }
        }
    }

    @Test
    @SuppressWarnings("try") // silentPeer is there only to be silent
    void shutdownUnblocksAReaderWhosePeerSendsNothing() throws Exception {
        try (IncomingEndpoint endpoint = new TcpUri("127.0.0.1", 0).listen();
             Connection silentPeer = MigrationUri.parse(endpoint.boundAddress()).connect();
             Connection in = endpoint.accept()) {
            Future<Integer> reader = Streams.async(() -> in.input().read(ByteBuffer.allocate(100)));
            Thread.sleep(200); // let it block
            in.shutdown();
            in.shutdown(); // idempotent
            assertEquals(-1, reader.get(5, TimeUnit.SECONDS));
        }
    }

    @Test
    void closingTheEndpointUnblocksAccept() throws Exception {
        IncomingEndpoint endpoint = new TcpUri("127.0.0.1", 0).listen();
        Future<Connection> acceptor = Streams.async(endpoint::accept);
        Thread.sleep(200);
        endpoint.close();
        Exception e = assertThrows(Exception.class, () -> acceptor.get(5, TimeUnit.SECONDS));
        assertTrue(e.getCause() instanceof IOException, String.valueOf(e.getCause()));
        assertTrue(e.getCause().getMessage().startsWith("stopped listening on tcp:127.0.0.1:"), e.getCause().getMessage());
    }

    @Test
    void listenErrorNamesTheAddress() throws Exception {
        try (IncomingEndpoint first = new TcpUri("127.0.0.1", 0).listen()) {
            String bound = first.boundAddress();
            IOException e = assertThrows(IOException.class, () -> MigrationUri.parse(bound).listen());
            assertTrue(e.getMessage().startsWith("cannot listen on " + bound + ": "), e.getMessage());
        }
    }
}
