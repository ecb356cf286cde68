package dev.vmmigrate.migration;

import dev.vmmigrate.ownsections.Capability;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.multifd.MultifdInit;
import dev.vmmigrate.multifd.OutgoingMultifd;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.returnpath.SourceReturnPath;
import dev.vmmigrate.savevm.MigrationCommand;
import dev.vmmigrate.savevm.PostcopyDiscard;
import dev.vmmigrate.savevm.SaveVm;
import dev.vmmigrate.stream.StallWatchdog;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.ownsections.IntegrityDigest;
import dev.vmmigrate.transport.MigrationUri;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The seeds' migration_thread: setup, then while active either iterate (pending at or above the
 * threshold the measured bandwidth allows within the downtime limit) or complete (stop the guest,
 * lift the rate limit, send the rest and the devices). Bandwidth is measured per 100 ms window,
 * and the rate limit allows max-bandwidth / 10 bytes a window.
 */
final class PrecopyLoop {
    /** The seeds' BUFFER_DELAY: the window bandwidth is measured and limited over. */
    static final long WINDOW_MILLIS = 100;
    /** The seeds ignore a window that moved fewer bytes than this when estimating downtime. */
    private static final long MIN_BYTES_FOR_ESTIMATE = 10_000;
    /** Postcopy's background pages go in rounds of this much, with the requested ones between. */
    private static final long POSTCOPY_CHUNK = 256 << 10;
    /** QEMU's MAX_DISCARDS_PER_COMMAND: ranges in one POSTCOPY_RAM_DISCARD. */
    private static final int DISCARDS_PER_COMMAND = 12;
    /** How a failure after the switch begins: what this side holds then. */
    private static final String POSTCOPY_FAILED = "postcopy failed after the destination started the guest, so it "
            + "stays stopped here with its RAM as it was at the switch (unless the destination got every page, "
            + "neither side has the whole guest now): ";
    /**
     * The same failure once the stream's end went out: sent is not arrived, so only the
     * destination knows whether it completed.
     */
    private static final String POSTCOPY_UNCONFIRMED = "postcopy: every page went out but the destination's verdict "
            + "never came: it may have completed and run the guest, or failed if the last pages were lost on the way "
            + "(check it there); the guest stays stopped here: ";

    /**
     * What the loop needs from the migration it runs for, and all it tells it: the seeds'
     * MigrationState as migration_thread sees it.
     */
    interface Owner {
        MigrationStatus status();

        /** Compare-and-set of the status, which listeners then see. */
        boolean advance(MigrationStatus from, MigrationStatus to);

        /** The migration failed; nothing changes once it ended or a cancel won. */
        void fail(MigrationException failure);

        void passStarted(long pass);

        void linkChanged(boolean up, String detail);

        /** Read as the loop goes: the downtime limit and the timeout. */
        MigrationParameters parameters();
    }

    /**
     * What stays fixed for one migration, taken at its start.
     *
     * @param ownSections the stream carries vm-migrate's own sections (the destination is vm-migrate)
     * @param digest the end-to-end digest, computed beside the switchover when the stream carries it
     * @param resume where and how long to reconnect after a broken link (send --reconnect), or null
     * @param postcopyAfterPasses with postcopy-ram: switch to postcopy once this many passes are
     *     done (send --postcopy-after); 0: only when asked ({@link #requestPostcopy})
     */
    record Settings(MigrationCapabilities capabilities, Duration stallTimeout, boolean ownSections,
                    IntegrityDigest digest, Resume resume, long postcopyAfterPasses) {
    }

    /** send --reconnect: connect to {@code target} again for up to {@code window}. */
    record Resume(Duration window, MigrationUri target, Connector connector) {
    }

