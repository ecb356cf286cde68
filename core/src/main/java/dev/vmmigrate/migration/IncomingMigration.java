package dev.vmmigrate.migration;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.transport.Connection;
import java.io.IOException;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The destination side (the seeds' process_incoming_migration_co): loads the stream on a virtual
 * thread into its {@link Target}, then resumes the built-in guest, or leaves it paused when asked;
 * a held VM never runs. A load that fails leaves the guest stopped in an error state: a partly
 * loaded guest never runs.
 */
public final class IncomingMigration {
    /** Checks run after the load and before the guest may run; they throw to refuse. */
    @FunctionalInterface
    public interface LoadCheck {
        void verify(LoadVm.Result result) throws IOException;
    }

    /**
     * What the stream is loaded into: the built-in guest, which may run afterwards, or a VM that
     * this side only holds.
     */
    public interface Target {
        /** The load failed part way: whatever was loaded must never run. */
        void loadFailed();

        /** The load and its checks passed; throwing fails the migration (then {@link #loadFailed} follows). */
        void loaded(LoadVm.Result result) throws IOException;
    }

    private final Target target;
    private final LoadVm loadVm;
    private final AtomicReference<MigrationStatus> status = new AtomicReference<>(MigrationStatus.NONE);
    private final List<MigrationListener> listeners = new CopyOnWriteArrayList<>();
    private final List<LoadCheck> checks = new CopyOnWriteArrayList<>();
    private final CountDownLatch finished = new CountDownLatch(1);
    private volatile String error;
    private volatile Failure failureKind = Failure.NONE;
    private volatile long startMillis;
    private volatile long totalMillis = -1;
    private volatile Connection connection;

    /** Why a load failed: the CLI turns these into distinct exit codes. */
    public enum Failure { NONE, STREAM, VERIFICATION }

    /** Loads into the built-in {@code guest}, then resumes it as QEMU would unless {@code startPaused}. */
    public IncomingMigration(Guest guest, LoadVm loadVm, boolean startPaused) {
        this(guestTarget(Objects.requireNonNull(guest, "guest"), startPaused), loadVm);
        guest.stop(RunState.INMIGRATE);
    }

    public IncomingMigration(Target target, LoadVm loadVm) {
        this.target = Objects.requireNonNull(target, "target");
        this.loadVm = Objects.requireNonNull(loadVm, "loadVm");
    }

    private static Target guestTarget(Guest guest, boolean startPaused) {
        return new Target() {
            @Override
            public void loadFailed() {
                guest.stop(RunState.INTERNAL_ERROR);
            }

            @Override
            public void loaded(LoadVm.Result result) {
                // As QEMU: a guest the source had stopped stays stopped in the state it had (globalstate).
                RunState sourceState = guest.globalState().runState();
                if (sourceState != RunState.RUNNING) {
                    guest.stop(sourceState == RunState.PRELAUNCH ? RunState.PRELAUNCH : RunState.PAUSED);
                } else if (startPaused) {
                    guest.stop(RunState.PAUSED);
                } else {
                    guest.start();
                }
            }
        };
    }

    public void addListener(MigrationListener listener) {
        listeners.add(listener);
    }

    /** A check that must pass before the guest runs (the end-to-end digest). */
    public void addCheck(LoadCheck check) {
        checks.add(check);
    }

    public MigrationStatus status() {
        return status.get();
    }

    public String error() {
        return error;
    }

    public Failure failure() {
        return failureKind;
    }

    /** Milliseconds from accept to the guest loaded, or -1 while loading. */
    public long totalMillis() {
        return totalMillis;
    }

    /** Starts loading from {@code connection} on a virtual thread. */
    public void start(Connection connection) {
        start(connection, new MigrationInput(connection.input()));
    }

    /** Starts loading from {@code in}, read from {@code connection}, which may already have been peeked at. */
    public void start(Connection connection, MigrationInput in) {
        if (!status.compareAndSet(MigrationStatus.NONE, MigrationStatus.ACTIVE)) {
            throw new MigrationException("this guest already received a migration");
        }
        startMillis = System.currentTimeMillis();
        this.connection = connection;
        notifyStatus(MigrationStatus.ACTIVE);
        Thread.ofVirtual().name("incoming-migration").start(() -> {
            try {
                load(connection, in);
            } finally {
                finished.countDown();
            }
        });
    }

    public MigrationStatus awaitFinished() throws InterruptedException {
        finished.await();
        return status.get();
    }

    /** Aborts a load in progress (Ctrl-C on the receiver): the guest does not run. No-op before start. */
    public void cancel() {
        Connection current = connection;
        if (current != null) {
            current.shutdown();
        }
    }

    private void load(Connection connection, MigrationInput in) {
        try (connection; in) {
            LoadVm.Result result = loadVm.load(in);
            for (LoadCheck check : checks) {
                try {
                    check.verify(result);
                } catch (IOException e) {
                    failureKind = Failure.VERIFICATION;
                    throw e;
                }
            }
            totalMillis = System.currentTimeMillis() - startMillis;
            target.loaded(result);
        } catch (IOException | RuntimeException e) {
            if (failureKind == Failure.NONE) {
                failureKind = Failure.STREAM;
            }
            error = "load of migration failed: " + (e.getMessage() == null ? e.toString() : e.getMessage());
            target.loadFailed();
            totalMillis = System.currentTimeMillis() - startMillis;
            status.set(MigrationStatus.FAILED);
            notifyStatus(MigrationStatus.FAILED);
            return;
        }
        status.set(MigrationStatus.COMPLETED);
        notifyStatus(MigrationStatus.COMPLETED);
    }

    private void notifyStatus(MigrationStatus to) {
        MigrationInfo info = MigrationInfo.of(to.qmpName(),
                totalMillis < 0 ? System.currentTimeMillis() - startMillis : totalMillis,
                to == MigrationStatus.FAILED ? error : null);
        for (MigrationListener listener : listeners) {
            listener.statusChanged(to, info);
        }
    }
}
