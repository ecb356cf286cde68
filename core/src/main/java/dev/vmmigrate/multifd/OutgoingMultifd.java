package dev.vmmigrate.multifd;

import dev.vmmigrate.ram.PageChannels;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.transport.Connection;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.IntFunction;

/**
 * The multifd channels of one outgoing migration (the sending half of QEMU's multifd.c): opens
 * them after the main stream, each with its MultiFDInit_t, gathers the pages the RAM section hands
 * over into packets of up to {@link MultifdPacket#SLOTS} pages of one block, and gives each packet
 * to the next channel with room (QEMU's multifd_send_pages), whose thread writes it. At a sync
 * point every channel gets a SYNC packet after what it was given before.
 *
 * <p>A channel that fails fails the migration: the first failure is kept ({@link #failure()}),
 * named by channel, and {@code onFailure} (the main stream's shutdown) wakes the migration thread.
 * Used by the migration thread only, except {@link #shutdown} and {@link #failure}.
 */
public final class OutgoingMultifd implements PageChannels, AutoCloseable {
    /** How long a sync point waits between looks at whether a channel failed. */
    private static final long POLL_MILLIS = 50;

    /** Opens one more connection to the migration's URI (TLS included when the main one has it). */
    @FunctionalInterface
    public interface Opener {
        Connection open() throws IOException;
    }

    private final int count;
    private final boolean flushAfterEachSection;
    private final IntFunction<MultifdEncoder> encoders;
    private final List<SendChannel> channels = new ArrayList<>();
    private final Object failureLock = new Object();
    private IOException failure;
    private volatile boolean failed;
    private volatile boolean shutDown;
    private volatile Runnable onFailure = () -> { };
    /** QEMU's multifd_send_state->packet_num: counts packets over all channels, SYNC ones too. */
    private long packetNum;
    private int next;
    private RamBlock batchBlock;
    private long[] batch = new long[MultifdPacket.SLOTS];
    private int batchCount;

    /**
     * @param count channels to open (QEMU's multifd-channels)
     * @param flushAfterEachSection QEMU's multifd-flush-after-each-section: no MULTIFD_FLUSH
     *     records, the destination syncs at every EOS (QEMU 7.2, and later ones with old machine
     *     types); otherwise each sync point is also a MULTIFD_FLUSH record (QEMU 8.0+'s default)
     * @param encoders the encoder for channel {@code id} (nocomp: {@code id -> new MultifdNocomp()})
     */
    public OutgoingMultifd(int count, boolean flushAfterEachSection, IntFunction<MultifdEncoder> encoders) {
        if (count < 1 || count > IncomingMultifd.MAX_CHANNELS) {
            throw new IllegalArgumentException("multifd channels " + count + " is not within 1.."
                    + IncomingMultifd.MAX_CHANNELS);
        }
        this.count = count;
        this.flushAfterEachSection = flushAfterEachSection;
        this.encoders = Objects.requireNonNull(encoders, "encoders");
    }

    public int channels() {
        return count;
    }

    /** Runs once, on the failing channel's thread, when a channel fails. */
    public void onFailure(Runnable action) {
        onFailure = Objects.requireNonNull(action, "action");
    }

    /**
     * Opens every channel in turn (QEMU's multifd_new_send_channel_create, after the main
     * stream's header), writes its handshake with {@code uuid} and starts its thread.
     *
     * @throws IOException naming the channel that could not be opened, and why
     */
    public void connect(Opener opener, byte[] uuid) throws IOException {
        for (int id = 0; id < count; id++) {
            if (shutDown) {
                throw new IOException("the multifd channels were shut down");
            }
            Connection connection;
            try {
                connection = opener.open();
            } catch (IOException e) {
                throw channelError(id, "could not connect", e);
            }
            SendChannel channel = new SendChannel(id, connection, encoders.apply(id), this::channelFailed);
            channels.add(channel);
            try {
                channel.start(new MultifdInit(uuid, id));
            } catch (IOException e) {
                throw channelError(id, "handshake failed", e);
            }
        }
    }