    private final Owner owner;
    private final Settings settings;
    private final Guest guest;
    private final SaveVm saveVm;
    private final RamHandler ram;
    /** The stream's current link: a resumed migration replaces both. */
    private volatile MigrationOutput out;
    private Connection connection;
    private final MigrationClock clock;
    private final RateLimiter rateLimiter;
    private final long switchoverCostMillis;
    /** Whether to open QEMU's return path and wait for the destination's verdict. */
    private final boolean useReturnPath;
    private volatile SourceReturnPath returnPath;
    private StallWatchdog watchdog;
    /** Reconnects after a broken link (send --reconnect); null when a broken link fails the migration. */
    private final SourceResume resume;
    /** What a new connection presents to resume this migration (send --reconnect), sent at setup. */
    private final long resumeToken = newToken();
    /** Whether the destination echoed the token on the first link's return path: it resumes. */
    private boolean resumeConfirmed;
    private volatile boolean postcopyRequested;
    /** The switch to postcopy happened: from then on the guest may run at the destination only. */
    private volatile boolean inPostcopy;
    /** The END and EOF after the last page went out: a failure from here on lost the verdict only. */
    private volatile boolean streamEnded;
    /** The guest throttle auto-converge has set, in percent. */
    private volatile int throttlePercent;
    private final AtomicLong reconnects = new AtomicLong();
    private final AtomicLong postcopyRequests = new AtomicLong();
    private final AtomicLong resentBytes = new AtomicLong();
    private final AtomicLong linkDownNanos = new AtomicLong();
    /** QEMU's multifd channels carrying the whole pages, or null; opened after the main stream's header. */
    private final OutgoingMultifd multifd;
    private final OutgoingMultifd.Opener multifdOpener;

    /**
     * @param bandwidth the limit to start with, in bytes per second ({@link #setBandwidth} changes it)
     */
    PrecopyLoop(Owner owner, Settings settings, Guest guest, SaveVm saveVm, RamHandler ram, Connection connection,
                MigrationClock clock, long bandwidth) {
        this(owner, settings, guest, saveVm, ram, connection, clock, bandwidth, null, null);
    }

    /**
     * @param multifd the channels the RAM section hands its whole pages to (already given to
     *     {@code ram}), or null
     * @param multifdOpener opens each of them, after the main stream's header
     */
    PrecopyLoop(Owner owner, Settings settings, Guest guest, SaveVm saveVm, RamHandler ram, Connection connection,
                MigrationClock clock, long bandwidth, OutgoingMultifd multifd, OutgoingMultifd.Opener multifdOpener) {
        this.multifd = multifd;
        this.multifdOpener = multifdOpener;
        this.owner = owner;
        this.settings = settings;
        this.guest = guest;
        this.saveVm = saveVm;
        this.ram = ram;
        this.connection = connection;
        this.out = new MigrationOutput(connection.output(), this::shutdownMainAndChannels);
        if (multifd != null) {
            // A channel that breaks wakes the migration thread wherever it waits (a destination
            // waiting for that channel at a sync point stops reading the main stream too).
            multifd.onFailure(connection::shutdown);
        }
        this.clock = clock;
        this.rateLimiter = new RateLimiter(bandwidth);
        rateLimiter.attach(out);
        // Postcopy asks for pages on the return path: QEMU opens it for postcopy-ram too.
        this.useReturnPath = settings.capabilities().has(Capability.RETURN_PATH) || postcopyRam();
        // With a return path the switchover also waits for the destination's verdict, which
        // comes after its own digest of what it loaded; a destination loading into fresh memory
        // combines the CRCs it took of each page as it wrote it (PageCrcs), a millisecond a
        // GiB, so only the source's digest is counted.
        this.switchoverCostMillis = settings.ownSections() ? settings.digest().estimateMillis() : 0;
        Resume again = settings.resume();
        this.resume = again == null ? null : new SourceResume(again.target(), again.connector(), again.window(),
                settings.stallTimeout(), () -> owner.status() == MigrationStatus.ACTIVE || owner.status().isPostcopy());
    }

    private boolean postcopyRam() {
        return settings.capabilities().has(Capability.POSTCOPY_RAM);
    }

    /** QEMU's migrate-start-postcopy: the loop switches at its next step. */
    void requestPostcopy() {
        postcopyRequested = true;
    }

    /** The seeds' qmp_migrate_set_speed on a running migration: the next window has the new limit. */
    void setBandwidth(long bytesPerSecond) {
        rateLimiter.setBandwidth(bytesPerSecond);
    }

    private void shutdownMainAndChannels() {
        connection.shutdown();
        if (multifd != null) {
            multifd.shutdown();
        }
    }

    /** Wakes a write blocked on the current link (a cancel): the loop then ends. */
    void shutdownLink() {
        out.shutdown();
    }

    /** The guest throttle auto-converge has set, in percent (query-migrate's cpu-throttle-percentage). */
    int throttlePercent() {
        return throttlePercent;
    }

