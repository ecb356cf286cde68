package dev.vmmigrate.migration;

import dev.vmmigrate.ownsections.Capability;

import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.multifd.IncomingMultifd;
import dev.vmmigrate.multifd.MultifdCompressionParameters;
import dev.vmmigrate.multifd.OutgoingMultifd;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.ram.RamSaveOptions;
import dev.vmmigrate.ram.XbzrleCache;
import dev.vmmigrate.ram.RamStats;
import dev.vmmigrate.savevm.SaveVm;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.MigrationUri;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;

/**
 * The source side of one migration, as the seeds' MigrationState: the status machine (changed by
 * compare-and-set so cancel and the migration thread never both win), blockers, listeners,
 * parameters, and the thread that runs {@link PrecopyLoop}, which owns the stream, its rate limit
 * and throttle and reaches back only through {@link PrecopyLoop.Owner}. A failure is kept as a
 * {@link MigrationException} with its cause.
 */
public final class OutgoingMigration {
    private final Guest guest;
    private final MachineStreams streams;
    private final SaveVm saveVm;
    private final RamHandler ram;
    private final AtomicReference<MigrationStatus> status = new AtomicReference<>(MigrationStatus.NONE);
    private final List<MigrationListener> listeners = new CopyOnWriteArrayList<>();
    private final List<String> blockers = new CopyOnWriteArrayList<>();
    /** Counted down when the current migration's thread ends; replaced by each start. */
    private volatile CountDownLatch finished = new CountDownLatch(0);
    private final MigrationClock clock = new MigrationClock();
    private volatile MigrationParameters parameters = MigrationParameters.defaults();
    private volatile MigrationCapabilities capabilities = MigrationCapabilities.none();
    private volatile Duration stallTimeout = IncomingMigration.DEFAULT_STALL_TIMEOUT;
    /** The current migration's loop, or null before the first start. */
    private volatile PrecopyLoop loop;
    private volatile MigrationException failure;
    /** The last migration failed before it started ({@link #failBeforeStart}): no figures to report. */
    private volatile boolean failedBeforeStart;
    /** send --postcopy-after: passes before the switch to postcopy; 0: only on request. */
    private volatile long postcopyAfterPasses;
    /** send --reconnect: how long to try to resume a broken link, and where; null: never. */
    private volatile PrecopyLoop.Resume reconnect;
    /** QEMU's multifd-channels parameter: channels a multifd migration opens. */
    private volatile int multifdChannels = IncomingMultifd.DEFAULT_CHANNELS;
    /** QEMU's multifd-flush-after-each-section property (see {@link OutgoingMultifd}). */
    private volatile boolean multifdFlushAfterEachSection;
    /** QEMU's multifd-compression and its levels. */
    private volatile MultifdCompressionParameters multifdCompression = MultifdCompressionParameters.DEFAULT;
    /** How the loop reaches this migration: the only calls it makes back. */
    private final PrecopyLoop.Owner owner = new PrecopyLoop.Owner() {
        @Override
        public MigrationStatus status() {
            return status.get();
        }

        @Override
        public boolean advance(MigrationStatus from, MigrationStatus to) {
            return transition(from, to);
        }

        @Override
        public void fail(MigrationException cause) {
            OutgoingMigration.this.fail(cause);
        }

        @Override
        public void passStarted(long pass) {
            listeners.forEach(listener -> listener.passStarted(pass));
        }

        @Override
        public void linkChanged(boolean up, String detail) {
            listeners.forEach(listener -> listener.linkChanged(up, detail));
        }

        @Override
        public MigrationParameters parameters() {
            return parameters;
        }
    };

    /**
     * @param guest the machine being migrated
     * @param streams its stream handlers ({@link MachineStreams#of})
     */
    public OutgoingMigration(Guest guest, MachineStreams streams) {
        this.guest = Objects.requireNonNull(guest, "guest");
        this.streams = Objects.requireNonNull(streams, "streams");
        this.saveVm = streams.saveVm(guest);
        this.ram = streams.ram();
    }

    public MigrationCapabilities capabilities() {
        return capabilities;
    }

