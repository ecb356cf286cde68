package dev.vmmigrate.multifd;

import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.transport.Connection;
import java.io.IOException;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * One sending channel (QEMU's MultiFDSendParams and multifd_send_thread): a connection, its
 * encoder and a thread of its own that writes the jobs the migration thread queues, in order.
 */
final class SendChannel {
    /** Jobs waiting besides the one being written: enough to keep the socket busy, little memory held. */
    private static final int QUEUE_DEPTH = 2;
    /** How often a blocked hand-over looks whether the migration failed meanwhile. */
    private static final long POLL_MILLIS = 50;

    /** What the migration thread asks of a channel. */
    sealed interface Job {
        /** A packet of whole pages. */
        record Pages(RamBlock block, long[] offsets, int count, long packetNum) implements Job {
        }

        /** A SYNC packet; {@code written} counts down once it went out. */
        record Sync(long packetNum, CountDownLatch written) implements Job {
        }

        /** No more jobs: the thread ends. */
        record Stop() implements Job {
        }
    }

    /** Told once, from the channel's thread, when it fails. */
    interface FailureSink {
        void failed(int channel, IOException cause);
    }

    private final int id;
    private final Connection connection;
    private final MigrationOutput out;
    private final MultifdEncoder encoder;
    private final BlockingQueue<Job> queue = new ArrayBlockingQueue<>(QUEUE_DEPTH);
    private final FailureSink failures;
    private final Thread thread;

    SendChannel(int id, Connection connection, MultifdEncoder encoder, FailureSink failures) {
        this.id = id;
        this.connection = connection;
        this.out = new MigrationOutput(connection.output(), connection::shutdown);
        this.encoder = encoder;
        this.failures = failures;
        this.thread = Thread.ofPlatform().name("multifd-send-" + id).daemon().unstarted(this::run);
    }

    int id() {
        return id;
    }

    /** Writes the handshake, then starts the thread. */
    void start(MultifdInit init) throws IOException {
        init.write(out);
        out.flush();
        thread.start();
    }

    /** Hands {@code job} over unless the queue is full. */
    boolean offer(Job job) {
        return queue.offer(job);
    }

    /** Hands {@code job} over, waiting for room; false when {@code failed} says the migration failed first. */
    boolean put(Job job, java.util.function.BooleanSupplier failed) throws IOException {
        try {
            while (!queue.offer(job, POLL_MILLIS, TimeUnit.MILLISECONDS)) {
                if (failed.getAsBoolean() || !thread.isAlive()) {
                    return false;
                }
            }
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while handing pages to multifd channel " + id, e);
        }
    }

    /** Bytes written so far, handshake included (read from other threads: an estimate). */
    long position() {
        return out.position();
    }

    private void run() {
        try {
            while (true) {
                Job job = queue.take();
                switch (job) {
                    case Job.Pages pages -> {
                        encoder.writePages(out, pages.block(), pages.offsets(), pages.count(), pages.packetNum());
                        out.flush();
                    }
                    case Job.Sync sync -> {
                        MultifdPacket.sync(sync.packetNum()).write(out);
                        out.flush();
                        sync.written().countDown();
                    }
                    case Job.Stop stop -> {
                        return;
                    }
                }
            }
        } catch (IOException e) {
            failures.failed(id, e);
        } catch (InterruptedException e) {
            failures.failed(id, new IOException("interrupted", e));
        } catch (RuntimeException e) {
            failures.failed(id, new IOException(e.toString(), e));
        } finally {
            encoder.close();
        }
    }

    /** Unblocks the thread's write (any thread). */
    void shutdown() {
        out.shutdown();
        thread.interrupt();
    }

    /** After a Stop: waits for the thread, then closes the connection. */
    void close() throws IOException {
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        connection.close();
    }
}