    /** The reconnect counters of query-migrate, or null when this migration does not resume. */
    MigrationInfo.Reconnect reconnectInfo() {
        return resume == null ? null
                : new MigrationInfo.Reconnect(reconnects.get(), resentBytes.get(), linkDownNanos.get() / 1_000_000);
    }

    void run() {
        boolean wasRunning = guest.runState() == RunState.RUNNING;
        boolean completed = false;
        watchdog = newWatchdog();
        try {
            completed = migrate();
        } catch (ResumeFailed e) {
            // Says what broke and why it could not resume.
            owner.fail(new MigrationException(inPostcopy ? postcopyFailed() + e.getMessage() : e.getMessage(),
                    e.getCause()));
        } catch (IOException | RuntimeException e) {
            IOException channelFailure = multifd == null ? null : multifd.failure();
            String why = watchdog.stalled() ? watchdog.describe("the destination took no bytes and sent none")
                    : channelFailure != null ? channelFailure.getMessage() : explain(e);
            owner.fail(new MigrationException(inPostcopy ? postcopyFailed() + why : why, e));
        } finally {
            watchdog.close();
            closeChannels(completed);
            finish(completed, wasRunning);
        }
    }

    /** Ends the multifd channels: their last bytes went out before the last sync point. */
    private void closeChannels(boolean completed) {
        if (multifd == null) {
            return;
        }
        if (!completed) {
            multifd.shutdown();
        }
        try {
            multifd.close();
        } catch (IOException e) {
            // the destination confirmed (or was sent) everything already; nothing depends on the close
        }
    }

    /** A destination that takes no bytes (and, waiting for its verdict, sends none) on this link is a stall. */
    private StallWatchdog newWatchdog() {
        MigrationOutput linkOut = out;
        Connection link = connection;
        return new StallWatchdog(settings.stallTimeout(), () -> linkOut.transferred() + (returnPath == null ? 0
                : returnPath.lastHeardNanos()), linkOut::position, () -> {
                    link.shutdown();
                    if (multifd != null) {
                        multifd.shutdown();
                    }
                });
    }

    private static long newToken() {
        long token;
        do {
            token = new java.security.SecureRandom().nextLong();
        } while (token == 0);
        return token;
    }