    /**
     * Sets the capabilities, refused while a migration is active (as the seeds'
     * migrate_set_capabilities) and for an XBZRLE cache size the seeds refuse. The cache size
     * alone may change during a migration: {@link #setXbzrleCacheSize}.
     */
    public synchronized void setCapabilities(MigrationCapabilities next) {
        if (status.get().isActive()) {
            throw new MigrationException("capabilities cannot be changed while a migration is active");
        }
        if (next.has(Capability.COMPRESS) && !streams.carriesOwnSections()) {
            throw new MigrationException("capability compress needs vm-migrate's own sections, "
                    + "so it cannot be used towards QEMU (--compat qemu)");
        }
        if (next.has(Capability.MULTIFD)) {
            // QEMU 10.0's migrate_caps_check refuses xbzrle, 7.2's compress (its zlib threads).
            if (next.has(Capability.XBZRLE) || next.has(Capability.COMPRESS)) {
                throw new MigrationException("Multifd is not compatible with " + (next.has(Capability.XBZRLE)
                        ? "xbzrle" : "compress"));
            }
            if (next.has(Capability.POSTCOPY_RAM)) {
                throw new MigrationException("capability multifd cannot go with postcopy-ram in vm-migrate yet");
            }
            if (reconnect != null) {
                throw new MigrationException("capability multifd cannot go with reconnect (a resumed migration has "
                        + "one connection)");
            }
        }
        if (next.has(Capability.POSTCOPY_RAM)) {
            if (next.has(Capability.XBZRLE) || next.has(Capability.COMPRESS)) {
                throw new MigrationException("capability postcopy-ram cannot go with " + (next.has(Capability.XBZRLE)
                        ? "xbzrle" : "compress") + ": a postcopy destination takes plain pages once each");
            }
            if (streams.block() != null && streams.block().canSave()) {
                throw new MigrationException("capability postcopy-ram cannot go with block migration (--copy-storage): "
                        + "its disk section would go on after the switch, while the destination's guest runs");
            }
        }
        if (next.has(Capability.XBZRLE)) {
            try {
                XbzrleCache.validateSize(next.xbzrleCacheSize(), ram.totalBytes());
            } catch (IllegalArgumentException e) {
                throw new MigrationException("invalid xbzrle cache size " + next.xbzrleCacheSize() + ": "
                        + e.getMessage());
            }
        }
        capabilities = next;
    }

    /** QEMU's multifd-channels. */
    public int multifdChannels() {
        return multifdChannels;
    }

    /**
     * Sets QEMU's multifd-channels (1 to 255), refused while a migration is active (the channels
     * are opened at its start).
     */
    public synchronized void setMultifdChannels(int channels) {
        if (channels < 1 || channels > IncomingMultifd.MAX_CHANNELS) {
            throw new MigrationException("Parameter 'multifd-channels' expects a value between 1 and "
                    + IncomingMultifd.MAX_CHANNELS);
        }
        if (status.get().isActive()) {
            throw new MigrationException("There's a migration process in progress");
        }
        multifdChannels = channels;
    }

    /**
     * QEMU's multifd-flush-after-each-section (a property QEMU's machine types set): on, the
     * multifd stream has no MULTIFD_FLUSH records and the destination syncs at every EOS, which a
     * QEMU 7.2 destination needs; off, as QEMU 8.0+'s current machine types, the records mark
     * the sync points.
     */
    public synchronized void setMultifdFlushAfterEachSection(boolean on) {
        if (status.get().isActive()) {
            throw new MigrationException("There's a migration process in progress");
        }
        multifdFlushAfterEachSection = on;
    }

    public boolean multifdFlushAfterEachSection() {
        return multifdFlushAfterEachSection;
    }

    /** QEMU's multifd-compression, multifd-zlib-level and multifd-zstd-level. */
    public MultifdCompressionParameters multifdCompression() {
        return multifdCompression;
    }

