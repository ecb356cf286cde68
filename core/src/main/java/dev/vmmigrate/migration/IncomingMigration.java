package dev.vmmigrate.migration;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.multifd.IncomingMultifd;
import dev.vmmigrate.ram.PostcopyPages;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.returnpath.DestinationReturnPath;
import dev.vmmigrate.savevm.HandlerRegistry;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.savevm.PostcopyDiscard;
import dev.vmmigrate.savevm.RecvBitmapRequest;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import dev.vmmigrate.savevm.Section;
import dev.vmmigrate.savevm.SectionHeader;
import dev.vmmigrate.stream.StallWatchdog;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.IncomingEndpoint;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

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

        /**
         * The load and its checks passed; throwing fails the migration (then {@link #loadFailed}
         * follows).
         *
         * @param mayRun false when the source never confirmed it retired its copy: the guest
         *     must stay paused
         */
        void loaded(LoadVm.Result result, boolean mayRun) throws IOException;

        /**
         * QEMU's POSTCOPY_RUN: the devices are loaded and the guest may run while its RAM still
         * comes (loadvm_postcopy_handle_run); a VM this side only holds stays stopped.
         */
        default void postcopyRun(PostcopyPages pages) {
        }
    }

    private final Target target;
    private final LoadVm loadVm;
    private final AtomicReference<MigrationStatus> status = new AtomicReference<>(MigrationStatus.NONE);
    private final List<MigrationListener> listeners = new CopyOnWriteArrayList<>();
    private final List<LoadCheck> checks = new CopyOnWriteArrayList<>();
    private final CountDownLatch finished = new CountDownLatch(1);
    /** Why the load failed, with what broke as its cause; null while it has not failed. */
    private volatile MigrationException error;
    private volatile Failure failureKind = Failure.NONE;
    private volatile long startMillis;
    private volatile long totalMillis = -1;
    /** The connection the stream comes over now (a resumed migration has had others), or null before start. */
    private volatile Link link;
    /** Set by {@link #resumeWithin}; null when a broken link fails the load. */
    private volatile IncomingResume resume;
    private volatile Duration resumeWindow;
    /** The source was offered to resume (it is vm-migrate and has a return path). */
    private volatile boolean resumeOffered;
    private volatile boolean cancelled;
    private volatile Duration stallTimeout = DEFAULT_STALL_TIMEOUT;
    /** Opened by the source's OPEN_RETURN_PATH; null without one. */
    private volatile DestinationReturnPath returnPath;
    /** Postcopy: the pages held before the switch, less those the source discarded; null before a discard. */
    private Map<String, long[]> postcopyReceived;
    /** Postcopy: what the guest waits for; set at POSTCOPY_RUN, when the guest may run before its RAM is whole. */
    private volatile PostcopyPages postcopyPages;
    /** The stream carries vm-migrate's own sections: its source speaks the commit. */
    private volatile boolean sourceIsVmMigrate;
    /** QEMU's multifd channels of this migration, or null: {@link #multifd}. */
    private volatile IncomingMultifd multifd;

    /**
     * Why a load failed: the CLI turns these into distinct exit codes. UNCOMMITTED: the guest was
     * loaded and verified, but the source's commit never came, so it is held paused.
     */
    public enum Failure { NONE, STREAM, VERIFICATION, UNCOMMITTED }

    /** How long the source may send nothing before the load fails: {@link #stallTimeout(Duration)}. */
    public static final Duration DEFAULT_STALL_TIMEOUT = Duration.ofSeconds(30);

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
            public void postcopyRun(PostcopyPages pages) {
                // The guest waits for each page it touches that has not come yet.
                guest.ramBlocks().forEach(block -> block.postcopy(pages));
                // As QEMU: runs if the source ran it and this side was not asked to hold it.
                if (guest.globalState().runState() == RunState.RUNNING && !startPaused) {
                    guest.start();
                }
            }

            @Override
            public void loaded(LoadVm.Result result, boolean mayRun) {
                // As QEMU: a guest the source had stopped stays stopped in the state it had (globalstate).
                RunState sourceState = guest.globalState().runState();
                if (!mayRun) {
                    guest.stop(RunState.PAUSED);
                } else if (sourceState != RunState.RUNNING) {
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

    /** How long the source may send nothing (during the load, or before its commit) before the load fails. */
    public void stallTimeout(Duration limit) {
        stallTimeout = Objects.requireNonNull(limit, "limit");
        IncomingMultifd channels = multifd;
        if (channels != null) {
            channels.stallTimeout(limit);
        }
    }

    /**
     * One connection of the stream: its input and the watchdog on it.
     */
    private record Link(Connection connection, MigrationInput in, StallWatchdog watchdog) {
        void close() throws IOException {
            watchdog.close();
            try (connection; in) {
                // closes both, the input's reader first
            }
        }
    }

    /**
     * Lets a vm-migrate source resume after the link breaks while RAM iterates (receive
     * --reconnect): the load then waits up to {@code window} for the source's new connection on
     * {@code endpoint} (whose {@linkplain IncomingEndpoint#acceptMigration migration connection}
     * this is: it hands later ones here), instead of failing. Connections that are not this
     * migration's are closed and told to {@code refused}. Call before {@link #start}.
     */
    public void resumeWithin(Duration window, IncomingEndpoint endpoint, Consumer<String> refused) {
        resumeWindow = Objects.requireNonNull(window, "window");
        resume = new IncomingResume(endpoint, Duration.ofMillis(Math.min(5_000, stallTimeout.toMillis())), refused,
                () -> {
                    Link current = link;
                    if (current != null) {
                        current.connection().shutdown(); // the source gave this link up
                    }
                });
    }

    /** Whether RAM also comes over multifd channels ({@link #multifd}): QMP's capability "multifd" on a receiver. */
    public boolean hasMultifdChannels() {
        return multifd != null;
    }

    /**
     * The source's RAM also comes over QEMU's multifd {@code channels}: the RAM section waits for
     * them at its sync points, a failed channel fails the load, and they end with it. Call before
     * {@link #start}.
     */
    public void multifd(IncomingMultifd channels) {
        if (!(loadVm.registry().findIterative(RamHandler.IDSTR, 0) instanceof RamHandler ram)) {
            throw new IllegalStateException("this load has no RAM for multifd channels to go into");
        }
        ram.acceptSideChannels(channels);
        channels.stallTimeout(stallTimeout);
        channels.onFailure(() -> {
            Link current = link;
            if (current != null) {
                current.connection().shutdown(); // wakes the main stream's read: the load fails with the channel's error
            }
        });
        multifd = channels;
    }

    /** A check that must pass before the guest runs (the end-to-end digest). */
    public void addCheck(LoadCheck check) {
        checks.add(check);
    }

    public MigrationStatus status() {
        return status.get();
    }

    public String error() {
        MigrationException why = error;
        return why == null ? null : why.getMessage();
    }

    /** The failure with its cause (the stream's error, a refused check, a broken link), or null. */
    public MigrationException failureCause() {
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
        link = new Link(connection, in, watchdog(connection, in));
        if (resume != null) {
            resume.start();
        }
        notifyStatus(MigrationStatus.ACTIVE);
        Thread.ofVirtual().name("incoming-migration").start(() -> {
            try {
                load();
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
        cancelled = true;
        IncomingResume waiting = resume;
        if (waiting != null) {
            waiting.close();
        }
        Link current = link;
        if (current != null) {
            current.connection().shutdown();
        }
        IncomingMultifd channels = multifd;
        if (channels != null) {
            channels.close(); // a main stream waiting at a sync point gives up
        }
    }

    /** Bytes over multifd channels count as progress too: a 10.0 source's main stream is quiet while they carry RAM. */
    private StallWatchdog watchdog(Connection connection, MigrationInput in) {
        IncomingMultifd channels = multifd;
        return channels == null ? new StallWatchdog(stallTimeout, in::position, connection::shutdown)
                : new StallWatchdog(stallTimeout, () -> in.position() + channels.bytesReceived(), in::position,
                        connection::shutdown);
    }

    private void load() {
        boolean completed;
        try {
            // The verdict goes back before the connection closes.
            completed = loadAndConfirm();
        } finally {
            if (resume != null) {
                resume.close();
            }
            if (multifd != null) {
                multifd.close();
            }
        }
        try {
            link.close();
        } catch (IOException closing) {
            completed = false; // an exec: command's exit status, say
        }
        if (completed) {
            status.set(MigrationStatus.COMPLETED);
            notifyStatus(MigrationStatus.COMPLETED);
        }
    }

    /** Loads, checks, tells the source; true when the guest may be (or was) handed over. */
    private boolean loadAndConfirm() {
        try {
            LoadVm.Result result = loadVm.load(link.in(), loadListener());
            releasePostcopy(); // every page is here
            for (LoadCheck check : checks) {
                try {
                    check.verify(result);
                } catch (IOException e) {
                    failureKind = Failure.VERIFICATION;
                    throw e;
                }
            }
            // After a switch to postcopy the source's guest is retired for good: this one runs on.
            boolean mayRun = confirm(link.in()) || postcopyPages != null;
            totalMillis = System.currentTimeMillis() - startMillis;
            target.loaded(result, mayRun);
            if (!mayRun) {
                fail(Failure.UNCOMMITTED, new MigrationException("the guest was loaded and verified, but the source's "
                        + "commit never arrived, so the guest is held paused here (the source may still run its copy)"));
                return false;
            }
            return true;
        } catch (IOException | RuntimeException e) {
            if (failureKind == Failure.NONE) {
                failureKind = Failure.STREAM;
            }
            Link current = link;
            IOException channelFailure = multifd == null ? null : multifd.failure();
            String reason = channelFailure != null ? channelFailure.getMessage() // the first cause, not the main stream's cut
                    : current.watchdog().stalled() ? current.watchdog().describe("no bytes from the source")
                    : e.getMessage() == null ? e.toString() : e.getMessage();
            releasePostcopy(); // before the guest stops: it must not wait for a page that will not come
            tellSourceItFailed(reason, current.in(), current.connection());
            target.loadFailed();
            fail(failureKind, new MigrationException((postcopyPages != null ? "postcopy failed after the guest started here, so "
                    + "it is stopped with its RAM incomplete; the source holds every page only as it was at the "
                    + "switch (neither side has the whole guest): "
                    : "load of migration failed: ") + reason, e));
            return false;
        }
    }

    /**
     * Tells a source with a return path that the VM is loaded and verified (SHUT 0); a vm-migrate
     * source then commits, which this waits for. False when the commit never came.
     */
    private boolean confirm(MigrationInput in) throws IOException {
        DestinationReturnPath back = returnPath;
        if (back == null) {
            return true; // no return path: nobody to tell, nothing to wait for (QEMU's precopy)
        }
        back.loaded();
        if (!sourceIsVmMigrate) {
            return true; // QEMU's source retires its guest on the SHUT, with no word back
        }
        try {
            Handoff.readCommit(in);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * Sends the failure on the return path, then reads what the source still sends until it
     * hangs up (it does within a window once it has the verdict): closing a socket with unread
     * bytes resets it, and a reset could destroy the verdict before the source reads it.
     */
    private void tellSourceItFailed(String reason, MigrationInput in, Connection connection) {
        DestinationReturnPath back = returnPath;
        if (back == null) {
            return;
        }
        try {
            back.failed(reason, sourceIsVmMigrate);
        } catch (IOException ignored) {
            return; // the link is gone: the source sees its return path close, which fails it too
        }
        Thread deadline = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(Math.min(5_000, stallTimeout.toMillis()));
                connection.shutdown();
            } catch (InterruptedException done) {
                // the source hung up first
            }
        });
        try {
            while (!in.atEnd()) {
                in.skip(1 << 16);
            }
        } catch (IOException | RuntimeException ignored) {
            // cut or ended: either way there is nothing more to read
        } finally {
            deadline.interrupt();
        }
    }

    private void fail(Failure kind, MigrationException reason) {
        failureKind = kind;
        error = reason;
        totalMillis = System.currentTimeMillis() - startMillis;
        status.set(MigrationStatus.FAILED);
        notifyStatus(MigrationStatus.FAILED);
    }

    private void releasePostcopy() {
        PostcopyPages pages = postcopyPages;
        if (pages != null) {
            pages.release();
        }
    }

    /**
     * Postcopy's remote faults, for the receiver's summary: how many pages the guest waited for
     * and how long (p50, p99, max); null without a switch to postcopy.
     */
    public String postcopySummary() {
        PostcopyPages pages = postcopyPages;
        if (pages == null) {
            return null;
        }
        List<Long> micros = pages.latencyMicros(50, 99, 100);
        return pages.faults() + " remote faults" + (micros.isEmpty() ? "" : String.format(
                " (waited p50 %.1f ms, p99 %.1f ms, max %.1f ms)", micros.get(0) / 1000.0, micros.get(1) / 1000.0,
                micros.get(2) / 1000.0));
    }

    /** QEMU's postcopy commands need the return path, where a destination would ask for pages. */
    private void requireReturnPath(Section.Command command) throws StreamFormatException {
        if (returnPath == null) {
            LoadVm.refuseUnlessSwitchover(command);
        }
    }

    /** Answers the commands that need this side: the return path, PING, QEMU's postcopy. */
    private LoadVm.Listener loadListener() {
        return new LoadVm.Listener() {
            @Override
            public void command(Section.Command command) throws IOException {
                switch (command.command()) {
                    case OPEN_RETURN_PATH -> {
                        Connection connection = link.connection();
                        if (!connection.hasBackChannel()) {
                            LoadVm.refuseUnlessSwitchover(command);
                        }
                        returnPath = new DestinationReturnPath(connection.output());
                    }
                    case PING -> {
                        DestinationReturnPath back = returnPath;
                        if (back == null) {
                            LoadVm.refuseUnlessSwitchover(command);
                        }
                        int value = java.nio.ByteBuffer.wrap(command.payload()).getInt();
                        if (value == Handoff.VM_MIGRATE_SOURCE) {
                            sourceIsVmMigrate = true;
                        }
                        back.pong(value);
                    }
                    case VM_MIGRATE_RESUMABLE -> {
                        DestinationReturnPath back = returnPath;
                        if (back == null) {
                            LoadVm.refuseUnlessSwitchover(command);
                        }
                        IncomingResume resumable = resume;
                        if (resumable != null) { // otherwise the source sees a PONG and no echo: no resume here
                            long token = java.nio.ByteBuffer.wrap(command.payload()).getLong();
                            resumable.expect(token);
                            back.resumable(token);
                            resumeOffered = true;
                        }
                    }
                    case POSTCOPY_ADVISE -> PostcopyAdvice.check(command);
                    case POSTCOPY_RAM_DISCARD -> {
                        requireReturnPath(command);
                        PostcopyDiscard discard = PostcopyDiscard.read(command);
                        if (postcopyReceived == null) {
                            postcopyReceived = loadVm.receivedPages();
                        }
                        if (!postcopyReceived.containsKey(discard.block())) {
                            throw new StreamFormatException("POSTCOPY_RAM_DISCARD for RAM block "
                                    + StreamText.quote(discard.block()) + ", which the stream has not announced",
                                    command.offset());
                        }
                        // Stale here: the guest must wait for them (the source sends each again).
                        discard.ranges().forEach(range -> PostcopyPages.discard(postcopyReceived, discard.block(),
                                range.start(), range.length()));
                    }
                    case POSTCOPY_LISTEN -> {
                        requireReturnPath(command);
                        if (status.compareAndSet(MigrationStatus.ACTIVE, MigrationStatus.POSTCOPY_ACTIVE)) {
                            notifyStatus(MigrationStatus.POSTCOPY_ACTIVE);
                        }
                    }
                    case PACKAGED -> requireReturnPath(command); // the loader reads the package
                    case POSTCOPY_RUN -> {
                        if (status.get() != MigrationStatus.POSTCOPY_ACTIVE) {
                            throw new StreamFormatException("POSTCOPY_RUN before POSTCOPY_LISTEN", command.offset());
                        }
                        // Asks on the return path of the moment: a resumed link brings a new one.
                        postcopyPages = new PostcopyPages(postcopyReceived != null ? postcopyReceived
                                : loadVm.receivedPages(), (block, start, length) -> returnPath.requestPages(block,
                                start, length));
                        target.postcopyRun(postcopyPages);
                    }
                    case RECV_BITMAP -> {
                        PostcopyPages pages = postcopyPages;
                        boolean recovering = advance(MigrationStatus.POSTCOPY_RECOVER_SETUP,
                                MigrationStatus.POSTCOPY_RECOVER) || status.get() == MigrationStatus.POSTCOPY_RECOVER;
                        if (pages == null || !recovering) {
                            LoadVm.refuseUnlessSwitchover(command); // QEMU takes it only in postcopy-recover
                        }
                        String block = RecvBitmapRequest.read(command).block();
                        long[] held = pages.present(block);
                        if (held == null) {
                            throw new StreamFormatException("RECV_BITMAP for RAM block " + StreamText.quote(block)
                                    + ", which this guest does not have", command.offset());
                        }
                        returnPath.recvBitmap(block, held);
                    }
                    case POSTCOPY_RESUME -> {
                        // QEMU's loadvm_postcopy_handle_resume: only after the bitmaps, in postcopy-recover.
                        if (!advance(MigrationStatus.POSTCOPY_RECOVER, MigrationStatus.POSTCOPY_ACTIVE)) {
                            LoadVm.refuseUnlessSwitchover(command);
                        }
                        returnPath.resumeAck();
                        long again = postcopyPages.requestAgain(); // the source lost its queue with the old link
                        notifyLink(true, "postcopy resumed: the source sends the pages missing here, " + again
                                + " asked for again");
                    }
                    default -> LoadVm.refuseUnlessSwitchover(command);
                }
            }

            @Override
            public void section(SectionHeader.Open header) {
                if (header.idstr().startsWith(HandlerRegistry.OWN_PREFIX)) {
                    sourceIsVmMigrate = true;
                }
            }

            @Override
            public MigrationInput linkBroken(IOException cause, long wholeUpTo) throws IOException {
                if (!resumeOffered || cancelled) {
                    throw cause;
                }
                return postcopyPages != null ? awaitPostcopyRecovery(cause, wholeUpTo)
                        : awaitResumedLink(cause, wholeUpTo);
            }
        };
    }

    /**
     * The link broke while RAM iterated: waits for the source's new connection, answers it with
     * the pages held and {@code wholeUpTo} (RECV_BITMAP, RESUMED), and goes on reading from it.
     * Throws when none comes within the window.
     */
    private MigrationInput awaitResumedLink(IOException cause, long wholeUpTo) throws IOException {
        Link broken = link;
        String why = broken.watchdog().stalled() ? broken.watchdog().describe("no bytes from the source")
                : cause.getMessage() == null ? cause.toString() : cause.getMessage();
        notifyLink(false, "link to the source lost (" + why + "); waiting up to " + resumeWindow.toSeconds()
                + " s for it to resume");
        broken.watchdog().close();
        long deadline = System.nanoTime() + resumeWindow.toNanos();
        while (true) {
            IncomingResume.Resumed next = awaitResumingSource(deadline, why, cause, wholeUpTo);
            try {
                DestinationReturnPath back = new DestinationReturnPath(next.connection().output());
                back.resumed(loadVm.receivedPages(), wholeUpTo);
                returnPath = back;
            } catch (IOException e) {
                IncomingResume.closeQuietly(next.connection(), next.in());
                continue; // broke again at once: the source tries anew within the window
            }
            replaceLink(broken, next);
            notifyLink(true, "link to the source resumed at stream offset " + wholeUpTo);
            return next.in();
        }
    }

    /**
     * The resuming source's connection, admitted by its token before {@code deadline} (nanoTime);
     * throws what broke the link ({@code why}, {@code cause}) when none came, and refuses one that
     * would start before the {@code wholeUpTo} bytes already loaded.
     */
    private IncomingResume.Resumed awaitResumingSource(long deadline, String why, IOException cause, long wholeUpTo)
            throws IOException {
        IncomingResume.Resumed next;
        try {
            next = resume.await(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            next = null;
        }
        if (next == null) {
            throw new IOException(why + cancelledOr(", and the source did not resume within "
                    + resumeWindow.toSeconds() + " s"), cause);
        }
        if (next.in().position() < wholeUpTo) {
            IncomingResume.closeQuietly(next.connection(), next.in());
            throw new IOException("the resumed source starts at stream offset " + next.in().position()
                    + ", before the " + wholeUpTo + " bytes already loaded");
        }
        return next;
    }

    /** The stream goes on over {@code next}; the {@code broken} link is closed. */
    private void replaceLink(Link broken, IncomingResume.Resumed next) {
        link = new Link(next.connection(), next.in(), watchdog(next.connection(), next.in()));
        try {
            broken.close();
        } catch (IOException ignored) {
            // the old link is dead already
        }
    }

    /**
     * The link broke after the switch to postcopy (QEMU's postcopy_pause_incoming): this side is
     * postcopy-paused, its guest runs on and waits for each page it lacks, and the same URI takes
     * the resuming source's connection (its token checked), which then asks for the pages held
     * (RECV_BITMAP) and resumes (POSTCOPY_RESUME); the loader answers those as commands. Throws
     * when none comes within the window: the guest here is then incomplete and stops.
     */
    private MigrationInput awaitPostcopyRecovery(IOException cause, long wholeUpTo) throws IOException {
        Link broken = link;
        String why = broken.watchdog().stalled() ? broken.watchdog().describe("no bytes from the source")
                : cause.getMessage() == null ? cause.toString() : cause.getMessage();
        if (!advance(MigrationStatus.POSTCOPY_ACTIVE, MigrationStatus.POSTCOPY_PAUSED)
                && !advance(MigrationStatus.POSTCOPY_RECOVER_SETUP, MigrationStatus.POSTCOPY_PAUSED)
                && !advance(MigrationStatus.POSTCOPY_RECOVER, MigrationStatus.POSTCOPY_PAUSED)) {
            throw cause;
        }
        notifyLink(false, "link to the source lost after the switch to postcopy (" + why + "); postcopy paused, "
                + "the guest runs on and waits for each page it lacks; waiting up to " + resumeWindow.toSeconds()
                + " s for the source to resume");
        broken.watchdog().close();
        broken.connection().shutdown(); // a source still writing to it sees the break too
        IncomingResume.Resumed next = awaitResumingSource(System.nanoTime() + resumeWindow.toNanos(), why, cause,
                wholeUpTo);
        returnPath = new DestinationReturnPath(next.connection().output());
        replaceLink(broken, next);
        advance(MigrationStatus.POSTCOPY_PAUSED, MigrationStatus.POSTCOPY_RECOVER_SETUP);
        notifyLink(true, "link to the source back at stream offset " + next.in().position()
                + ": recovering postcopy");
        return next.in();
    }

    /** Compare-and-set of the status, which listeners then see. */
    private boolean advance(MigrationStatus from, MigrationStatus to) {
        if (status.compareAndSet(from, to)) {
            notifyStatus(to);
            return true;
        }
        return false;
    }

    private String cancelledOr(String otherwise) {
        return cancelled ? " (cancelled)" : otherwise;
    }

    private void notifyLink(boolean up, String detail) {
        for (MigrationListener listener : listeners) {
            listener.linkChanged(up, detail);
        }
    }

    /** A query-migrate snapshot of the receiving side: status, total time, and why it failed. */
    public MigrationInfo info() {
        MigrationStatus now = status.get();
        return MigrationInfo.of(now.qmpName(), now == MigrationStatus.NONE ? null
                        : totalMillis < 0 ? System.currentTimeMillis() - startMillis : totalMillis,
                now == MigrationStatus.FAILED ? error() : null);
    }

    /** How far the load has come; all zero before it starts. Read from any thread. */
    public LoadProgress progress() {
        MigrationStatus now = status.get();
        Link current = link;
        return new LoadProgress(now, now == MigrationStatus.NONE ? 0
                        : totalMillis < 0 ? System.currentTimeMillis() - startMillis : totalMillis,
                current == null ? 0 : current.in().position(), loadVm.announcedRamBytes(), loadVm.loadedPages());
    }

    private void notifyStatus(MigrationStatus to) {
        MigrationInfo info = info();
        for (MigrationListener listener : listeners) {
            listener.statusChanged(to, info);
        }
    }
}