    private boolean migrate() throws IOException {
        long setupStart = System.nanoTime();
        saveVm.setup(out, header -> {
            if (multifd != null) {
                // The channels follow the main stream's header, as QEMU opens them after the
                // main channel: a destination that tells them apart by their first bytes has it.
                header.flush();
                multifd.connect(multifdOpener, new byte[MultifdInit.UUID_BYTES]); // QEMU's qemu_uuid without -uuid
            }
            if (useReturnPath) {
                // As QEMU's migration_thread, right after the header: the destination opens its end,
                // and a PING checks it. Ours carries a value that tells a vm-migrate destination who
                // sends (QEMU's destination answers any value alike).
                SaveVm.writeCommand(header, MigrationCommand.OPEN_RETURN_PATH, new byte[0]);
                if (resume != null) {
                    // Before the PING: a destination that resumes echoes it before the PONG.
                    SaveVm.writeCommand(header, MigrationCommand.VM_MIGRATE_RESUMABLE,
                            java.nio.ByteBuffer.allocate(8).putLong(resumeToken).array());
                }
                SaveVm.writeCommand(header, MigrationCommand.PING, java.nio.ByteBuffer.allocate(4)
                        .putInt(settings.ownSections() ? Handoff.VM_MIGRATE_SOURCE : 1).array());
                if (postcopyRam()) {
                    // As QEMU's migration_thread: the destination learns early that postcopy may
                    // come (be64 host page size summary, be64 target page size) and can refuse now.
                    SaveVm.writeCommand(header, MigrationCommand.POSTCOPY_ADVISE, java.nio.ByteBuffer.allocate(16)
                            .putLong(TargetPage.SIZE).putLong(TargetPage.SIZE).array());
                }
                returnPath = new SourceReturnPath(connection.input());
            }
        });
        clock.setupDone((System.nanoTime() - setupStart) / 1_000_000);
        if (!owner.advance(MigrationStatus.SETUP, MigrationStatus.ACTIVE)) {
            return false; // cancelled during setup
        }
        long windowStart = System.currentTimeMillis();
        long windowBytes = out.transferred();
        long windowPages = sentPages();
        long maxSize = 0;
        long passes = ram.stats().dirtySyncCount.get();
        long lastSyncCount = passes;
        long lastSyncTime = windowStart;
        long lastSyncBytes = out.transferred();
        AutoConverge autoConverge = settings.capabilities().has(Capability.AUTO_CONVERGE) ? new AutoConverge() : null;
        owner.passStarted(passes);
        out.resetRateLimit();
        while (owner.status() == MigrationStatus.ACTIVE) {
            checkTimeout(); // not a broken link: outside what a reconnect may retry
            try {
                if (!out.isRateLimited()) {
                    long pending = saveVm.pending(maxSize);
                    long syncs = ram.stats().dirtySyncCount.get();
                    if (syncs != lastSyncCount) {
                        long now = System.currentTimeMillis();
                        long elapsed = Math.max(1, now - lastSyncTime);
                        long dirtied = ram.stats().lastSyncDirtyPages.get();
                        clock.dirtyPagesRate(dirtied * 1000 / elapsed);
                        if (autoConverge != null) {
                            int throttle = autoConverge.next(dirtied * TargetPage.SIZE,
                                    out.transferred() - lastSyncBytes, throttlePercent);
                            if (throttle != throttlePercent) {
                                throttle(throttle);
                            }
                        }
                        lastSyncCount = syncs;
                        lastSyncTime = now;
                        lastSyncBytes = out.transferred();
                        owner.passStarted(syncs);
                    }
                    if (postcopyRam() && pending > 0 && (postcopyRequested || (settings.postcopyAfterPasses() > 0
                            && syncs > settings.postcopyAfterPasses() && pending >= maxSize))) {
                        return postcopy(); // asked for, or the passes are done and the rest does not fit
                    }
                    if (pending > 0 && pending >= maxSize) {
                        saveVm.iterate(out);
                    } else {
                        break; // the switchover: from here a broken link fails the migration
                    }
                }
                if (returnPath != null && returnPath.verdictNow() instanceof SourceReturnPath.Verdict.Refused refused) {
                    throw new IOException(refused.reason());
                }
                long now = System.currentTimeMillis();
                if (now >= windowStart + WINDOW_MILLIS) {
                    long transferred = out.transferred() - windowBytes;
                    long spent = now - windowStart;
                    double bytesPerMilli = (double) transferred / spent;
                    maxSize = (long) (bytesPerMilli * transferBudgetMillis());
                    clock.mbps(transferred * 8.0 / (spent / 1000.0) / 1e6);
                    clock.pagesPerSecond((sentPages() - windowPages) * 1000 / spent);
                    windowPages = sentPages();
                    long dirtyBytesRate = clock.dirtyPagesRate() * TargetPage.SIZE;
                    if (dirtyBytesRate > 0 && transferred > MIN_BYTES_FOR_ESTIMATE) {
                        // The seeds' dirty_bytes_rate / bandwidth, bandwidth in bytes per ms.
                        clock.expectedDowntime((long) (dirtyBytesRate / bytesPerMilli));
                    }
                    out.nextRateLimitWindow();
                    // A window begins 100 ms after the last one began, not when the loop woke up:
                    // waking late would stretch every window and run under the limit. A loop more
                    // than a window behind (a long iteration) starts afresh.
                    windowStart = now - windowStart < 2 * WINDOW_MILLIS ? windowStart + WINDOW_MILLIS : now;
                    windowBytes = out.transferred();
                }
                if (out.isRateLimited() && out.error() == null) {
                    sleep(windowStart + WINDOW_MILLIS - now);
                }
                if (out.error() != null) {
                    throw out.error();
                }
            } catch (IOException e) {
                relink(e);
                windowStart = System.currentTimeMillis();
                windowBytes = out.transferred();
                windowPages = sentPages();
                lastSyncBytes = out.transferred();
                out.resetRateLimit();
            }
        }
        return owner.status() == MigrationStatus.ACTIVE && complete();
    }