    /** Sets them; refused while a migration is active (each channel's codec is made at its start). */
    public synchronized void setMultifdCompression(MultifdCompressionParameters parameters) {
        if (status.get().isActive()) {
            throw new MigrationException("There's a migration process in progress");
        }
        multifdCompression = Objects.requireNonNull(parameters, "parameters");
    }

    /** How long the destination may take no bytes (or, at the end, send no verdict) before the migration fails. */
    public void setStallTimeout(Duration limit) {
        stallTimeout = Objects.requireNonNull(limit, "limit");
    }

    /**
     * Resume after a broken link (send --reconnect): when the connection breaks while RAM
     * iterates, the guest runs on and the migration connects to {@code target} again for up to
     * {@code window}; a destination that runs receive --reconnect says where to go on from. Needs
     * the return-path capability and vm-migrate's own sections, not block migration. Null
     * {@code window}: a broken link fails the migration (the default).
     */
    public void setReconnect(Duration window, MigrationUri target, Connector connector) {
        if (status.get().isActive()) {
            throw new MigrationException("reconnect cannot be changed while a migration is active");
        }
        if (window != null) {
            checkResumable(capabilities);
        }
        reconnect = window == null ? null : new PrecopyLoop.Resume(window, Objects.requireNonNull(target, "target"),
                Objects.requireNonNull(connector, "connector"));
    }

    /**
     * send --postcopy-after: switch to postcopy once {@code passes} passes over RAM are done (needs
     * capability postcopy-ram); 0 switches only on {@link #startPostcopy}.
     */
    public void setPostcopyAfter(long passes) {
        if (passes < 0) {
            throw new MigrationException("postcopy-after must be 0 or more passes, not " + passes);
        }
        postcopyAfterPasses = passes;
    }

    /**
     * QEMU's migrate-start-postcopy: the running migration switches to postcopy at its next step
     * (the destination then runs the guest and the rest of RAM follows), refused as QEMU refuses
     * it without postcopy-ram or before a migration started.
     */
    public void startPostcopy() {
        if (!capabilities.has(Capability.POSTCOPY_RAM)) {
            throw new MigrationException("Enable postcopy with migrate_set_capability before the start of migration");
        }
        PrecopyLoop current = loop;
        if (current == null || status.get() == MigrationStatus.NONE) {
            throw new MigrationException("Postcopy must be started after migration has been started");
        }
        current.requestPostcopy();
    }

    /**
     * Whether the destination confirmed on the return path that it loaded the VM; false for a
     * migration without a return path, whose destination's verdict is unknown.
     */
    public boolean destinationConfirmed() {
        PrecopyLoop current = loop;
        return current != null && current.confirmed();
    }

    /**
     * The seeds' qmp_migrate_set_cache_size, allowed at any time: the size is refused as the
     * seeds refuse it (more than the address space or guest RAM, less than a page), rounded down
     * to a power of two of pages, kept for later migrations, and a running migration with
     * XBZRLE gets a cache of that size at once, empty (xbzrle_cache_resize, 2014).
     *
     * @return the size in effect
     */
    public synchronized long setXbzrleCacheSize(long bytes) {
        long size;
        try {
            size = XbzrleCache.validateSize(bytes, ram.totalBytes());
        } catch (IllegalArgumentException e) {
            throw new MigrationException("invalid xbzrle cache size " + bytes + ": " + e.getMessage());
        }
        capabilities = capabilities.withCacheSize(size);
        ram.resizeXbzrleCache(size);
        return size;
    }

    /** The guest throttle auto-converge has set, in percent (query-migrate's cpu-throttle-percentage). */
    public int throttlePercent() {
        PrecopyLoop current = loop;
        return current == null ? 0 : current.throttlePercent();
    }

    public void addListener(MigrationListener listener) {
        listeners.add(listener);
    }

    public void removeListener(MigrationListener listener) {
        listeners.remove(listener);
    }

    /** A reason that makes {@link #start} refuse (the seeds' migrate_add_blocker). */
    public void addBlocker(String reason) {
        blockers.add(reason);
    }

    public void removeBlocker(String reason) {
        blockers.remove(reason);
    }

    public MigrationStatus status() {
        return status.get();
    }

