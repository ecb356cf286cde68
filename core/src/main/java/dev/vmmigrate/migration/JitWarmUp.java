package dev.vmmigrate.migration;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.savevm.SaveVm;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.channels.Channels;
import java.time.Duration;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Migrates a small scratch guest in memory, over and over, so that the JIT has compiled the page
 * loops of both directions before a real migration needs them. A cold JVM otherwise interprets
 * those loops at first and compiles them during the transfer, where the compiler threads take
 * CPU from the transfer itself (on 2 CPUs shared by sender and receiver, a 1 GiB loopback
 * migration took about 15 % longer without the warm-up). Run it where the process waits anyway:
 * the receiver while it waits for its connection, the sender while it fills and starts its
 * guest.
 *
 * <p>A round saves the scratch guest into memory and loads the stream back into the same guest,
 * digest check included. Rounds are few and large, so that what a migration does once per
 * stream (the vmdesc JSON, the device codecs) is not made hot, and compiled, by the warm-up
 * alone. Nothing of the scratch guest leaves this class, and a failed round ends the warm-up
 * quietly: going without it only costs time.
 */
public final class JitWarmUp implements AutoCloseable {
    /** 2,048 pages, half of them random: about 12 MiB of memory with the stream. */
    static final long SCRATCH_RAM = 8L << 20;
    /**
     * 32,768 pages through each page loop: well past the compile thresholds of C1 (the launcher
     * runs C1 only), and past C2's (15,000 calls) when a JVM runs it.
     */
    static final int ROUNDS = 16;

    private final int rounds;
    private final AtomicInteger done = new AtomicInteger();
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile boolean stopRequested;

    private JitWarmUp(int rounds) {
        this.rounds = rounds;
    }

    /** Starts the rounds on a daemon thread. */
    public static JitWarmUp start() {
        return start(ROUNDS);
    }

    static JitWarmUp start(int rounds) {
        JitWarmUp warmUp = new JitWarmUp(rounds);
        Thread.ofPlatform().name("jit-warm-up").daemon().start(warmUp::run);
        return warmUp;
    }

    /** Rounds completed so far. */
    public int roundsDone() {
        return done.get();
    }

    /** Waits at most {@code max} for the rounds to end; true if they did. */
    public boolean await(Duration max) throws InterruptedException {
        return finished.await(max.toMillis(), TimeUnit.MILLISECONDS);
    }

    /** Stops after the round in progress (milliseconds, once compiled); does not wait for it. */
    @Override
    public void close() {
        stopRequested = true;
    }

    private void run() {
        try (Guest guest = Guest.builder().ramSize(SCRATCH_RAM).build()) {
            for (RamBlock block : guest.ramBlocks()) {
                Workload.fillHalfRandom(block, 1);
            }
            guest.stop(RunState.PAUSED);
            StreamBuffer stream = new StreamBuffer((int) (SCRATCH_RAM / 2 + (1 << 20)));
            // Stream-sized buffers, as a real migration's (an in-memory output's is small); the
            // output serves every round, so native buffers do not pile up waiting for a GC.
            try (MigrationOutput out = new MigrationOutput(Channels.newChannel(stream), () -> { })) {
                while (!stopRequested && done.get() < rounds) {
                    stream.reset();
                    save(guest, out);
                    try (MigrationInput in = stream.reader()) { // frees its read-ahead chunks
                        load(guest, in);
                    }
                    done.incrementAndGet();
                }
            }
        } catch (IOException | RuntimeException e) {
            // Only time is lost: the real migration compiles what it needs itself.
        } finally {
            finished.countDown();
        }
    }

    /** Setup, iterations and completion, as the pre-copy loop drives them. */
    private static void save(Guest guest, MigrationOutput out) throws IOException {
        MachineStreams streams = MachineStreams.of(guest, false);
        SaveVm saveVm = streams.saveVm(guest);
        try {
            saveVm.setup(out);
            while (!saveVm.iterate(out)) {
                // until the first pass is out
            }
            streams.digest().beginSwitchover();
            saveVm.complete(out);
        } finally {
            streams.digest().endSwitchover();
            saveVm.cleanup();
        }
    }

    private static void load(Guest guest, MigrationInput in) throws IOException {
        MachineStreams streams = MachineStreams.of(guest, false);
        LoadVm.Result result = streams.loadVm(guest).load(in);
        String mismatch = streams.digest().mismatch(result.devices());
        if (mismatch != null) {
            throw new IllegalStateException("warm-up round did not verify: " + mismatch);
        }
    }

    /** The stream of a round, read back without copying it. */
    private static final class StreamBuffer extends ByteArrayOutputStream {
        StreamBuffer(int size) {
            super(size);
        }

        MigrationInput reader() {
            return new MigrationInput(Channels.newChannel(new ByteArrayInputStream(buf, 0, count)));
        }
    }
}