    /**
     * The link broke while RAM iterated, or in the switchover before the destination read its
     * END: with --reconnect, connects again and goes on where the destination says it got to, the
     * pages it may lack dirty again; the guest runs on meanwhile (stays stopped in the switchover).
     * Throws {@code cause} (or the destination's reason) when the migration cannot resume.
     */
    private void relink(IOException cause) throws IOException {
        checkDestinationResumes(cause);
        if (resume == null || owner.status() != MigrationStatus.ACTIVE) {
            throw cause;
        }
        long lostAt = out.position();
        String why = dropLink(cause);
        long downSince = System.nanoTime();
        owner.linkChanged(false, "link to the destination lost at stream offset " + lostAt + " (" + why
                + "); reconnecting for up to " + resume.window().toSeconds() + " s, the guest "
                + (guest.runState() == RunState.RUNNING ? "runs on" : "stays stopped"));
        SourceResume.Relinked relinked = resume.reconnect(resumeToken, lostAt, null);
        if (relinked == null) {
            throw new ResumeFailed(why + (owner.status() != MigrationStatus.ACTIVE ? ""
                    : ", and the destination could not be reached again within " + resume.window().toSeconds() + " s"
                            + (resumeConfirmed ? "" : " (it had not said it resumes: was it started with --reconnect?)")),
                    cause);
        }
        long redirtied;
        try {
            redirtied = ram.resume(relinked.point().offset(), relinked.point().received());
        } catch (IllegalArgumentException e) {
            relinked.connection().shutdown();
            throw new ResumeFailed("cannot resume: " + e.getMessage(), e);
        }
        useLink(relinked);
        resentBytes.addAndGet(lostAt - relinked.point().offset());
        linkDownNanos.addAndGet(System.nanoTime() - downSince);
        owner.linkChanged(true, "link to the destination resumed at stream offset "
                + relinked.point().offset() + ": " + (lostAt - relinked.point().offset()) + " bytes to send again, "
                + redirtied + " pages dirty again");
    }

    /** Throws when the first link showed a destination that does not resume (a PONG without the token's echo). */
    private void checkDestinationResumes(IOException cause) throws IOException {
        if (returnPath != null && !resumeConfirmed) {
            resumeConfirmed = returnPath.resumeToken() == resumeToken;
            if (!resumeConfirmed && returnPath.pongs() > 0 && resume != null) {
                // The echo comes before the PONG: a PONG alone means a destination that does not resume.
                throw new ResumeFailed(explain(cause) + " (the destination was not started with --reconnect, so the "
                        + "migration cannot resume)", cause);
            }
        }
    }

    /**
     * Gives the broken link up; returns why it broke, in the link's own words. Throws when the
     * destination said it gave up: then it is not the link, and nothing resumes.
     */
    private String dropLink(IOException cause) throws IOException {
        String why = watchdog.stalled() ? watchdog.describe("the destination took no bytes and sent none")
                : explain(cause);
        if (returnPath.verdictNow() instanceof SourceReturnPath.Verdict.Refused refused && refused.said()) {
            throw new IOException(refused.reason(), cause); // the destination gave up: not the link
        }
        if (!watchdog.stalled() && returnPath.brokenBecause() != null) {
            why = returnPath.brokenBecause(); // the link's own words, not "closed the return path"
        }
        watchdog.close();
        connection.shutdown();
        returnPath.close();
        try {
            connection.close();
        } catch (IOException ignored) {
            // the link is gone either way
        }
        return why;
    }

    /** Takes {@code relinked} as the stream's link from now on. */
    private void useLink(SourceResume.Relinked relinked) {
        out = relinked.out();
        connection = relinked.connection();
        returnPath = relinked.returnPath();
        rateLimiter.attach(out);
        reconnects.incrementAndGet();
        watchdog = newWatchdog();
    }