    public MigrationParameters parameters() {
        return parameters;
    }

    /**
     * Sets the parameters. Bandwidth and downtime may change during a migration, as in the seeds
     * (qmp_migrate_set_speed sets the live file's limit whatever it was, unlimited included);
     * the timeout may not.
     */
    public synchronized void setParameters(MigrationParameters next) {
        if (status.get().isActive() && !Objects.equals(next.timeout(), parameters.timeout())) {
            throw new MigrationException("cannot change the timeout while a migration is active");
        }
        parameters = next;
        PrecopyLoop current = loop;
        if (current != null) {
            current.setBandwidth(next.maxBandwidth()); // a finished loop's limit changes nothing
        }
    }

    /**
     * Starts migrating over {@code connection} on a new thread, as qmp_migrate: refuses when a
     * migration is active, when the guest waits for an incoming migration, or when blocked.
     */
    public synchronized void start(Connection connection) {
        start(connection, null);
    }

    /**
     * The same; with capability multifd, {@code channels} opens each multifd channel to the same
     * URI once the main stream's header is out.
     */
    public synchronized void start(Connection connection, OutgoingMultifd.Opener channels) {
        MigrationStatus current = status.get();
        if (current.isActive()) {
            throw new MigrationException("a migration is already in progress");
        }
        if (guest.runState() == RunState.INMIGRATE) {
            throw new MigrationException("guest is waiting for an incoming migration");
        }
        if (!blockers.isEmpty()) {
            throw new MigrationException("migration is blocked: " + blockers.getFirst());
        }
        MigrationCapabilities caps = capabilities;
        if ((caps.has(Capability.RETURN_PATH) || caps.has(Capability.POSTCOPY_RAM)) && !connection.hasBackChannel()) {
            throw new MigrationException("capability " + (caps.has(Capability.RETURN_PATH) ? "return-path" : "postcopy-ram")
                    + " needs a transport with a back channel (tcp: or unix:); " + connection.description()
                    + " has none");
        }
        PrecopyLoop.Resume again = reconnect;
        if (again != null) {
            checkResumable(caps);
        }
        OutgoingMultifd multifd = null;
        if (caps.has(Capability.MULTIFD)) {
            if (channels == null || !connection.hasBackChannel()) {
                throw new MigrationException("capability multifd needs a tcp: or unix: URI (more connections to "
                        + "the same address); " + connection.description() + " has one connection");
            }
            MultifdCompressionParameters compression = multifdCompression;
            multifd = new OutgoingMultifd(multifdChannels, multifdFlushAfterEachSection, id -> compression.encoder());
        }
        ram.sendPagesThrough(multifd);
        ram.configure(new RamSaveOptions(
                caps.has(Capability.XBZRLE) ? XbzrleCache.validateSize(caps.xbzrleCacheSize(), ram.totalBytes()) : 0,
                caps.has(Capability.COMPRESS) ? caps.compressLevel() : null, again != null));
        streams.capabilities().use(caps.enabled(), caps.compressLevel());
        if (streams.block() != null) {
            streams.block().configure(caps.has(Capability.ZERO_BLOCKS));
        }
        ram.stats().reset();
        clock.start(parameters.downtimeLimit().toMillis());
        failure = null;
        failedBeforeStart = false;
        // Under this lock, as setParameters: the loop starts with the limit last set.
        PrecopyLoop next = new PrecopyLoop(owner, new PrecopyLoop.Settings(caps, stallTimeout,
                streams.carriesOwnSections(), streams.digest(), again, postcopyAfterPasses), guest, saveVm, ram,
                connection, clock,
                parameters.maxBandwidth(), multifd, channels);
        CountDownLatch done = new CountDownLatch(1);
        finished = done; // before listeners hear of SETUP: one may wait for the end
        loop = next;
        if (!transition(current, MigrationStatus.SETUP)) {
            throw new MigrationException("a migration is already in progress");
        }
        Thread.ofPlatform().name("migration").daemon().start(() -> {
            try {
                next.run();
            } finally {
                done.countDown();
            }
        });
    }

