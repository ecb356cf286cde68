package dev.vmmigrate.multifd;

import dev.vmmigrate.ram.SideChannels;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.transport.Connection;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;

/**
 * The multifd channels of one incoming migration (the receiving half of QEMU's multifd.c): takes
 * the connections that open with the multifd magic, admits those of this migration (channel ids
 * below {@link #channels()}, each once, all with the uuid of the first), refuses the others with
 * a line, and loads each admitted channel on a virtual thread of its own. The main stream's RAM
 * section meets them at its sync points ({@link SideChannels}).
 *
 * <p>A channel that fails fails the migration: the first failure is kept ({@link #failure()}),
 * every sync point throws it, and {@code onFailure} (the main connection's shutdown) wakes a main
 * stream blocked in a read. {@link #close()} after the load ends every channel.
 */
public final class IncomingMultifd implements SideChannels, AutoCloseable {
    /** How long a multifd connection has for its 64-byte handshake: QEMU sends it at once. */
    public static final Duration HANDSHAKE_TIMEOUT = Duration.ofSeconds(5);
    /** QEMU's default multifd-channels. */
    public static final int DEFAULT_CHANNELS = 2;
    /** QEMU's limit for multifd-channels (a channel id is one byte). */
    public static final int MAX_CHANNELS = 255;

    private final SyncPoints sync;
    private final Consumer<String> notices;
    private final Duration handshakeTimeout;
    /**
     * Added to under this object's lock, read without it: the stall watchdog and the sync points
     * ask for {@link #bytesReceived} while holding their own locks, and an admission takes this
     * lock, then SyncPoints' (a lock taken here for reading deadlocked against a sync point).
     */
    private final List<Admitted> admitted = new CopyOnWriteArrayList<>();
    /** The uuid every channel of this migration carries: the first admitted channel's. */
    private MultifdInit first;
    private boolean closed;
    private volatile Map<String, ? extends PageTarget> blocks;
    private volatile Duration stallLimit = Duration.ofSeconds(30);
    private volatile Runnable onFailure = () -> { };

    private record Admitted(int id, Connection connection, ChannelLoader loader, Thread thread) {
    }

    /**
     * @param channels how many channels the source opens (QEMU's multifd-channels, which both
     *     sides must agree on: the receiver waits for each at every sync point)
     * @param notices told one line for each connection refused or dropped
     */
    public IncomingMultifd(int channels, Consumer<String> notices) {
        this(channels, notices, HANDSHAKE_TIMEOUT);
    }

    IncomingMultifd(int channels, Consumer<String> notices, Duration handshakeTimeout) {
        if (channels < 1 || channels > MAX_CHANNELS) {
            throw new IllegalArgumentException("multifd channels " + channels + " is not within 1.." + MAX_CHANNELS);
        }
        this.sync = new SyncPoints(channels);
        this.notices = Objects.requireNonNull(notices, "notices");
        this.handshakeTimeout = handshakeTimeout;
    }

    public int channels() {
        return sync.channels();
    }

    /** How long a sync point waits for channels that move no bytes. */
    public void stallTimeout(Duration limit) {
        stallLimit = Objects.requireNonNull(limit, "limit");
    }

    /** Runs once, on a channel's thread, when the first channel fails. */
    public void onFailure(Runnable action) {
        onFailure = Objects.requireNonNull(action, "action");
    }

    /** Why a channel failed the migration, or null. */
    public IOException failure() {
        return sync.failure();
    }

    /** Bytes read over all channels: progress for a stall watchdog. */
    public long bytesReceived() {
        long total = 0;
        for (Admitted channel : snapshot()) {
            total += channel.loader().position();
        }
        return total;
    }

    /**
     * A connection that opened with the multifd magic (its first bytes still to be read): reads
     * its handshake on a virtual thread, then admits or refuses it. Returns at once.
     */
    public void offer(Connection connection) {
        Thread.ofVirtual().name("multifd-handshake " + connection.description()).start(() -> handshake(connection));
    }

