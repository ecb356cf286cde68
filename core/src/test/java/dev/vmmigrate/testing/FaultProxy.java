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
 * A TCP proxy on loopback for one connection (or, {@link #restoring}, a link that comes back)
 * that injects one fault at a byte offset of one
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
    private final boolean restores;
    private final AtomicLong forward = new AtomicLong();
    private final AtomicLong back = new AtomicLong();
    private final AtomicLong connections = new AtomicLong();
    private final CountDownLatch closed = new CountDownLatch(1);
    private final java.util.List<Socket> sockets = new java.util.concurrent.CopyOnWriteArrayList<>();
    private volatile boolean fired;

    /** A proxy for one connection, which gets the fault. */
    public FaultProxy(int targetPort, Fault fault) throws IOException {
        this(targetPort, fault, false);
    }

    private FaultProxy(int targetPort, Fault fault, boolean restores) throws IOException {
        this.server = new ServerSocket(0, 4, InetAddress.getLoopbackAddress());
        this.targetPort = targetPort;
        this.fault = fault;
        this.restores = restores;
        Thread.ofPlatform().daemon().name("fault-proxy").start(this::serve);
    }

    /**
     * A proxy whose first connection gets the fault and whose later connections are forwarded
     * cleanly: a link that breaks and comes back (the counters add up all connections).
     */
    public static FaultProxy restoring(int targetPort, Fault fault) throws IOException {
        return new FaultProxy(targetPort, fault, true);
    }

    public int port() {
        return server.getLocalPort();
    }

    /** Bytes forwarded in the client's direction so far, over all connections. */
    public long forwarded() {
        return forward.get();
    }

    /** Connections accepted so far. */
    public long connections() {
        return connections.get();
    }

    /** Whether the fault happened (the stream reached its offset). */
    public boolean fired() {
        return fired;
    }

    private void serve() {
        do {
            Socket client;
            try {
                client = server.accept();
            } catch (IOException e) {
                return; // closed
            }
            boolean first = connections.getAndIncrement() == 0;
            Fault here = first ? fault : Fault.none();
            Thread.ofPlatform().daemon().name("fault-proxy-link").start(() -> link(client, here));
        } while (restores);
    }

    /** Forwards one connection both ways, with {@code fault} in it. */
    private void link(Socket client, Fault fault) {
        sockets.add(client);
        Socket upstream = new Socket();
        sockets.add(upstream);
        AtomicLong forwardHere = new AtomicLong();
        AtomicLong backHere = new AtomicLong();
        try {
            upstream.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), targetPort));
            Thread.ofPlatform().daemon().name("fault-proxy-back")
                    .start(() -> pump(client, upstream, upstream, client, Direction.BACK, fault, backHere, back));
            pump(client, upstream, client, upstream, Direction.FORWARD, fault, forwardHere, forward);
        } catch (IOException e) {
            close(client, upstream);
        }
    }

    private void pump(Socket client, Socket upstream, Socket from, Socket to, Direction direction, Fault fault,
                      AtomicLong count, AtomicLong total) {
        byte[] buffer = new byte[16 * 1024];
        boolean faultHere = fault.direction() == direction;
        boolean firedHere = false;
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            while (true) {
                int n = in.read(buffer);
                if (n < 0) {
                    to.shutdownOutput(); // pass the end of stream on
                    return;
                }
                long start = count.get();
                if (faultHere && !firedHere && fault.offset() < start + n) {
                    int before = (int) Math.max(0, fault.offset() - start);
                    out.write(buffer, 0, before);
                    count.addAndGet(before);
                    total.addAndGet(before);
                    firedHere = true;
                    fired = true;
                    switch (fault.kind()) {
                        case RESET -> {
                            reset(client);
                            reset(upstream);
                            return;
                        }
                        case CUT -> {
                            close(client, upstream);
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
                            total.addAndGet(n - before);
                            continue;
                        }
                    }
                }
                out.write(buffer, 0, n);
                count.addAndGet(n);
                total.addAndGet(n);
            }
        } catch (IOException | InterruptedException e) {
            close(client, upstream);
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

    private static void close(Socket... pair) {
        for (Socket socket : pair) {
            try {
                socket.close();
            } catch (IOException ignored) {
                // closing is all we want
            }
        }
    }

    @Override
    public void close() throws IOException {
        closed.countDown();
        sockets.forEach(FaultProxy::close);
        server.close();
    }
}
