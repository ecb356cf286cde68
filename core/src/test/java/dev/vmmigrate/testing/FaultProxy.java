package dev.vmmigrate.testing;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A TCP proxy on loopback for one connection that injects one fault at a byte offset of one
 * direction: a reset (RST both ways), a cut (both closed cleanly), a flipped bit, or a stall
 * (nothing more forwarded that way, both connections left open: a peer alive that moves no
 * bytes). FORWARD is what the client sends (the stream), BACK what the server answers (the
 * return path).
 */
public final class FaultProxy implements AutoCloseable {
    public enum Kind { RESET, CUT, FLIP, STALL }

    public enum Direction { FORWARD, BACK }

    /** One fault; {@code offset} is the index of the first byte it affects. */
    public record Fault(Direction direction, long offset, Kind kind) {
        /** No fault at all: a clean run through the proxy. */
        public static Fault none() {
            return new Fault(Direction.FORWARD, Long.MAX_VALUE, Kind.CUT);
        }

        @Override
        public String toString() {
            return offset == Long.MAX_VALUE ? "no fault" : kind + " " + direction + " at " + offset;
        }
    }

    private final ServerSocket server;
    private final int targetPort;
    private final Fault fault;
    private final AtomicLong forward = new AtomicLong();
    private final AtomicLong back = new AtomicLong();
    private final CountDownLatch closed = new CountDownLatch(1);
    private volatile Socket client;
    private volatile Socket upstream;
    private volatile boolean fired;

    public FaultProxy(int targetPort, Fault fault) throws IOException {
        this.server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        this.targetPort = targetPort;
        this.fault = fault;
        Thread.ofPlatform().daemon().name("fault-proxy").start(this::serve);
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Bytes forwarded in the client's direction so far. */
    public long forwarded() {
        return forward.get();
    }

    /** Whether the fault happened (the stream reached its offset). */
    public boolean fired() {
        return fired;
    }

    private void serve() {
        try {
            client = server.accept();
            upstream = new Socket();
            upstream.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), targetPort));
            Thread.ofPlatform().daemon().name("fault-proxy-back")
                    .start(() -> pump(upstream, client, Direction.BACK, back));
            pump(client, upstream, Direction.FORWARD, forward);
        } catch (IOException e) {
            closeAll();
        }
    }

    private void pump(Socket from, Socket to, Direction direction, AtomicLong count) {
        byte[] buffer = new byte[16 * 1024];
        boolean faultHere = fault.direction() == direction;
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            while (true) {
                int n = in.read(buffer);
                if (n < 0) {
                    to.shutdownOutput(); // pass the end of stream on
                    return;
                }
                long start = count.get();
                if (faultHere && !fired && fault.offset() < start + n) {
                    int before = (int) Math.max(0, fault.offset() - start);
                    out.write(buffer, 0, before);
                    count.addAndGet(before);
                    fired = true;
                    switch (fault.kind()) {
                        case RESET -> {
                            reset(client);
                            reset(upstream);
                            return;
                        }
                        case CUT -> {
                            closeAll();
                            return;
                        }
                        case STALL -> {
                            closed.await(); // hold both ends open, forward nothing more this way
                            return;
                        }
                        case FLIP -> {
                            buffer[before] ^= 0x10;
                            out.write(buffer, before, n - before);
                            count.addAndGet(n - before);
                            continue;
                        }
                    }
                }
                out.write(buffer, 0, n);
                count.addAndGet(n);
            }
        } catch (IOException | InterruptedException e) {
            closeAll();
        }
    }

    private static void reset(Socket socket) {
        try {
            socket.setSoLinger(true, 0);
            socket.close();
        } catch (IOException ignored) {
            // already gone
        }
    }

    private void closeAll() {
        for (Socket socket : new Socket[] {client, upstream}) {
            if (socket != null) {
                try {
                    socket.close();
                } catch (IOException ignored) {
                    // closing is all we want
                }
            }
        }
    }

    @Override
    public void close() throws IOException {
        closed.countDown();
        closeAll();
        server.close();
    }
}
