package dev.vmmigrate.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(20)
class UnixTransportTest {

    @TempDir
    Path dir;

    @Test
    void roundTripAndSocketFileRemovedAfterAccept() throws Exception {
        Path socket = dir.resolve("vm.sock");
        byte[] data = Streams.random(Streams.PAYLOAD, 2);
        try (IncomingEndpoint endpoint = MigrationUri.parse("unix:" + socket).listen()) {
            assertEquals("unix:" + socket, endpoint.boundAddress());
            assertTrue(Files.exists(socket));
            Future<Void> sender = Streams.async(() -> {
                try (Connection out = MigrationUri.parse(endpoint.boundAddress()).connect()) {
                    Streams.writeAll(out.output(), data);
                }
                return null;
            });
            try (Connection in = endpoint.accept()) {
                assertFalse(Files.exists(socket), "the socket file must go once the one connection is in");
                assertThrows(IllegalStateException.class, endpoint::accept);
                assertEquals("unix " + socket, in.description());
                Streams.assertSameBytes(data, Streams.readAll(in.input()));
            }
            sender.get(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void refusesToClobberARegularFile() throws Exception {
        Path precious = Files.writeString(dir.resolve("precious"), "keep me");
        IOException e = assertThrows(IOException.class, () -> new UnixUri(precious).listen());
        assertEquals("cannot listen on unix:" + precious + ": " + precious + " exists and is not a socket", e.getMessage());
        assertEquals("keep me", Files.readString(precious));
    }

    @Test
    void replacesAStaleSocketFile() throws Exception {
        Path socket = dir.resolve("stale.sock");
        try (ServerSocketChannel crashed = ServerSocketChannel.open(StandardProtocolFamily.UNIX)) {
            crashed.bind(UnixDomainSocketAddress.of(socket)); // the JDK leaves the file behind on close
        }
        assertTrue(Files.exists(socket));
        try (IncomingEndpoint endpoint = new UnixUri(socket).listen();
             Connection out = new UnixUri(socket).connect();
             Connection in = endpoint.accept()) {
            Streams.writeAll(out.output(), new byte[] {1, 2, 3});
            Streams.assertSameBytes(new byte[] {1, 2, 3}, Streams.readExactly(in.input(), 3));
        }
    }

    @Test
    void closeWithoutAcceptRemovesTheSocketFile() throws Exception {
        Path socket = dir.resolve("unused.sock");
        new UnixUri(socket).listen().close();
        assertFalse(Files.exists(socket));
    }

    @Test
    void connectErrorNamesThePath() {
        Path missing = dir.resolve("nobody.sock");
        IOException e = assertThrows(IOException.class, () -> new UnixUri(missing).connect());
        assertTrue(e.getMessage().startsWith("cannot connect to unix:" + missing + ": "), e.getMessage());
    }
}
