package dev.vmmigrate.cli;

import dev.vmmigrate.migration.MigrationInfo;
import dev.vmmigrate.migration.MigrationStatus;
import java.util.List;
import java.util.function.BooleanSupplier;
import sun.misc.Signal;

/**
 * Ctrl-C, SIGTERM and SIGHUP handling, all three alike: the first runs the command's own action
 * (cancel a migration, stop the guest) so it can end with its documented exit code; a second one
 * (of any of the three) exits at once with the cancelled code.
 *
 * <p>SIGQUIT is not here: HotSpot keeps it for its thread dump ({@code Signal.handle} refuses it),
 * and the launcher sends that dump to stderr ({@code -XX:+DisplayVMOutputToStderr}) so it never
 * lands in a stream on stdout. {@code -Xrs} is not an option: it would make the JVM refuse these
 * handlers too.
 */
final class Interrupts {
    /** The signals that cancel. */
    static final List<String> SIGNALS = List.of("INT", "TERM", "HUP");

    private Interrupts() {
    }

    /**
     * Installs {@code action} for INT, TERM and HUP, replacing the previous one. The handler is
     * process-wide state by nature (the JVM keeps one per signal), hence a static method.
     */
    static void onInterrupt(Runnable action) {
        onInterrupt(action, () -> true);
    }

    /**
     * The same, but a later signal ends the process only while {@code mayHalt} says so (a
     * postcopy migration must not be cut short: the destination's guest needs the pages here);
     * otherwise it runs {@code action} again.
     */
    static void onInterrupt(Runnable action, BooleanSupplier mayHalt) {
        sun.misc.SignalHandler handler = new sun.misc.SignalHandler() {
            private boolean seen;

            @Override
            public synchronized void handle(Signal signal) {
                if (seen && mayHalt.getAsBoolean()) {
                    Runtime.getRuntime().halt(ExitCode.CANCELLED);
                }
                seen = true;
                Thread.ofPlatform().name("interrupt").start(action);
            }
        };
        for (String name : SIGNALS) {
            try {
                Signal.handle(new Signal(name), handler);
            } catch (IllegalArgumentException e) {
                // The JVM keeps the signal (run with -Xrs): its default stands, as before these handlers.
            }
        }
    }

    /**
     * For the time before there is a migration to cancel (a guest being built, filled, warmed up,
     * a connection being opened): a signal interrupts the command's thread, which then ends with
     * exit 3; once {@link #handOver} gave it the migration's cancel, a signal runs that instead.
     */
    static Cancellation cancellation() {
        Cancellation cancellation = new Cancellation(Thread.currentThread());
        onInterrupt(cancellation::signalled, cancellation::mayHalt);
        return cancellation;
    }

    /**
     * The end of a command a signal stopped before its migration started: one line (in --json
     * the MIGRATION event and the final record, status cancelled) and exit 3.
     */
    static int cancelledBeforeStart(Reporter reporter) {
        MigrationInfo info = MigrationInfo.of(MigrationStatus.CANCELLED.qmpName(), null,
                "interrupted before the migration started: nothing was sent");
        reporter.statusChanged(MigrationStatus.CANCELLED, info);
        reporter.summary(info);
        return ExitCode.CANCELLED;
    }

    static final class Cancellation {
        private final Thread commandThread;
        private boolean requested;
        private Runnable handedOver;
        /** Whether a second signal may end the process now; see {@link #handOver(Runnable, BooleanSupplier)}. */
        private volatile BooleanSupplier mayHalt = () -> true;

        private Cancellation(Thread commandThread) {
            this.commandThread = commandThread;
        }

        private synchronized void signalled() {
            requested = true;
            if (handedOver != null) {
                handedOver.run();
            } else {
                commandThread.interrupt();
            }
        }

        private boolean mayHalt() {
            return mayHalt.getAsBoolean();
        }

        /** True once a signal came, before or after the hand-over. */
        synchronized boolean requested() {
            return requested;
        }

        /** True when a signal came before the hand-over: nothing was sent. */
        synchronized boolean beforeHandOver() {
            return requested && handedOver == null;
        }

        /** Throws if a signal came: between steps that do not notice an interrupt themselves. */
        void check() throws InterruptedException {
            if (beforeHandOver()) {
                throw new InterruptedException("cancelled");
            }
        }

        /**
         * From now on a signal runs {@code cancel}; a signal that came already runs it now (call
         * this once the migration started, so that it is cancelled as at any other moment).
         * Clears the interrupt the signal may have left on the command's thread.
         */
        synchronized void handOver(Runnable cancel) {
            handOver(cancel, () -> true);
        }

        /**
         * The same; a second signal ends the process at once only while {@code mayHalt} is true,
         * otherwise it runs {@code cancel} again (which then says why nothing happens).
         */
        synchronized void handOver(Runnable cancel, BooleanSupplier mayHalt) {
            this.mayHalt = mayHalt;
            handedOver = cancel;
            if (requested) {
                Thread.interrupted();
                cancel.run();
            }
        }
    }
}
