package dev.vmmigrate.migration;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.transport.LocalPipe;
import java.io.IOException;
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
 * <p>A round migrates the scratch guest into a copy of it in the same process, through
 * {@link VmControl} as a real migration (pre-copy loop, loader, digest check), over a
 * {@link LocalPipe}. Rounds are few and large, so that what a migration does once per
 * stream (the vmdesc JSON, the device codecs) is not made hot, and compiled, by the warm-up
 * alone. Nothing of the scratch guest leaves this class, and a failed round ends the warm-up
 * quietly: going without it only costs time.
 */
public final class JitWarmUp implements AutoCloseable {
    /** 2,048 pages, half of them random, and a copy of them: about 16 MiB of memory. */
    static final long SCRATCH_RAM = 8L << 20;
    /**
     * 32,768 pages through each page loop: well past the compile thresholds of C1 (the launcher
     * runs C1 only), and past C2's (15,000 calls) when a JVM runs it.
     */
    static final int ROUNDS = 16;
    /** A round that takes longer than this (a starved machine) ends the warm-up. */
    private static final Duration ROUND_TIMEOUT = Duration.ofSeconds(30);

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
        try (Guest scratch = Guest.builder().ramSize(SCRATCH_RAM).build();
             Guest copy = Guest.builder().ramSize(SCRATCH_RAM).incoming(true).build()) {
            for (RamBlock block : scratch.ramBlocks()) {
                Workload.fillHalfRandom(block, 1);
            }
            scratch.stop(RunState.PAUSED);
            while (!stopRequested && done.get() < rounds) {
                if (!migrate(scratch, copy)) {
                    return;
                }
                done.incrementAndGet();
            }
        } catch (IOException | RuntimeException e) {
            // Only time is lost: the real migration compiles what it needs itself.
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            finished.countDown();
        }
    }

    /**
     * One round: the scratch guest migrates into its copy through the same facade, loop and
     * loader as a real migration, over an in-process pipe, unlimited; true if both ends completed.
     */
    private static boolean migrate(Guest scratch, Guest copy) throws IOException, InterruptedException {
        VmControl destination = VmControl.destination(copy, null, true);
        VmControl source = VmControl.source(scratch, false, null);
        source.outgoing().setParameters(new MigrationParameters(MigrationParameters.UNLIMITED,
                MigrationParameters.DEFAULT_DOWNTIME_LIMIT, ROUND_TIMEOUT));
        LocalPipe pipe = LocalPipe.open();
        destination.incoming().start(pipe.receiving());
        source.outgoing().start(pipe.sending());
        boolean sent = source.outgoing().awaitFinished(ROUND_TIMEOUT) == MigrationStatus.COMPLETED;
        if (!sent) {
            source.cancel();
            destination.incoming().cancel();
        }
        return destination.incoming().awaitFinished() == MigrationStatus.COMPLETED && sent; // ends once the stream ends or is cancelled
    }
}