    /** {@link #offer} on the caller's thread: reads the handshake, then admits or refuses the connection. */
    void handshake(Connection connection) {
        // Whoever moves it from 0 decides: 1, the handshake came in time; 2, the deadline passed.
        AtomicInteger outcome = new AtomicInteger();
        Thread deadline = Thread.ofVirtual().name("multifd-handshake-deadline").start(() -> {
            try {
                Thread.sleep(handshakeTimeout);
                if (outcome.compareAndSet(0, 2)) {
                    connection.shutdown(); // the read below sees the end of the stream
                }
            } catch (InterruptedException done) {
                // the handshake came in time
            }
        });
        String late = "it sent no multifd handshake within " + (handshakeTimeout.toMillis() % 1000 == 0
                ? handshakeTimeout.toSeconds() + " s" : handshakeTimeout.toMillis() + " ms");
        // Its 64 bytes alone, before any buffer is given to a connection that may be a stranger's.
        ByteBuffer bytes = ByteBuffer.allocate(MultifdInit.BYTES);
        MultifdInit init;
        try {
            while (bytes.hasRemaining() && connection.input().read(bytes) >= 0) {
                // until the handshake is whole or the stream ends
            }
            init = MultifdInit.read(MigrationInput.of(java.util.Arrays.copyOf(bytes.array(), bytes.position())));
        } catch (IOException | RuntimeException e) {
            refuse(connection, "dropped", outcome.compareAndSet(0, 1) ? e.getMessage() : late);
            return;
        } finally {
            deadline.interrupt();
        }
        if (!outcome.compareAndSet(0, 1)) {
            refuse(connection, "dropped", late);
            return;
        }
        String refusal = admit(init, connection);
        if (refusal != null) {
            refuse(connection, "refused", refusal);
        }
    }

    /** Admits the channel and starts loading it; or says why not. */
    private synchronized String admit(MultifdInit init, Connection connection) {
        int id = init.channelId();
        if (closed) {
            return "multifd channel " + id + " came after this migration's load ended";
        }
        if (id >= channels()) {
            return "multifd channel id " + id + ", but this receiver takes " + channels()
                    + " channels (--multifd-channels " + channels() + ": the source must use as many)";
        }
        if (first != null && !first.sameMigration(init)) {
            return "multifd channel " + id + " carries uuid " + init.uuidText() + ", not this migration's "
                    + first.uuidText();
        }
        for (Admitted channel : admitted) {
            if (channel.id() == id) {
                return "multifd channel " + id + " is connected already";
            }
        }
        if (first == null) {
            first = init;
        }
        MigrationInput in = MigrationInput.readOnCallerThread(connection.input(), MultifdPacket.BYTES);
        in.rebase(MultifdInit.BYTES); // offsets in errors count from the channel's first byte
        ChannelLoader loader = new ChannelLoader(id, in, sync, () -> blocks);
        Thread thread = Thread.ofVirtual().name("multifd-recv-" + id).unstarted(() -> load(id, loader));
        admitted.add(new Admitted(id, connection, loader, thread));
        sync.connected(id);
        thread.start();
        return null;
    }

    private void load(int id, ChannelLoader loader) {
        try {
            loader.run();
        } catch (IOException | RuntimeException e) {
            if (isClosed()) {
                return; // shut down after the load: nothing more was due
            }
            String message = e.getMessage() == null ? e.toString() : e.getMessage();
            if (message.startsWith("multifd channel")) {
                sync.fail(new IOException(message, e)); // a sync point's failure, already named
            } else {
                sync.fail(new IOException("multifd channel " + id + ": " + message, e));
            }
            onFailure.run();
        }
    }

    private synchronized boolean isClosed() {
        return closed;
    }

    private List<Admitted> snapshot() {
        return List.copyOf(admitted);
    }

    private void refuse(Connection connection, String verb, String why) {
        notices.accept(verb + " a multifd connection (" + connection.description() + "): " + why);
        try (connection) {
            connection.shutdown();
        } catch (IOException ignored) {
            // refusing it: nothing to tell
        }
    }

    @Override
    public void blocksAnnounced(Map<String, ? extends PageTarget> announced) {
        blocks = Map.copyOf(announced);
    }

    @Override
    public void sync(long offset) throws IOException {
        sync.mainArrived(offset, this::bytesReceived, stallLimit);
    }

    /** Ends every channel (after the load, or to cancel it) and refuses any that comes later. */
    @Override
    public void close() {
        List<Admitted> channels;
        synchronized (this) {
            closed = true;
            channels = List.copyOf(admitted);
        }
        sync.close();
        for (Admitted channel : channels) {
            channel.connection().shutdown();
        }
        for (Admitted channel : channels) {
            try {
                channel.thread().join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try (Connection connection = channel.connection()) {
                channel.loader().close();
            } catch (IOException ignored) {
                // the load is over: a channel's close has nothing to add
            }
        }
    }
}