    /** What resuming needs: the destination's answers (return path) and its token (vm-migrate's sections). */
    private void checkResumable(MigrationCapabilities caps) {
        if (!caps.has(Capability.RETURN_PATH)) {
            throw new MigrationException("reconnect needs capability return-path (the destination says where to "
                    + "resume on it)");
        }
        if (!streams.carriesOwnSections()) {
            throw new MigrationException("reconnect works between two vm-migrate processes only, not towards QEMU "
                    + "(--compat qemu)");
        }
        if (streams.block() != null && streams.block().canSave()) {
            throw new MigrationException("reconnect does not resume block migration (--copy-storage)");
        }
        if (caps.has(Capability.MULTIFD)) {
            throw new MigrationException("reconnect does not resume a multifd migration (its channels)");
        }
    }

    /**
     * The seeds' migrate_fd_error: the transport failed before the migration could start (a
     * refused connection). The status becomes failed as for any failure, so listeners see it
     * with {@code reason} as error-desc, and {@link #info()} is query-migrate's record of a
     * failed migration: the status and error-desc. Refused while a migration is active.
     */
    public synchronized void failBeforeStart(MigrationException reason) {
        MigrationStatus current = status.get();
        if (current.isActive()) {
            throw new MigrationException("a migration is already in progress");
        }
        failure = Objects.requireNonNull(reason, "reason");
        failedBeforeStart = true;
        transition(current, MigrationStatus.FAILED); // under this lock, as start: nothing changed it meanwhile
    }

    /**
     * Why {@link #cancel} would do nothing now although the migration runs, or null: from the
     * switch to postcopy on (paused and recovering included) the guest runs at the destination
     * and needs the pages still here, so cancelling would lose it, not bring it back (QEMU
     * refuses migrate_cancel then too).
     */
    public String cancelRefusal() {
        return status.get().isPostcopy() ? "the migration is in postcopy: the guest runs at the destination, so it "
                + "cannot be cancelled; it ends when the last page is there" : null;
    }

    /**
     * Cancels as the 2014 seed does: setup or active becomes cancelling, then the stream is shut
     * down so a blocked write returns; the migration thread ends in cancelled and the guest runs
     * again. Does nothing once the migration has finished, or in postcopy ({@link #cancelRefusal}).
     */
    public void cancel() {
        while (true) {
            MigrationStatus current = status.get();
            if (current != MigrationStatus.SETUP && current != MigrationStatus.ACTIVE) {
                return;
            }
            if (transition(current, MigrationStatus.CANCELLING)) {
                break;
            }
        }
        PrecopyLoop current = loop;
        if (current != null) {
            current.shutdownLink();
        }
    }

    /** Waits for the migration to finish and returns how it ended. */
    public MigrationStatus awaitFinished() throws InterruptedException {
        finished.await();
        return status.get();
    }

