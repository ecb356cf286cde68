package dev.vmmigrate.multifd;

import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongSupplier;

/**
 * Where the main stream and the channels meet (QEMU's multifd_recv_sync_main and each channel's
 * sem_sync): a channel that read a SYNC packet waits until the main stream has reached the same
 * sync point, and the main stream waits there until every channel has. So no page sent after a
 * sync point is written before one sent before it, on any channel or the main stream.
 */
final class SyncPoints {
    private final ReentrantLock lock = new ReentrantLock();
    private final Condition changed = lock.newCondition();
    /** SYNC packets each channel has read. */
    private final long[] arrived;
    private final boolean[] connected;
    private final boolean[] ended;
    /** Sync points the main stream has passed. */
    private long released;
    private IOException failure;
    private boolean closed;

    SyncPoints(int channels) {
        arrived = new long[channels];
        connected = new boolean[channels];
        ended = new boolean[channels];
    }

    int channels() {
        return arrived.length;
    }

    void connected(int channel) {
        lock.lock();
        try {
            connected[channel] = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The channel's stream ended where a packet would begin: it will not reach another sync point. */
    void ended(int channel) {
        lock.lock();
        try {
            ended[channel] = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The channel read its next SYNC packet: returns once the main stream has reached that sync point too. */
    void channelArrived(int channel) throws IOException {
        lock.lock();
        try {
            long mine = ++arrived[channel];
            changed.signalAll();
            while (released < mine && failure == null && !closed) {
                changed.await();
            }
            throwIfFailed();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted at a multifd sync point", e);
        } finally {
            lock.unlock();
        }
    }

    /**
     * The main stream reached its next sync point, at stream offset {@code offset}: returns once
     * every channel has, then lets them go on. Fails when a channel failed, ended before it, or
     * nothing moved ({@code progress}: bytes over all channels) for {@code stallLimit}.
     * {@code progress} is asked under this object's lock: it must take no lock of its own.
     */
    void mainArrived(long offset, LongSupplier progress, Duration stallLimit) throws IOException {
        lock.lock();
        try {
            long target = released + 1;
            long lastProgress = progress.getAsLong();
            long since = System.nanoTime();
            while (failure == null && !closed && !allAt(target)) {
                List<Integer> gone = endedBefore(target);
                if (!gone.isEmpty()) {
                    fail(new IOException("multifd channel " + join(gone) + " ended before the sync point at stream "
                            + "offset " + offset));
                    break;
                }
                changed.await(Math.max(10, Math.min(500, stallLimit.toMillis() / 4)), TimeUnit.MILLISECONDS);
                long now = progress.getAsLong();
                if (now != lastProgress) {
                    lastProgress = now;
                    since = System.nanoTime();
                } else if (System.nanoTime() - since >= stallLimit.toNanos() && !allAt(target)) {
                    fail(new IOException(stalledMessage(target, offset, stallLimit)));
                }
            }
            throwIfFailed();
            released = target;
            changed.signalAll();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted at a multifd sync point", e);
        } finally {
            lock.unlock();
        }
    }

    /** The first failure wins; every waiter wakes and throws it. */
    void fail(IOException cause) {
        lock.lock();
        try {
            if (failure == null) {
                failure = cause;
            }
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    /** The load is over: whoever still waits gives up. */
    void close() {
        lock.lock();
        try {
            closed = true;
            changed.signalAll();
        } finally {
            lock.unlock();
        }
    }

    IOException failure() {
        lock.lock();
        try {
            return failure;
        } finally {
            lock.unlock();
        }
    }

    private void throwIfFailed() throws IOException {
        if (failure != null) {
            throw new IOException(failure.getMessage(), failure);
        }
        if (closed) {
            throw new IOException("the multifd channels were closed");
        }
    }

    private boolean allAt(long target) {
        for (long count : arrived) {
            if (count < target) {
                return false;
            }
        }
        return true;
    }

    private List<Integer> endedBefore(long target) {
        List<Integer> gone = new ArrayList<>();
        for (int i = 0; i < arrived.length; i++) {
            if (ended[i] && arrived[i] < target) {
                gone.add(i);
            }
        }
        return gone;
    }

    private String stalledMessage(long target, long offset, Duration stallLimit) {
        List<Integer> missing = new ArrayList<>();
        List<Integer> neverConnected = new ArrayList<>();
        for (int i = 0; i < arrived.length; i++) {
            if (!connected[i]) {
                neverConnected.add(i);
            } else if (arrived[i] < target) {
                missing.add(i);
            }
        }
        String seconds = stallLimit.toMillis() % 1000 == 0 ? stallLimit.toSeconds() + " s" : stallLimit.toMillis() + " ms";
        StringBuilder message = new StringBuilder("stalled: waited " + seconds + " at the multifd sync point at stream offset "
                + offset);
        if (!missing.isEmpty()) {
            message.append(" for channel ").append(join(missing));
        }
        if (!neverConnected.isEmpty()) {
            message.append(missing.isEmpty() ? "; " : ", and ").append("channel ").append(join(neverConnected))
                    .append(" of ").append(arrived.length).append(" never connected (--multifd-channels ")
                    .append(arrived.length).append(": the source must use as many)");
        }
        return message.toString();
    }

    private static String join(List<Integer> ids) {
        return String.join(", ", ids.stream().map(String::valueOf).toList());
    }
}