    @Override
    public long queuePage(RamBlock block, long offset) throws IOException {
        long handed = 0;
        if (batchCount == MultifdPacket.SLOTS || (batchCount > 0 && block != batchBlock)) {
            handed = sendBatch();
        }
        batchBlock = block;
        batch[batchCount++] = offset;
        return handed;
    }

    @Override
    public long sync() throws IOException {
        long handed = batchCount > 0 ? sendBatch() : 0;
        CountDownLatch written = new CountDownLatch(channels.size());
        for (SendChannel channel : channels) {
            hand(channel, new SendChannel.Job.Sync(packetNum++, written));
            handed += MultifdPacket.BYTES;
        }
        try {
            while (!written.await(POLL_MILLIS, TimeUnit.MILLISECONDS)) {
                throwIfFailed();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted at a multifd sync point", e);
        }
        throwIfFailed();
        return handed;
    }

    @Override
    public boolean flushRecords() {
        return !flushAfterEachSection;
    }

    /** Why a channel failed the migration, or null. */
    public IOException failure() {
        synchronized (failureLock) {
            return failure;
        }
    }

    /** Bytes the channels wrote so far (an estimate while they write). */
    public long bytesWritten() {
        long total = 0;
        for (SendChannel channel : List.copyOf(channels)) {
            total += channel.position();
        }
        return total;
    }

    /** Unblocks every channel (a cancel, a stall, a failure elsewhere); any thread, idempotent. */
    public void shutdown() {
        shutDown = true;
        for (SendChannel channel : List.copyOf(channels)) {
            channel.shutdown();
        }
    }

    /**
     * Ends the channels: after a completed migration (the last sync point passed) each thread
     * finishes its queue and stops; otherwise they are shut down. Then the connections close.
     */
    @Override
    public void close() throws IOException {
        boolean orderly = !shutDown && !failed;
        for (SendChannel channel : channels) {
            if (!orderly || !channel.offer(new SendChannel.Job.Stop())) {
                channel.shutdown();
            }
        }
        IOException first = null;
        for (SendChannel channel : channels) {
            try {
                channel.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        if (first != null && orderly) {
            throw channelError(-1, "close failed", first);
        }
    }

    /** The batch becomes a packet for the next channel with room, round robin; waits when all are busy. */
    private long sendBatch() throws IOException {
        SendChannel.Job job = new SendChannel.Job.Pages(batchBlock, batch, batchCount, packetNum++);
        long bytes = MultifdPacket.BYTES + (long) batchCount * TargetPage.SIZE;
        batch = new long[MultifdPacket.SLOTS]; // the channel reads the old one when it writes
        batchCount = 0;
        for (int tried = 0; tried < channels.size(); tried++) {
            SendChannel channel = channels.get((next + tried) % channels.size());
            if (channel.offer(job)) {
                next = (next + tried + 1) % channels.size();
                return bytes;
            }
        }
        SendChannel channel = channels.get(next);
        next = (next + 1) % channels.size();
        hand(channel, job);
        return bytes;
    }

    private void hand(SendChannel channel, SendChannel.Job job) throws IOException {
        throwIfFailed();
        if (!channel.put(job, () -> failed || shutDown)) {
            throwIfFailed();
            throw new IOException("multifd channel " + channel.id() + " ended");
        }
    }

    private void throwIfFailed() throws IOException {
        if (failed) {
            IOException cause = failure();
            throw new IOException(cause.getMessage(), cause);
        }
        if (shutDown) {
            throw new IOException("the multifd channels were shut down");
        }
    }

    private void channelFailed(int id, IOException cause) {
        if (shutDown) {
            return; // woken by a shutdown: whoever shut down has the reason
        }
        synchronized (failureLock) {
            if (failure != null) {
                return;
            }
            failure = channelError(id, "broke", cause);
            failed = true;
        }
        shutdown();
        onFailure.run();
    }

    private static IOException channelError(int id, String what, IOException cause) {
        String why = cause.getMessage() != null ? cause.getMessage() : cause.toString();
        return new IOException((id >= 0 ? "multifd channel " + id + " " : "multifd channels: ") + what + ": " + why,
                cause);
    }
}