    /** Waits at most {@code limit}; returns the status then. */
    public MigrationStatus awaitFinished(Duration limit) throws InterruptedException {
        finished.await(limit.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        return status.get();
    }

    /** Why the migration failed, or null. */
    public String error() {
        MigrationException why = failure;
        return why == null ? null : why.getMessage();
    }

    /** The failure with its cause (the broken link, the destination's refusal), or null. */
    public MigrationException failure() {
        return failure;
    }

    /** A query-migrate snapshot. */
    public MigrationInfo info() {
        MigrationStatus now = status.get();
        PrecopyLoop current = loop;
        if (now == MigrationStatus.FAILED && failedBeforeStart) {
            return MigrationInfo.of(now.qmpName(), null, error());
        }
        RamStats stats = ram.stats();
        MigrationInfo.Ram ramInfo = null;
        if (now != MigrationStatus.NONE && now != MigrationStatus.SETUP) {
            boolean done = now == MigrationStatus.COMPLETED;
            long transferred = stats.transferredBytes.get();
            long precopy = clock.precopyBytes() < 0 ? transferred : clock.precopyBytes();
            // After a switch to postcopy the guest runs at the destination: no byte is downtime's.
            boolean postcopy = current != null && current.inPostcopy();
            ramInfo = new MigrationInfo.Ram(transferred,
                    done ? 0 : ram.remainingBytes(), ram.totalBytes(),
                    stats.duplicatePages.get(), stats.skippedPages.get(), stats.normalPages.get(),
                    stats.normalBytes.get(), clock.dirtyPagesRate(), clock.mbps(),
                    stats.dirtySyncCount.get(), TargetPage.SIZE, clock.pagesPerSecond(), precopy,
                    postcopy ? 0 : transferred - precopy, current == null ? 0 : current.postcopyRequests(),
                    postcopy ? transferred - precopy : 0, current == null ? 0 : current.multifdBytes());
        }
        boolean active = now == MigrationStatus.ACTIVE || now.isPostcopy() || now == MigrationStatus.CANCELLING;
        MigrationCapabilities caps = capabilities;
        boolean started = ramInfo != null;
        MigrationInfo.XbzrleCache xbzrle = null;
        if (started && caps.has(Capability.XBZRLE)) {
            long attempts = stats.xbzrleAttempts.get();
            xbzrle = new MigrationInfo.XbzrleCache(ram.options().xbzrleCacheBytes(), stats.xbzrleBytes.get(),
                    stats.xbzrlePages.get(), stats.xbzrleCacheMiss.get(),
                    attempts == 0 ? 0 : (double) stats.xbzrleCacheMiss.get() / attempts,
                    // QEMU's encoding-rate: page bytes the XBZRLE pages stand for, per byte sent for them.
                    stats.xbzrleBytes.get() == 0 ? 0
                            : (double) stats.xbzrlePages.get() * TargetPage.SIZE / stats.xbzrleBytes.get(),
                    stats.xbzrleOverflow.get());
        }
        MigrationInfo.Compression compression = null;
        if (started && caps.has(Capability.COMPRESS)) {
            long pages = stats.compressedPages.get();
            compression = new MigrationInfo.Compression(pages, stats.compressedBytes.get(),
                    stats.compressedBytes.get() == 0 ? 0
                            : (double) pages * TargetPage.SIZE / stats.compressedBytes.get());
        }
        BlockMigration block = streams.block();
        MigrationInfo.Disk disk = started && block != null && block.canSave()
                ? new MigrationInfo.Disk(block.stats().transferredBytes.get(), block.stats().remainingBytes(),
                        block.stats().totalBytes.get())
                : null;
        return new MigrationInfo(
                now == MigrationStatus.CANCELLING ? MigrationStatus.ACTIVE.qmpName() : now.qmpName(),
                now == MigrationStatus.NONE ? null : clock.totalTimeMillis(),
                clock.setupTimeMillis(),
                now == MigrationStatus.COMPLETED ? clock.downtimeMillis() : null,
                active ? clock.expectedDowntimeMillis() : null,
                ramInfo,
                disk,
                xbzrle,
                compression,
                started && caps.has(Capability.AUTO_CONVERGE) ? throttlePercent() : null,
                started && current != null ? current.reconnectInfo() : null,
                now == MigrationStatus.FAILED ? error() : null);
    }

    /** Status changes and their notifications happen under one lock, so listeners see them in order. */
    private synchronized boolean transition(MigrationStatus from, MigrationStatus to) {
        if (status.compareAndSet(from, to)) {
            notifyStatus(to);
            return true;
        }
        return false;
    }

    private void fail(MigrationException reason) {
        while (true) {
            MigrationStatus current = status.get();
            if (current.isFinished() || current == MigrationStatus.CANCELLING) {
                return; // already over, or a cancel won: the loop ends it as cancelled
            }
            MigrationException previous = failure;
            if (previous == null) {
                failure = reason;
            }
            if (transition(current, MigrationStatus.FAILED)) {
                return;
            }
            failure = previous;
        }
    }

    private void notifyStatus(MigrationStatus to) {
        MigrationInfo info = info();
        for (MigrationListener listener : new ArrayList<>(listeners)) {
            listener.statusChanged(to, info);
        }
    }
}
