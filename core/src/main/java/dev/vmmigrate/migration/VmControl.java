package dev.vmmigrate.migration;

import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.MigrationUri;
import java.io.IOException;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * One guest and the migrations out of it (and the one into it, on a receiver), as QMP and the
 * monitor see one QEMU process: its run state (stop, cont), query-migrate, the capabilities and
 * parameters, migrate, migrate_cancel, and the events. The CLI, the QMP socket and the monitor
 * all drive a migration through this one handle.
 */
public final class VmControl {
    private final Guest guest;
    private final OutgoingMigration outgoing;
    private final List<MigrationListener> listeners = new CopyOnWriteArrayList<>();
    private volatile IncomingMigration incoming;
    private volatile Connector connector = MigrationUri::connect;
    /** QEMU's "events" capability: MIGRATION and MIGRATION_PASS events on QMP. */
    private volatile boolean events;

    /**
     * @param qemuCompatible the destination is QEMU: vm-migrate's own sections stay out
     * @param block the disk's sending handler (send --copy-storage), or null
     */
    public VmControl(Guest guest, boolean qemuCompatible, BlockMigration block) {
        this.guest = Objects.requireNonNull(guest, "guest");
        this.outgoing = new OutgoingMigration(guest, MachineStreams.of(guest, qemuCompatible, block));
    }

    public Guest guest() {
        return guest;
    }

    /** The migration out of this guest: its capabilities, parameters, status and figures. */
    public OutgoingMigration outgoing() {
        return outgoing;
    }

    /** This guest is being loaded by {@code migration} (a receiver): query-migrate reports it until it migrates on. */
    public void receiving(IncomingMigration migration) {
        incoming = migration;
        listeners.forEach(migration::addListener);
    }

    /** Status changes and passes of every migration into or out of this guest. */
    public void addListener(MigrationListener listener) {
        listeners.add(listener);
        outgoing.addListener(listener);
        IncomingMigration in = incoming;
        if (in != null) {
            in.addListener(listener);
        }
    }

    /** Run state changes (QMP's STOP and RESUME events). */
    public void addRunStateListener(Consumer<RunState> listener) {
        guest.addRunStateListener(listener);
    }

    /** query-migrate: the outgoing migration once one started, else the incoming one, else nothing (status none). */
    public MigrationInfo queryMigrate() {
        if (outgoing.status() != MigrationStatus.NONE) {
            return outgoing.info();
        }
        IncomingMigration in = incoming;
        return in != null ? in.info() : outgoing.info();
    }

    public RunState runState() {
        return guest.runState();
    }

    /**
     * QMP's stop: pauses a running guest (nothing while a migration holds it stopped or loads
     * into it).
     */
    public void stop() {
        if (guest.runState() == RunState.RUNNING) {
            guest.stop(RunState.PAUSED);
        }
    }

    /**
     * QMP's cont: runs a paused guest; refused, as QEMU refuses it, while a migration is loading
     * into it, after it migrated away (postmigrate: its state lives on at the destination) and
     * after a failed load.
     */
    public void cont() {
        RunState state = guest.runState();
        switch (state) {
            case RUNNING -> {
            }
            case PAUSED, PRELAUNCH -> guest.start();
            case INMIGRATE -> throw new MigrationException("guest is waiting for an incoming migration");
            case POSTMIGRATE -> throw new MigrationException("the guest migrated away (postmigrate): it runs at the "
                    + "destination now");
            case FINISH_MIGRATE -> throw new MigrationException("a migration is completing");
            case INTERNAL_ERROR -> throw new MigrationException("the guest's load failed: it must not run");
        }
    }

    /**
     * QMP's migrate: connects to {@code target} and starts migrating on a thread of its own. A
     * connection that cannot be made fails the migration as the seeds' migrate_fd_error does
     * (status failed, its event, error-desc).
     *
     * @return false when the connection failed (the migration failed before it started)
     * @throws MigrationException when the migration is refused (one in progress, blocked, ...)
     */
    public boolean migrate(MigrationUri target) {
        if (outgoing.status().isActive()) {
            throw new MigrationException("a migration is already in progress");
        }
        Connection connection;
        try {
            connection = connector.connect(target);
        } catch (IOException e) {
            outgoing.failBeforeStart(e.getMessage() != null ? e.getMessage() : e.toString());
            return false;
        }
        try {
            outgoing.start(connection);
        } catch (MigrationException e) {
            try {
                connection.close();
            } catch (IOException ignored) {
                // refused before a byte was sent: the refusal is the news
            }
            throw e;
        }
        return true;
    }

    /** Whether QMP sends MIGRATION and MIGRATION_PASS events (QEMU's "events" capability, off by default). */
    public boolean events() {
        return events;
    }

    public void events(boolean on) {
        events = on;
    }

    /** How {@link #migrate} connects (send --tls-creds wraps the connection); the URI's own by default. */
    public void connector(Connector next) {
        connector = Objects.requireNonNull(next, "connector");
    }

    /** QMP's migrate_cancel: the migration out of this guest is cancelled; the guest runs again if it ran. */
    public void cancel() {
        outgoing.cancel();
    }
}