    /**
     * The link broke after the switch to postcopy, with --reconnect (QEMU's postcopy_pause and
     * postcopy_do_resume): postcopy-paused, the guest here stays stopped with every page; connects
     * again within the window and recovers as QEMU: RECV_BITMAP for each RAM block, every page the
     * destination lacks to send again, POSTCOPY_RESUME, and postcopy-active again at its
     * RESUME_ACK. The destination then asks again for the pages its guest waits for. Throws
     * {@code cause} (or why it cannot resume) when it cannot.
     */
    private void recoverPostcopy(IOException cause) throws IOException {
        checkDestinationResumes(cause);
        while (true) {
            MigrationStatus now = owner.status();
            if (resume == null || !now.isPostcopy() || now == MigrationStatus.POSTCOPY_PAUSED
                    || !owner.advance(now, MigrationStatus.POSTCOPY_PAUSED)) {
                throw cause;
            }
            long lostAt = out.position();
            String why = dropLink(cause);
            streamEnded = false; // the pages the destination lacks go again, then the END again
            long downSince = System.nanoTime();
            owner.linkChanged(false, "link to the destination lost after the switch to postcopy, at stream offset "
                    + lostAt + " (" + why + "); postcopy paused, the guest stays stopped here with every page; "
                    + "reconnecting for up to " + resume.window().toSeconds() + " s");
            SourceResume.Relinked relinked = resume.reconnect(resumeToken, lostAt, ram.blockIds());
            if (relinked == null) {
                throw new ResumeFailed(why + ", and the destination could not be reached again within "
                        + resume.window().toSeconds() + " s", cause);
            }
            long lost;
            try {
                lost = ram.reloadFromReceived(relinked.point().received());
            } catch (IllegalArgumentException e) {
                relinked.connection().shutdown();
                throw new ResumeFailed("cannot resume postcopy: " + e.getMessage(), e);
            }
            useLink(relinked);
            resentBytes.addAndGet(lost * TargetPage.SIZE);
            owner.advance(MigrationStatus.POSTCOPY_PAUSED, MigrationStatus.POSTCOPY_RECOVER);
            try {
                SaveVm.writeCommand(out, MigrationCommand.POSTCOPY_RESUME, new byte[0]);
                out.flush();
                awaitResumeAck();
            } catch (IOException again) {
                linkDownNanos.addAndGet(System.nanoTime() - downSince);
                cause = again; // broke again in the handshake: pause and reconnect anew
                continue;
            }
            linkDownNanos.addAndGet(System.nanoTime() - downSince);
            owner.advance(MigrationStatus.POSTCOPY_RECOVER, MigrationStatus.POSTCOPY_ACTIVE);
            owner.linkChanged(true, "postcopy resumed on a new link at stream offset " + lostAt + ": "
                    + ram.remainingBytes() / TargetPage.SIZE + " pages the destination lacks to send, " + lost
                    + " of them sent before and lost with the old link");
            return;
        }
    }

