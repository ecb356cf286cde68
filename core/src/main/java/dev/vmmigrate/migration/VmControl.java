package dev.vmmigrate.migration;

import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.stream.MigrationOutput;
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

    /** The streams a migration into this guest was loaded with (to save it as it came), or null. */
    private volatile MachineStreams incomingStreams;

    private VmControl(Guest guest, boolean qemuCompatible, BlockMigration block) {
        this.guest = Objects.requireNonNull(guest, "guest");
        this.outgoing = new OutgoingMigration(guest, MachineStreams.of(guest, qemuCompatible, block));
    }

    /**
     * A guest that runs here and may migrate away (send, demo).
     *
     * @param qemuCompatible the destination is QEMU: vm-migrate's own sections stay out
     * @param block the disk's sending handler (send --copy-storage), or null
     */
    public static VmControl source(Guest guest, boolean qemuCompatible, BlockMigration block) {
        return new VmControl(guest, qemuCompatible, block);
    }

    /**
     * A guest that waits for a migration into it (receive, demo; built with {@code incoming}), which
     * once loaded may migrate on (A -> B -> C). The load verifies vm-migrate's digest when the
     * stream carries one before the guest may run: {@link #incoming()} starts it.
     *
     * @param block the disk's load-only handler, or null: a stream with a block section is refused
     * @param startPaused keep the guest paused after the load instead of running it as QEMU would
     */
    public static VmControl destination(Guest guest, BlockMigration block, boolean startPaused) {
        VmControl vm = new VmControl(guest, false, null);
        MachineStreams streams = MachineStreams.of(guest, false, block);
        vm.incomingStreams = streams;
        vm.receiving(streams.incoming(guest, startPaused));
        return vm;
    }

    /** The migration into this guest (a destination's), or null. */
    public IncomingMigration incoming() {
        return incoming;
    }

    /**
     * Writes the stopped guest as one compact stream (every RAM page once, then the devices): a
     * checkpoint. vm-migrate's own sections go in only if the stream it came with had them, so a
     * guest that came from QEMU saves as a stream QEMU restores.
     */
    public void saveStopped(MigrationOutput out) throws IOException {
        MachineStreams received = incomingStreams;
        boolean qemuCompatible = received != null && !received.digest().received();
        MachineStreams.of(guest, qemuCompatible).saveVm(guest).saveStopped(out);
    }

    public Guest guest() {
        return guest;
    }

    /**
     * Whether the migration into this guest takes multifd channels (receive --capability multifd):
     * a QEMU destination lists the capability on, set as it must be for the source's to work.
     */
    public boolean receivesMultifd() {
        IncomingMigration in = incoming;
        return in != null && in.hasMultifdChannels();
    }

    /** The migration out of this guest: its capabilities, parameters, status and figures. */
    public OutgoingMigration outgoing() {
        return outgoing;
    }

    /** This guest is being loaded by {@code migration}: query-migrate reports it until it migrates on. */
    private void receiving(IncomingMigration migration) {
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
            outgoing.failBeforeStart(new MigrationException(e.getMessage() != null ? e.getMessage() : e.toString(), e));
            return false;
        }
        try {
            Connector channels = connector;
            outgoing.start(connection, () -> channels.connect(target));
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

    /** QMP's migrate-start-postcopy: the migration out of this guest switches to postcopy. */
    public void startPostcopy() {
        outgoing.startPostcopy();
    }

    /** QMP's migrate_cancel: the migration out of this guest is cancelled; the guest runs again if it ran. */
    public void cancel() {
        outgoing.cancel();
    }
}
