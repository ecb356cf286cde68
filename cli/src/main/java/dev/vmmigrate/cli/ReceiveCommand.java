package dev.vmmigrate.cli;

import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.held.CheckpointFile;
import dev.vmmigrate.held.HeldVm;
import dev.vmmigrate.held.HeldVmReceiver;
import dev.vmmigrate.savevm.StreamPreamble;
import dev.vmmigrate.stream.StallWatchdog;
import dev.vmmigrate.migration.IncomingMigration;
import dev.vmmigrate.migration.JitWarmUp;
import dev.vmmigrate.migration.MigrationInfo;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.migration.VmControl;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.ram.RamLayoutProbe;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code vm-migrate receive URI}: accepts one migration, loads it and runs the guest. */
@Command(name = "receive", mixinStandardHelpOptions = true,
        description = {"Accept one migration stream on URI, load it on a virtual thread, verify it and run the "
                + "guest (left stopped if the source had it stopped, or with --paused or --run-for 0).",
            "URI: tcp:HOST:PORT (port 0 picks a free port and prints it), unix:PATH, exec:COMMAND, fd:N, file:PATH."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:Loaded (and run for --run-for).", "1:The load failed; the guest was not resumed.",
            "2:Bad usage.", "3:Interrupted (Ctrl-C, SIGTERM or SIGHUP) while waiting for the stream or loading it.",
            "4:Verification mismatch; the guest was not resumed.",
            "5:Loaded and verified, but the source's commit never arrived: the guest is held paused here "
                + "(the source may still run its copy)."})
