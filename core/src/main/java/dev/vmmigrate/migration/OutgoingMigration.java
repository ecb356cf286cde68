package dev.vmmigrate.migration;

import dev.vmmigrate.ownsections.Capability;

import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.ram.RamSaveOptions;
import dev.vmmigrate.ram.XbzrleCache;
import dev.vmmigrate.ram.RamStats;
import dev.vmmigrate.savevm.SaveVm;
import dev.vmmigrate.stream.MigrationOutput;
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
 * parameters, and the thread that runs {@link PrecopyLoop}.
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
    private volatile int throttlePercent;
    private volatile MigrationOutput output;
    private volatile java.time.Duration stallTimeout = IncomingMigration.DEFAULT_STALL_TIMEOUT;
    private volatile PrecopyLoop loop;
    private volatile String error;
    /** The last migration failed before it started ({@link #failBeforeStart}): no figures to report. */
    private volatile boolean failedBeforeStart;
    /** Orders setParameters' limit against the switchover lifting it. */
    private final Object rateLimitLock = new Object();
    /** The switchover sends the rest unlimited: a new limit must not slow it down. Guarded by rateLimitLock. */
    private boolean rateLimitLifted;
    /** send --reconnect: how long to try to resume a broken link, and where; null window: never. */
    private volatile java.time.Duration reconnectWindow;
    private volatile MigrationUri reconnectTarget;
    private volatile Connector reconnectConnector;
    private final java.util.concurrent.atomic.AtomicLong reconnects = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong resentBytes = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong linkDownNanos = new java.util.concurrent.atomic.AtomicLong();

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

    /** How long the destination may take no bytes (or, at the end, send no verdict) before the migration fails. */
    public void setStallTimeout(java.time.Duration limit) {
        stallTimeout = Objects.requireNonNull(limit, "limit");
    }

    java.time.Duration stallTimeout() {
        return stallTimeout;
    }

    /**
     * Resume after a broken link (send --reconnect): when the connection breaks while RAM
     * iterates, the guest runs on and the migration connects to {@code target} again for up to
     * {@code window}; a destination that runs receive --reconnect says where to go on from. Needs
     * the return-path capability and vm-migrate's own sections, not block migration. Null
     * {@code window}: a broken link fails the migration (the default).
     */
    public void setReconnect(java.time.Duration window, MigrationUri target, Connector connector) {
        if (status.get().isActive()) {
            throw new MigrationException("reconnect cannot be changed while a migration is active");
        }
        if (window != null) {
            checkResumable(capabilities);
        }
        reconnectWindow = window;
        reconnectTarget = window == null ? null : Objects.requireNonNull(target, "target");
        reconnectConnector = window == null ? null : Objects.requireNonNull(connector, "connector");
    }

    java.time.Duration reconnectWindow() {
        return reconnectWindow;
    }

    MigrationUri reconnectTarget() {
        return reconnectTarget;
    }

    Connector reconnectConnector() {
        return reconnectConnector;
    }

    /** The loop goes on over a new link: it gets this migration's rate limit, and the counters count it. */
    void relinked(MigrationOutput next, long resent, long downNanos) {
        synchronized (rateLimitLock) {
            next.setRateLimit(rateLimitLifted ? Long.MAX_VALUE : PrecopyLoop.windowAllowance(parameters.maxBandwidth()));
            output = next;
        }
        reconnects.incrementAndGet();
        resentBytes.addAndGet(resent);
        linkDownNanos.addAndGet(downNanos);
    }

    void linkChanged(boolean up, String detail) {
        for (MigrationListener listener : listeners) {
            listener.linkChanged(up, detail);
        }
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
        return throttlePercent;
    }

    /** Whether the stream carries vm-migrate's own sections (the destination is vm-migrate). */
    boolean carriesOwnSections() {
        return streams.carriesOwnSections();
    }

    /** Time the switchover spends besides sending data: the digest, when the stream carries one. */
    long switchoverCostMillis() {
        return streams.carriesOwnSections() ? streams.digest().estimateMillis() : 0;
    }

    /** The guest has stopped for the switchover: the digest starts beside the last pages. */
    void switchoverBegins() {
        clock.switchover(ram.stats().transferredBytes.get());
        if (streams.carriesOwnSections()) {
            streams.digest().beginSwitchover();
        }
    }

    void switchoverEnded() {
        streams.digest().endSwitchover();
    }

    void throttle(int percent) {
        throttlePercent = percent;
        guest.workload().setThrottlePercent(percent);
    }

    /** The guest runs at full speed again; the stats keep the throttle it had at the end. */
    void releaseThrottle() {
        guest.workload().setThrottlePercent(0);
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
    public void setParameters(MigrationParameters next) {
        if (status.get().isActive() && !Objects.equals(next.timeout(), parameters.timeout())) {
            throw new MigrationException("cannot change the timeout while a migration is active");
        }
        parameters = next;
        synchronized (rateLimitLock) {
            MigrationOutput out = output;
            if (out != null && !rateLimitLifted) {
                out.setRateLimit(PrecopyLoop.windowAllowance(next.maxBandwidth()));
            }
        }
    }

    /** The switchover: the rest goes unlimited, as the seeds' qemu_file_set_rate_limit(INT64_MAX). */
    void liftRateLimit() {
        synchronized (rateLimitLock) {
            rateLimitLifted = true;
            output.setRateLimit(Long.MAX_VALUE);
        }
    }

    /**
     * Starts migrating over {@code connection} on a new thread, as qmp_migrate: refuses when a
     * migration is active, when the guest waits for an incoming migration, or when blocked.
     */
    public synchronized void start(Connection connection) {
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
        if (caps.has(Capability.RETURN_PATH) && !connection.hasBackChannel()) {
            throw new MigrationException("capability return-path needs a transport with a back channel (tcp: or "
                    + "unix:); " + connection.description() + " has none");
        }
        boolean resumable = reconnectWindow != null;
        if (resumable) {
            checkResumable(caps);
        }
        ram.configure(new RamSaveOptions(
                caps.has(Capability.XBZRLE) ? XbzrleCache.validateSize(caps.xbzrleCacheSize(), ram.totalBytes()) : 0,
                caps.has(Capability.COMPRESS) ? caps.compressLevel() : null, resumable));
        reconnects.set(0);
        resentBytes.set(0);
        linkDownNanos.set(0);
        streams.capabilities().use(caps.enabled(), caps.compressLevel());
        throttlePercent = 0;
        if (streams.block() != null) {
            streams.block().configure(caps.has(Capability.ZERO_BLOCKS));
        }
        ram.stats().reset();
        throttlePercent = 0;
        MigrationOutput out = new MigrationOutput(connection.output(), connection::shutdown);
        CountDownLatch done = new CountDownLatch(1);
        // Under the lock status changes take: a cancel sees this migration's output or none.
        finished = done;
        clock.start(parameters.downtimeLimit().toMillis());
        error = null;
        failedBeforeStart = false;
        synchronized (rateLimitLock) { // a concurrent setParameters limits this output, or is read here
            out.setRateLimit(PrecopyLoop.windowAllowance(parameters.maxBandwidth()));
            rateLimitLifted = false;
            output = out;
        }
        if (!transition(current, MigrationStatus.SETUP)) {
            throw new MigrationException("a migration is already in progress");
        }
        PrecopyLoop loop = new PrecopyLoop(this, guest, saveVm, ram, output, connection, clock);
        this.loop = loop;
        Thread.ofPlatform().name("migration").daemon().start(() -> {
            try {
                loop.run();
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
    }

    /**
     * The seeds' migrate_fd_error: the transport failed before the migration could start (a
     * refused connection). The status becomes failed as for any failure, so listeners see it
     * with {@code reason} as error-desc, and {@link #info()} is query-migrate's record of a
     * failed migration: the status and error-desc. Refused while a migration is active.
     */
    public synchronized void failBeforeStart(String reason) {
        MigrationStatus current = status.get();
        if (current.isActive()) {
            throw new MigrationException("a migration is already in progress");
        }
        error = Objects.requireNonNull(reason, "reason");
        failedBeforeStart = true;
        transition(current, MigrationStatus.FAILED); // under this lock, as start: nothing changed it meanwhile
    }

    /**
     * Cancels as the 2014 seed does: setup or active becomes cancelling, then the stream is shut
     * down so a blocked write returns; the migration thread ends in cancelled and the guest runs
     * again. Does nothing once the migration has finished.
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
        MigrationOutput out = output;
        if (out != null) {
            out.shutdown();
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
        return error;
    }

    /** A query-migrate snapshot. */
    public MigrationInfo info() {
        MigrationStatus now = status.get();
        if (now == MigrationStatus.FAILED && failedBeforeStart) {
            return MigrationInfo.of(now.qmpName(), null, error);
        }
        RamStats stats = ram.stats();
        MigrationInfo.Ram ramInfo = null;
        if (now != MigrationStatus.NONE && now != MigrationStatus.SETUP) {
            boolean done = now == MigrationStatus.COMPLETED;
            long transferred = stats.transferredBytes.get();
            long precopy = clock.precopyBytes() < 0 ? transferred : clock.precopyBytes();
            ramInfo = new MigrationInfo.Ram(transferred,
                    done ? 0 : ram.remainingBytes(), ram.totalBytes(),
                    stats.duplicatePages.get(), stats.skippedPages.get(), stats.normalPages.get(),
                    stats.normalBytes.get(), clock.dirtyPagesRate(), clock.mbps(),
                    stats.dirtySyncCount.get(), TargetPage.SIZE, clock.pagesPerSecond(), precopy,
                    transferred - precopy);
        }
        boolean active = now == MigrationStatus.ACTIVE || now == MigrationStatus.CANCELLING;
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
                started && caps.has(Capability.AUTO_CONVERGE) ? throttlePercent : null,
                started && reconnectWindow != null ? new MigrationInfo.Reconnect(reconnects.get(), resentBytes.get(),
                        linkDownNanos.get() / 1_000_000) : null,
                now == MigrationStatus.FAILED ? error : null);
    }

    // --- used by PrecopyLoop ---

    /** Status changes and their notifications happen under one lock, so listeners see them in order. */
    synchronized boolean transition(MigrationStatus from, MigrationStatus to) {
        if (status.compareAndSet(from, to)) {
            notifyStatus(to);
            return true;
        }
        return false;
    }

    void fail(String reason) {
        while (true) {
            MigrationStatus current = status.get();
            if (current.isFinished() || current == MigrationStatus.CANCELLING) {
                return; // already over, or a cancel won: the loop ends it as cancelled
            }
            String previous = error;
            if (previous == null) {
                error = reason;
            }
            if (transition(current, MigrationStatus.FAILED)) {
                return;
            }
            error = previous;
        }
    }

    void notifyPass(long pass) {
        for (MigrationListener listener : listeners) {
            listener.passStarted(pass);
        }
    }

    private void notifyStatus(MigrationStatus to) {
        MigrationInfo info = info();
        for (MigrationListener listener : new ArrayList<>(listeners)) {
            listener.statusChanged(to, info);
        }
    }
}