    /** Waits for the destination's RESUME_ACK on the new link, as long as the link does not stall. */
    private void awaitResumeAck() throws IOException {
        try {
            while (!returnPath.awaitResumeAck(java.time.Duration.ofMillis(WINDOW_MILLIS))) {
                if (watchdog.stalled()) {
                    throw new IOException(watchdog.describe("the destination sent no RESUME_ACK"));
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while waiting for the destination's RESUME_ACK");
        }
    }

    /** Pages sent so far, whatever their record (QEMU counts every page ram_save_page sends). */
    private long sentPages() {
        var stats = ram.stats();
        return stats.normalPages.get() + stats.duplicatePages.get() + stats.xbzrlePages.get();
    }

    /**
     * The part of the downtime limit left for sending data once the switchover's fixed costs
     * (the digest) are paid; at least a tenth of the limit so the migration can still converge.
     */
    private long transferBudgetMillis() {
        long limit = owner.parameters().downtimeLimit().toMillis();
        return Math.max(limit / 10, limit - switchoverCostMillis);
    }

    /** A broken link that could not be resumed; the message says both. */
    private static final class ResumeFailed extends IOException {
        ResumeFailed(String message, Throwable cause) {
            super(message, cause);
        }
    }

    /**
     * The switch to postcopy (QEMU's postcopy_start): stops the guest, tells the destination to
     * drop the pages dirtied since it got them (POSTCOPY_RAM_DISCARD), sends the device state as
     * one PACKAGED blob ending in POSTCOPY_RUN, after which the destination runs the guest; then
     * sends what it asks for first and the rest in the background, unlimited, and ends as QEMU's
     * qemu_savevm_state_complete_postcopy. From the switch on a failure cannot give the guest
     * back here: the destination may have run it.
     */
    private boolean postcopy() throws IOException {
        long stopStart = System.currentTimeMillis();
        guest.stop(RunState.FINISH_MIGRATE);
        rateLimiter.chunked(POSTCOPY_CHUNK);
        clock.switchover(ram.stats().transferredBytes.get());
        if (!owner.advance(MigrationStatus.ACTIVE, MigrationStatus.POSTCOPY_ACTIVE)) {
            return false; // cancelled meanwhile: nothing was switched
        }
        inPostcopy = true;
        for (var block : ram.postcopyDiscards().entrySet()) {
            List<PostcopyDiscard.Range> runs = block.getValue();
            for (int from = 0; from < runs.size(); from += DISCARDS_PER_COMMAND) {
                SaveVm.writeCommand(out, MigrationCommand.POSTCOPY_RAM_DISCARD, new PostcopyDiscard(block.getKey(),
                        runs.subList(from, Math.min(runs.size(), from + DISCARDS_PER_COMMAND))).encode());
            }
        }
        // No digest: the destination's guest changes RAM before the last page comes.
        SaveVm.writePackaged(out, saveVm.postcopyPackage(device -> !device.idstr().equals(IntegrityDigest.IDSTR)));
        out.flush();
        long downtime = System.currentTimeMillis() - stopStart; // the destination runs the guest from here
        while (true) {
            try {
                sendRestOfPostcopy();
                break;
            } catch (IOException e) {
                recoverPostcopy(e); // with --reconnect; throws otherwise
            }
        }
        if (settings.ownSections()) {
            Handoff.writeCommit(out); // a vm-migrate destination waits for it, though its guest runs already
        }
        out.close();
        connection.close();
        clock.finished(downtime);
        clock.mbps(out.transferred() * 8.0 / Math.max(1, clock.totalTimeMillis()) / 1000.0);
        return owner.advance(MigrationStatus.POSTCOPY_ACTIVE, MigrationStatus.COMPLETED);
    }

    /** Postcopy after the switch: requested pages first, the rest in the background, the END, the verdict. */
    private void sendRestOfPostcopy() throws IOException {
        while (true) {
            servePageRequests();
            if (returnPath.verdictNow() instanceof SourceReturnPath.Verdict.Refused refused) {
                throw new IOException(refused.reason());
            }
            if (out.error() != null) {
                throw out.error();
            }
            out.resetRateLimit();
            if (saveVm.iterate(out)) { // a chunk at most: a request waits no longer than that
                break;
            }
        }
        servePageRequests();
        saveVm.completePostcopy(out);
        streamEnded = true;
        awaitLoaded();
    }

    /** How a failure after the switch begins: what each side may hold. */
    private String postcopyFailed() {
        return streamEnded ? POSTCOPY_UNCONFIRMED : POSTCOPY_FAILED;
    }

    /** Sends the pages the destination asked for, before anything else (QEMU's get_queued_page). */
    private void servePageRequests() throws IOException {
        for (var request = returnPath.pollPageRequest(); request != null; request = returnPath.pollPageRequest()) {
            try {
                saveVm.sendRequested(out, ram, request.block(), request.start(), request.length());
            } catch (IllegalArgumentException e) {
                throw new IOException(e.getMessage(), e);
            }
            postcopyRequests.incrementAndGet();
        }
    }

    /** Whether the switch to postcopy happened. */
    boolean inPostcopy() {
        return inPostcopy;
    }

    /** Bytes the multifd channels wrote, after compression (query-migrate's ram.multifd-bytes); 0 without. */
    long multifdBytes() {
        return multifd == null ? 0 : multifd.bytesWritten();
    }

    /** Postcopy page requests served (query-migrate's ram.postcopy-requests). */
    long postcopyRequests() {
        return postcopyRequests.get();
    }

    /** Stops the guest and sends the rest; true if the migration completed. */
    private boolean complete() throws IOException {
        long stopStart = System.currentTimeMillis();
        guest.stop(RunState.FINISH_MIGRATE);
        clock.switchover(ram.stats().transferredBytes.get());
        if (settings.ownSections()) {
            settings.digest().beginSwitchover(); // beside the last pages
        }
        rateLimiter.lift();
        while (true) {
            try {
                saveVm.complete(out);
                out.flush();
                if (returnPath != null) {
                    awaitLoaded();
                }
                break;
            } catch (IOException e) {
                // With --reconnect, a destination that had not begun the switchover (its END) takes
                // the rest again on a new link; the guest stays stopped meanwhile.
                relink(e);
            }
        }
        if (returnPath != null) {
            if (settings.ownSections()) {
                Handoff.writeCommit(out); // a vm-migrate destination runs the guest only now
            }
        }
        // Closing checks the peer's end too: an exec: command that failed turns into a failure.
        out.close();
        connection.close();
        long end = System.currentTimeMillis();
        long total = end - stopStart;
        clock.finished(total);
        long totalMillis = Math.max(1, clock.totalTimeMillis());
        clock.mbps(out.transferred() * 8.0 / totalMillis / 1000.0);
        return owner.advance(MigrationStatus.ACTIVE, MigrationStatus.COMPLETED);
    }

    /**
     * Waits for the destination's SHUT: the migration completes only once the destination said it
     * loaded the VM. Throws when it refused, closed the return path first, or stalled.
     */
    private void awaitLoaded() throws IOException {
        while (true) {
            SourceReturnPath.Verdict verdict;
            try {
                verdict = returnPath.awaitVerdict(java.time.Duration.ofMillis(WINDOW_MILLIS));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for the destination's verdict");
            }
            switch (verdict) {
                case SourceReturnPath.Verdict.Loaded loaded -> {
                    return;
                }
                case SourceReturnPath.Verdict.Refused refused -> throw new IOException(refused.reason());
                case null -> {
                    if ((owner.status() != MigrationStatus.ACTIVE && owner.status() != MigrationStatus.POSTCOPY_ACTIVE)
                            || watchdog.stalled()) {
                        throw new IOException("no verdict from the destination");
                    }
                }
            }
        }
    }

    /** Whether the destination confirmed the load (false without a return path: its verdict is unknown). */
    boolean confirmed() {
        return returnPath != null && returnPath.verdictNow() instanceof SourceReturnPath.Verdict.Loaded;
    }

    private void throttle(int percent) {
        throttlePercent = percent;
        guest.workload().setThrottlePercent(percent);
    }

    private void checkTimeout() throws IOException {
        var timeout = owner.parameters().timeout();
        if (timeout != null && clock.totalTimeMillis() > timeout.toMillis()) {
            throw new IOException("did not converge within the " + timeout.toMillis()
                    + " ms timeout (remaining " + ram.remainingBytes() + " bytes, dirtying "
                    + clock.dirtyPagesRate() * TargetPage.SIZE / (1 << 20) + " MiB/s)");
        }
    }

    private void finish(boolean completed, boolean wasRunning) {
        clock.ended();
        settings.digest().endSwitchover();
        if (throttlePercent != 0) {
            // Full speed again, here or at the destination; query-migrate keeps the throttle it had at the end.
            guest.workload().setThrottlePercent(0);
        }
        if (completed) {
            guest.stop(RunState.POSTMIGRATE);
            if (returnPath != null) {
                returnPath.close();
            }
        } else {
            if (owner.status() == MigrationStatus.CANCELLING) {
                owner.advance(MigrationStatus.CANCELLING, MigrationStatus.CANCELLED);
            } else if (!owner.status().isFinished()) {
                owner.fail(new MigrationException("migration ended without completing"));
            }
            connection.shutdown();
            try {
                connection.close();
            } catch (IOException ignored) {
                // the migration already failed or was cancelled; the peer's status adds nothing
            }
            if (returnPath != null) {
                returnPath.close();
            }
            if (inPostcopy) {
                // The destination may have run the guest: running it here too could make two.
                guest.stop(RunState.POSTMIGRATE);
            } else if (wasRunning) {
                guest.resume();
            } else if (guest.runState() == RunState.FINISH_MIGRATE) {
                guest.stop(RunState.PAUSED);
            }
        }
        saveVm.cleanup();
    }

    /**
     * A write that failed because the destination gave up says little ("Broken pipe"): where the
     * return path has (or soon gets) the destination's own reason, that is the message.
     */
    private String explain(Throwable e) {
        if (returnPath == null) {
            return describe(e);
        }
        try {
            if (returnPath.awaitVerdict(java.time.Duration.ofMillis(500))
                    instanceof SourceReturnPath.Verdict.Refused refused) {
                return refused.reason();
            }
        } catch (InterruptedException interrupted) {
            Thread.currentThread().interrupt();
        }
        return describe(e);
    }

    private static String describe(Throwable e) {
        String message = e.getMessage();
        return message == null ? e.getClass().getSimpleName() : message;
    }

    private static void sleep(long millis) {
        if (millis <= 0) {
            return;
        }
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