final class ReceiveCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "URI", description = "Where to accept the stream.")
    String uri;

    @Mixin
    GuestOptions guestOptions;

    @Mixin
    OutputOptions outputOptions;

    @Option(names = "--paused", description = "Leave the guest paused after the load instead of resuming it.")
    boolean paused;

    @Option(names = "--save", paramLabel = "FILE",
            description = "Once the guest is loaded and verified, write it to FILE as one compact QEMU stream "
                    + "(every RAM page once, then the device state): a checkpoint that QEMU restores with "
                    + "-incoming \"exec:cat FILE\" and send --load sends on. Written beside FILE and renamed over "
                    + "it, so a failure leaves FILE as it was.")
    Path save;

    @Mixin
    StallOptions stall;

    @Option(names = "--reconnect", paramLabel = "DURATION", converter = UnitConverters.PositiveTime.class,
            description = "Keep listening on URI during the load: when the connection breaks while RAM is being sent, "
                    + "keep what was loaded and wait up to DURATION for the source (send --reconnect) to connect "
                    + "again and go on from there. After a switch to postcopy the guest runs on meanwhile and waits "
                    + "for each page it lacks (postcopy-paused), and the source recovers as QEMU's postcopy "
                    + "recovery. Connections that are not this migration's are refused with a line. "
                    + "tcp: and unix: only.")
    Duration reconnect;

    @Mixin
    ControlOptions controlOptions;

    /** The endpoint: it refuses other connections, or with --reconnect hands a resumed source's on, until exit. */
    private IncomingEndpoint endpoint;
    /** The monitor's terminal with --monitor, else null. */
    private Monitor monitor;

    @Mixin
    MaxRamOptions maxRam;

    @Mixin
    TlsOptions tls;

    /** For a migration onward (QMP's or the monitor's migrate) from a receiver with --tls-creds. */
    @Mixin
    TlsHostnameOptions tlsHostname;

    @Mixin
    MultifdOptions multifdOptions;

    /** QEMU's multifd channels with --capability multifd, else null. */
    private dev.vmmigrate.multifd.IncomingMultifd multifd;

    @Option(names = "--run-for", paramLabel = "DURATION", converter = UnitConverters.Time.class,
            description = "Run the guest this long after the load, then stop and exit; 0 exits as soon as "
                    + "the guest is loaded, without resuming it (its RAM stays exactly as received). "
                    + "Default: until Ctrl-C.")
    Duration runFor;

    @Override
    public Integer call() throws Exception {
        MigrationUri source = MigrationUri.parse(uri);
        if (reconnect != null) {
            ReconnectUri.require(source);
        }
        dev.vmmigrate.transport.TlsCredentials tlsCredentials = tls.load(source, dev.vmmigrate.transport.TlsRole.SERVER);
        if (tlsCredentials == null) {
            tlsHostname.peerName(source, null); // refuses --tls-hostname without --tls-creds
        }
        if (reconnect != null && tlsCredentials != null) {
            throw new CliFailure(ExitCode.USAGE, "--reconnect does not work with --tls-creds yet (a resumed "
                    + "source's connection would have to pass the TLS handshake first)");
        }
        try (Monitor opened = controlOptions.openMonitor(); Reporter reporter = Reporter.create(outputOptions, opened);
             IncomingEndpoint listening = listen(source, tlsCredentials)) {
            endpoint = listening;
            monitor = opened;
            multifd = multifdOptions.open(endpoint, uri, notice -> reporter.note("WARNING", notice));
            Connection connection;
            java.util.concurrent.atomic.AtomicBoolean interruptedWaiting = new java.util.concurrent.atomic.AtomicBoolean();
            // The JIT warms up on a scratch guest while we wait; the connection ends the warm-up.
            try (JitWarmUp warmUp = JitWarmUp.start()) {
                // Ctrl-C while waiting: stop listening and exit with the cancelled code.
                Interrupts.onInterrupt(() -> {
                    interruptedWaiting.set(true);
                    try {
                        endpoint.close();
                    } catch (IOException ignored) {
                        // closing to wake accept(): nothing more to do
                    }
                });
                reporter.listening(endpoint.boundAddress(), source.isSocket());
                // Screened and admitted once: a client that sends no header is dropped, any other
                // connection refused, each with a line, while this receiver listens (until it exits).
                connection = endpoint.acceptMigration(notice -> reporter.note("WARNING", notice));
            } catch (IOException e) {
                if (interruptedWaiting.get()) {
                    throw new CliFailure(ExitCode.CANCELLED, "interrupted while waiting for a migration");
                }
                throw new CliFailure(ExitCode.FAILED, e.getMessage(), e);
            }
            try {
                return receive(connection, reporter);
            } catch (CliFailure e) {
                reporter.failed(e.getMessage());
                throw e;
            }
        }
    }

    /**
     * A migration onward from here goes over TLS when this receiver has --tls-creds, as the
     * sending end with DIR's client certificate (QEMU needs a second tls-creds-x509 object,
     * endpoint=client, for the same): a receiver that insists on TLS never sends its guest on in
     * clear; without the client files the migration fails before a byte leaves.
     */
    private Connection connectOnward(MigrationUri target) throws IOException {
        if (tls.credsDir == null) {
            return target.connect();
        }
        dev.vmmigrate.transport.TlsCredentials client;
        String peerName;
        try {
            client = tls.load(target, dev.vmmigrate.transport.TlsRole.CLIENT);
            peerName = tlsHostname.peerName(target, client);
        } catch (CliFailure e) {
            throw new IOException("migrating on from a receiver with " + e.getMessage(), e);
        }
        return TlsOptions.secure(target.connect(), client, peerName, stall.stallTimeout);
    }

    /** With --tls-creds, a peer that does not complete the handshake in time is dropped. */
    private IncomingEndpoint listen(MigrationUri source, dev.vmmigrate.transport.TlsCredentials tlsCredentials) {
        try {
            return TlsOptions.listen(source, tlsCredentials, stall.stallTimeout);
        } catch (IOException e) {
            throw new CliFailure(ExitCode.FAILED, e.getMessage(), e);
        }
    }

    /** The built-in guest for machine none, a held VM for any other type. */
    private int receive(Connection connection, Reporter reporter) throws IOException, InterruptedException {
        MigrationInput in = new MigrationInput(connection.input());
        byte[] head = peekHead(in, connection);
        String streamMachine = StreamPreamble.peek(head).map(StreamPreamble::machineType).orElse(null);
        String machine = guestOptions.machine != null ? guestOptions.machine : streamMachine;
        if (machine != null && !machine.equals(Guest.DEFAULT_MACHINE)) {
            return receiveHeld(connection, in, reporter);
        }
        try (Guest guest = buildGuest(head)) {
            return receive(guest, connection, in, reporter);
        } catch (IllegalArgumentException | java.io.UncheckedIOException e) {
            connection.close();
            throw new CliFailure(ExitCode.USAGE, e.getMessage(), e);
        } finally {
            if (guestOptions.ramFile != null) {
                Files.deleteIfExists(CheckpointFile.partialOf(guestOptions.ramFile)); // gone once renamed
            }
        }
    }

    /**
     * The stream's first bytes, enough for its machine type and RAM layout: read in growing steps,
     * since a short stream's source may be waiting for an answer before it sends more (the return
     * path) and a larger peek would wait for bytes that never come. A source that sends nothing
     * is dropped after the stall timeout.
     */
    private byte[] peekHead(MigrationInput in, Connection connection) throws IOException {
        try (StallWatchdog guard = new StallWatchdog(stall.stallTimeout, () -> 0L, connection::shutdown)) {
            // The header first: a TLS ClientHello (a source with --tls-creds) is shorter than 256
            // bytes and waits for an answer, so a larger first peek would hold it until the stall.
            int want = 8;
            while (true) {
                // What is here, never more than asked: a multifd source sends nothing more until its
                // channels are read, which waits for this load.
                byte[] head = in.peekAtLeast(want);
                if (guard.stalled()) {
                    throw new CliFailure(ExitCode.FAILED, "load of migration failed: "
                            + guard.describe("no bytes from the source"));
                }
                if (head.length < want || head.length >= RamLayoutProbe.PEEK_BYTES || RamLayoutProbe.complete(head)
                        || !startsAsAStream(head)) {
                    return head;
                }
                want = head.length + 1;
            }
        }
    }

    /** Whether {@code head} begins with QEMU's magic: anything else is refused by the load, without waiting for more. */
    private static boolean startsAsAStream(byte[] head) {
        return head.length < 4 || java.nio.ByteBuffer.wrap(head).getInt() == StreamPreamble.MAGIC;
    }

    private Guest buildGuest(byte[] head) throws IOException {
        Guest.Builder builder = guestOptions.builder().incoming(true);
        boolean fileSized = guestOptions.ramFile != null && Files.exists(guestOptions.ramFile)
                && Files.size(guestOptions.ramFile) > 0;
        boolean sized = guestOptions.ram != null || fileSized;
        if (guestOptions.ramFile != null) {
            stageRamFile(builder, fileSized);
        }
        if (!sized) {
            try {
                RamLayoutProbe.requireWithin(head, maxRam.bytes(), "--max-ram");
            } catch (dev.vmmigrate.stream.StreamFormatException e) {
                throw new CliFailure(ExitCode.FAILED, "load of migration failed: " + e.getMessage());
            }
            Map<String, Long> layout = RamLayoutProbe.probe(head);
            if (layout.isEmpty() && guestOptions.ramFile != null && !RamLayoutProbe.complete(head)) {
                // A new RAM file needs its size from the stream, which ended or broke before saying
                // it: the stream's fault is the news, not the file.
                RamLayoutProbe.whyNoLayout(head).ifPresent(why -> {
                    throw new CliFailure(ExitCode.FAILED, "load of migration failed: " + why);
                });
            }
            Long length = layout.get(guestOptions.ramId);
            if (length != null) {
                builder.ramSize(length);
            } else if (!layout.isEmpty()) {
                throw new IllegalArgumentException("the stream has no RAM block '" + guestOptions.ramId
                        + "' (it has: " + String.join(", ", layout.keySet().stream()
                                .map(dev.vmmigrate.stream.StreamText::quote).toList()) + "); use --ram-id");
            }
        }
        return builder.build();
    }

    /**
     * The guest's RAM goes into a fresh sibling of --ram-file, renamed over it once the load is
     * verified ({@link #commitRamFile}): a failed load leaves the file as it was, or absent. A
     * stream carries every page, so the file's old content is not needed; an existing file still
     * gives the guest its size.
     */
    private void stageRamFile(Guest.Builder builder, boolean fileSized) throws IOException {
        Path file = guestOptions.ramFile;
        if (fileSized) {
            long size = Files.size(file);
            if (guestOptions.ram != null && guestOptions.ram != size) {
                throw new IllegalArgumentException("ram file " + file + " has " + size + " bytes, guest RAM is "
                        + guestOptions.ram + " bytes");
            }
            builder.ramSize(size);
        }
        Path partial = CheckpointFile.partialOf(file);
        Files.deleteIfExists(partial); // a leftover of an earlier failed run
        builder.ramFile(partial);
    }

    /** The load was verified: the staged RAM takes the place of --ram-file. */
    private void commitRamFile(Guest guest) throws IOException {
        if (guestOptions.ramFile != null) {
            guest.ramBlocks().forEach(RamBlock::force);
            CheckpointFile.replace(CheckpointFile.partialOf(guestOptions.ramFile), guestOptions.ramFile);
        }
    }

    private int receive(Guest guest, Connection connection, MigrationInput in, Reporter reporter)
            throws InterruptedException, IOException {
        // --run-for 0 exits right after the load: resuming first would let the workload change RAM.
        // With --save the guest stays stopped until it is saved.
        boolean holdAfterLoad = paused || (runFor != null && runFor.isZero());
        // Always able to read a block section: without --disk it then fails naming the device.
        // QMP and the monitor see the load, then the guest: it may migrate on from here (A -> B -> C).
        VmControl vm = VmControl.destination(guest, new BlockMigration(guest.disk().stream().toList()),
                holdAfterLoad || save != null);
        IncomingMigration incoming = vm.incoming();
        if (multifd != null) {
            incoming.multifd(multifd); // before QMP opens: query-migrate-capabilities lists multifd on
        }
        vm.addListener(reporter); // the load, then any migration onward
        CountDownLatch interrupted = new CountDownLatch(1);
        try (ControlChannels control = ControlChannels.open(controlOptions, monitor, vm, () -> {
            interrupted.countDown();
            incoming.cancel();
            vm.cancel();
        }, reporter)) {
            return receive(guest, vm, connection, in, reporter, interrupted, holdAfterLoad);
        }
    }

    private int receive(Guest guest, VmControl vm, Connection connection, MigrationInput in, Reporter reporter,
                        CountDownLatch interrupted, boolean holdAfterLoad) throws InterruptedException, IOException {
        IncomingMigration incoming = vm.incoming();
        MigrationStatus end = load(incoming, connection, in, reporter, interrupted);
        MigrationInfo info = MigrationInfo.of(end.qmpName(), incoming.totalMillis(), incoming.error());
        if (end == MigrationStatus.COMPLETED || incoming.failure() == IncomingMigration.Failure.UNCOMMITTED) {
            commitRamFile(guest);
        }
        if (end != MigrationStatus.COMPLETED) {
            if (incoming.failure() == IncomingMigration.Failure.UNCOMMITTED && save != null) {
                // The only verified copy may be this paused one: keep it (a failed save does not
                // change what happened, exit 5).
                try {
                    saveGuest(vm, reporter);
                } catch (CliFailure e) {
                    reporter.note("WARNING", e.getMessage());
                }
            }
            guest.ramBlocks().forEach(RamBlock::force);
            reporter.summary(info);
            return failureCode(incoming, interrupted.getCount() == 0);
        }
        guest.ramBlocks().forEach(RamBlock::force);
        if (save != null) {
            saveGuest(vm, reporter);
            if (!holdAfterLoad && guest.globalState().runState() == RunState.RUNNING) {
                guest.start();
            }
        }
        String postcopy = incoming.postcopySummary();
        reporter.note("LOADED", String.format("guest loaded in %d ms (%s RAM), %s%s", incoming.totalMillis(),
                dev.vmmigrate.units.Units.formatSize(guest.ramBytes()), guest.runState().qemuName(),
                postcopy == null ? "" : "; postcopy: it ran from the switch on, with " + postcopy));
        reporter.summary(info);
        // The guest may migrate on (QMP's or the monitor's migrate): Ctrl-C cancels that too.
        vm.connector(this::connectOnward);
        Interrupts.onInterrupt(() -> {
            interrupted.countDown();
            vm.cancel();
        });
        if (runFor == null) {
            interrupted.await();
        } else if (!runFor.isZero()) {
            interrupted.await(runFor.toMillis(), TimeUnit.MILLISECONDS);
        }
        vm.cancel(); // the process ends: an onward migration still in flight is cancelled (its guest runs here, then stops)
        vm.outgoing().awaitFinished();
        if (guest.runState() == RunState.RUNNING) {
            guest.stop(RunState.PAUSED);
        }
        guest.ramBlocks().forEach(RamBlock::force);
        if (guest.disk().isPresent()) {
            guest.disk().get().force();
        }
        return ExitCode.OK;
    }

    /**
     * A VM of another machine type (QEMU's pc, q35): every RAM block as the stream declares it and
     * the device state as sent, held stopped (vm-migrate has no x86 CPU to run it).
     */
    private int receiveHeld(Connection connection, MigrationInput in, Reporter reporter)
            throws IOException, InterruptedException {
        if (controlOptions.qmp != null || controlOptions.monitor) {
            connection.close();
            throw new CliFailure(ExitCode.USAGE, "--qmp and --monitor apply to the built-in guest (machine none); a "
                    + "held VM does not run here");
        }
        if (guestOptions.disk != null || guestOptions.ram != null) {
            connection.close();
            throw new CliFailure(ExitCode.USAGE, (guestOptions.disk != null ? "--disk" : "--ram")
                    + " applies to the built-in guest (machine none); a held VM's RAM comes from the stream");
        }
        HeldVmReceiver target = new HeldVmReceiver(guestOptions.ramId, guestOptions.ramFile, maxRam.bytes());
        IncomingMigration incoming = new IncomingMigration(target, guestOptions.machine == null
                ? target.loadVm() : target.loadVm(guestOptions.machine));
        incoming.addListener(reporter);
        CountDownLatch interrupted = new CountDownLatch(1);
        MigrationStatus end = load(incoming, connection, in, reporter, interrupted);
        MigrationInfo info = MigrationInfo.of(end.qmpName(), incoming.totalMillis(), incoming.error());
        if (end != MigrationStatus.COMPLETED) {
            reporter.summary(info);
            return failureCode(incoming, interrupted.getCount() == 0);
        }
        try (HeldVm vm = target.vm()) {
            vm.force();
            reporter.note("LOADED", String.format("VM loaded in %d ms (machine %s, %d RAM blocks, %s RAM, %d device "
                    + "sections), held stopped: vm-migrate cannot run its CPUs%s", incoming.totalMillis(),
                    dev.vmmigrate.stream.StreamText.escape(vm.machineType()), vm.ramBlocks().size(), dev.vmmigrate.units.Units.formatSize(vm.ramBytes()),
                    vm.devices().size(), vm.sourceRunState().map(s -> " (the source had it " + s.qemuName() + ")")
                            .orElse("")));
            if (save != null) {
                writeCheckpoint(reporter, vm::save);
            }
            reporter.summary(info);
            if (runFor == null) {
                interrupted.await();
            } else if (!runFor.isZero()) {
                interrupted.await(runFor.toMillis(), TimeUnit.MILLISECONDS);
            }
        }
        return ExitCode.OK;
    }

    /** Runs the load to its end; Ctrl-C cancels it and counts {@code interrupted} down. */
    private MigrationStatus load(IncomingMigration incoming, Connection connection, MigrationInput in,
                                 Reporter reporter, CountDownLatch interrupted) throws InterruptedException {
        incoming.stallTimeout(stall.stallTimeout);
        if (reconnect != null) {
            incoming.resumeWithin(reconnect, endpoint, refusal -> reporter.note("WARNING", refusal));
        }
        Interrupts.onInterrupt(() -> {
            interrupted.countDown();
            incoming.cancel();
        });
        if (multifd != null && !incoming.hasMultifdChannels()) {
            incoming.multifd(multifd);
        }
        incoming.start(connection, in);
        reporter.trackLoad(incoming::progress);
        return incoming.awaitFinished();
    }

    private static int failureCode(IncomingMigration incoming, boolean interrupted) {
        if (interrupted) {
            return ExitCode.CANCELLED;
        }
        return switch (incoming.failure()) {
            case VERIFICATION -> ExitCode.VERIFICATION;
            case UNCOMMITTED -> ExitCode.UNCOMMITTED;
            case NONE, STREAM -> ExitCode.FAILED;
        };
    }

    /**
     * Checkpoints the built-in guest: what came in goes out, our own sections only if the source
     * sent them (a QEMU stream saves as one QEMU can restore).
     */
    private void saveGuest(VmControl vm, Reporter reporter) {
        writeCheckpoint(reporter, vm::saveStopped);
    }

    private void writeCheckpoint(Reporter reporter, CheckpointFile.StreamWriter writer) {
        try {
            long bytes = CheckpointFile.write(save, writer);
            reporter.note("SAVED", "saved to " + save + " (" + dev.vmmigrate.units.Units.formatSize(bytes) + ")");
        } catch (IOException | RuntimeException e) {
            throw new CliFailure(ExitCode.FAILED, "cannot save to " + save + ": " + e.getMessage(), e);
        }
    }
}
