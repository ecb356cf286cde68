package dev.vmmigrate.cli;

import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.block.BlockStats;
import dev.vmmigrate.block.CopyMode;
import dev.vmmigrate.block.Disk;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.held.HeldVm;
import dev.vmmigrate.held.HeldVmSend;
import dev.vmmigrate.migration.MigrationInfo;
import dev.vmmigrate.ownsections.Capability;
import dev.vmmigrate.migration.JitWarmUp;
import dev.vmmigrate.migration.MachineStreams;
import dev.vmmigrate.migration.MigrationCapabilities;
import dev.vmmigrate.migration.MigrationException;
import dev.vmmigrate.migration.MigrationParameters;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.migration.OutgoingMigration;
import dev.vmmigrate.migration.VmControl;
import dev.vmmigrate.multifd.IncomingMultifd;
import dev.vmmigrate.multifd.MultifdCodec;
import dev.vmmigrate.multifd.MultifdCompression;
import dev.vmmigrate.multifd.MultifdCompressionParameters;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.MigrationUri;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code vm-migrate send URI}: hosts a guest and migrates it live to URI. */
@Command(name = "send", mixinStandardHelpOptions = true,
        description = {"Host the built-in guest (or a saved VM, --load) and migrate it live to URI in QEMU's stream "
                + "format.",
            "URI: tcp:HOST:PORT, unix:PATH, exec:COMMAND, fd:N, file:PATH."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:Completed.", "1:Failed (the guest runs on here).", "2:Bad usage or input.",
            "3:Cancelled by Ctrl-C, SIGTERM or SIGHUP (the guest runs on here)."})
final class SendCommand implements Callable<Integer> {
    /** The migration waits this long at most for the JIT warm-up still running when the guest is ready. */
    private static final Duration JIT_WARM_UP_WAIT = Duration.ofSeconds(1);

    /** --compat values. */
    enum Compat { QEMU }

    /** --fill values: initial RAM content. */
    enum Fill { NONE, HALF_RANDOM }

    @Parameters(index = "0", paramLabel = "URI", description = "Where to send the stream.")
    String uri;

    @Mixin
    GuestOptions guestOptions;

    @Mixin
    OutputOptions outputOptions;

    @Option(names = "--fill", paramLabel = "CONTENT", defaultValue = "none",
            description = "Initial RAM content: none (all zero) or half_random (about half of the pages, chosen "
                    + "by --seed, filled with random bytes). "
                    + "Default: ${DEFAULT-VALUE}.")
    Fill fill;

    @Option(names = "--paused", description = "Keep the guest paused: no workload, globalstate 'paused'.")
    boolean paused;

    @Option(names = "--warmup", paramLabel = "DURATION", converter = UnitConverters.Time.class,
            description = "Run the guest this long before migrating (e.g. 2s).")
    Duration warmup;

    @Option(names = "--max-bandwidth", paramLabel = "RATE", converter = UnitConverters.Rate.class,
            defaultValue = "128M/s",
            description = "Bandwidth limit while iterating (e.g. 512M/s; unlimited, or 0 as in QEMU, for none). "
                    + "Default: ${DEFAULT-VALUE}.")
    long maxBandwidth;

    @Option(names = "--downtime-limit", paramLabel = "DURATION", converter = UnitConverters.Time.class,
            defaultValue = "300ms",
            description = "Longest pause of the guest at switchover. Default: ${DEFAULT-VALUE}.")
    Duration downtimeLimit;

    @Option(names = "--timeout", paramLabel = "DURATION", converter = UnitConverters.Time.class,
            description = "Give up (exit 1, the guest runs on) if not completed within this time.")
    Duration timeout;

    @Mixin
    StallOptions stall;

    @Mixin
    ControlOptions controlOptions;

    @Option(names = "--reconnect", paramLabel = "DURATION", converter = UnitConverters.PositiveTime.class,
            description = "When the connection breaks while RAM is being sent (before the switchover), keep the guest "
                    + "running and connect to URI again for up to DURATION, then go on where the destination got to: "
                    + "pages it already holds and the guest did not change are not sent again. The destination must "
                    + "run receive --reconnect. After a switch to postcopy (--postcopy-after) a break pauses both "
                    + "sides instead (postcopy-paused: the guest stays stopped here with every page) and the "
                    + "migration recovers as QEMU's postcopy recovery. tcp: and unix: with the return path only; not "
                    + "with --compat qemu or --copy-storage. A break during the switchover still fails the migration.")
    Duration reconnect;

    @Mixin
    TlsOptions tls;

    @Mixin
    TlsHostnameOptions tlsHostname;

    /** Set by send() before anything connects: --tls-creds loaded, and the name the receiver must carry. */
    private dev.vmmigrate.transport.TlsCredentials tlsCredentials;
    private String tlsPeerName;

    @Option(names = "--capability", paramLabel = "NAME=on|off",
            description = "Switch a capability (a bare NAME means on; the last setting wins): return-path (the "
                    + "destination confirms the load on the same connection; default on for tcp: and unix: "
                    + "unless --compat qemu, which QEMU's default leaves off), xbzrle, "
                    + "auto-converge, zero-blocks, compress (zstd, vm-migrate receivers only: refused with "
                    + "--compat qemu), postcopy-ram (see --postcopy-after), multifd (the pages go over "
                    + "--multifd-channels more connections to URI, tcp: and unix: only; not with xbzrle, compress, "
                    + "--postcopy-after, --reconnect or --tls-creds), rdma-pin-all (refused: no "
                    + "rdma: transport). Repeatable.")
    java.util.List<String> capabilityOptions = new java.util.ArrayList<>();

    @Option(names = "--multifd-channels", paramLabel = "N",
            description = "With --capability multifd: how many channels to open (QEMU's multifd-channels, which the "
                    + "destination must have too); 1 to 255, default " + IncomingMultifd.DEFAULT_CHANNELS + ".")
    Integer multifdChannels;

    @Option(names = "--multifd-flush-after-each-section",
            description = "With --capability multifd: no MULTIFD_FLUSH records, the destination syncs the channels at "
                    + "the end of every RAM section, as QEMU's property of that name. Needed by a QEMU 7.2 "
                    + "destination (and a later one whose machine type is 7.2 or older); without it the stream is "
                    + "QEMU 8.0 and later's, which QEMU 10.0 with machine none expects. vm-migrate receive takes both.")
    boolean multifdFlushAfterEachSection;

    @Option(names = "--multifd-compression", paramLabel = "none|zlib|zstd",
            description = "With --capability multifd: how each channel compresses its pages (QEMU's multifd-compression: "
                    + "one zlib or zstd stream per channel, at --compress-level). A QEMU destination must be set to the "
                    + "same method; vm-migrate receive takes it from the packets. --compress with multifd means zstd. "
                    + "Default: none.")
    String multifdCompression;

    @Option(names = "--postcopy-after", paramLabel = "PASSES|auto",
            description = "Turn on capability postcopy-ram and switch to postcopy once PASSES passes over RAM are done "
                    + "and the rest still does not fit the downtime limit (auto: after the first pass): the guest stops "
                    + "here, its devices go over and it runs at the destination, which asks for the pages it touches "
                    + "first while the rest follows. From the switch on a failure loses the guest unless the "
                    + "destination completes or --reconnect recovers it. QMP's migrate-start-postcopy switches at "
                    + "once. Not with xbzrle, compress or --copy-storage.")
    String postcopyAfter;

    @Option(names = "--compress", description = "Same as --capability compress=on; with --capability multifd, "
            + "--multifd-compression zstd instead (QEMU's compress capability does not go with multifd).")
    boolean compress;

    @Option(names = "--compress-level", paramLabel = "N", defaultValue = "1",
            description = "zstd level for compress (-7..22), or with multifd the level of --multifd-compression "
                    + "(QEMU's multifd-zstd-level 0..20, multifd-zlib-level 0..9). Default: ${DEFAULT-VALUE}.")
    int compressLevel;

    @Option(names = "--xbzrle-cache-size", paramLabel = "SIZE", converter = UnitConverters.Size.class,
            description = "XBZRLE page cache, rounded down to a power of two of pages; with xbzrle on it must "
                    + "be at least a page and at most guest RAM. Default: 64M, or guest RAM when that is smaller.")
    Long xbzrleCacheSize;

    @Option(names = "--copy-storage", paramLabel = "MODE", converter = CopyModeConverter.class,
            description = "Migrate the --disk too: all (every block, then the blocks dirtied meanwhile) or inc "
                    + "(only blocks that differ from --base-image, which the destination's disk starts as).")
    CopyMode copyStorage;

    @Option(names = "--base-image", paramLabel = "IMAGE",
            description = "With --copy-storage inc: the image the destination's disk is a copy of.")
    Path baseImage;

    @Option(names = "--load", paramLabel = "FILE",
            description = "Send a saved VM instead of a new guest: a stream file (receive --save, or one QEMU wrote "
                    + "with migrate \"exec:cat > FILE\"). A machine none guest is loaded, runs again if it ran, and "
                    + "migrates live; any other machine type (QEMU's pc, q35) is sent as it is, stopped, and implies "
                    + "--compat qemu. The RAM and machine come from the file.")
    Path load;

    @Option(names = "--compat", paramLabel = "PEER",
            description = "qemu: the destination is QEMU; leave out vm-migrate's own sections.")
    Compat compat;

    private MigrationCapabilities parseCapabilities(long guestRam, MigrationUri target, boolean qemuCompatible) {
        long cacheSize = xbzrleCacheSize != null ? xbzrleCacheSize
                : Math.min(MigrationCapabilities.DEFAULT_XBZRLE_CACHE_SIZE, guestRam);
        MigrationCapabilities capabilities = new MigrationCapabilities(java.util.Set.of(), cacheSize, compressLevel);
        // The return path between two vm-migrate processes wherever the transport has a back
        // channel; towards QEMU as QEMU's default (off) unless asked for.
        if (!qemuCompatible && target.isSocket()) {
            capabilities = capabilities.with(Capability.RETURN_PATH, true);
        }
        if (postcopyAfter != null) {
            capabilities = capabilities.with(Capability.POSTCOPY_RAM, true);
        }
        for (String option : capabilityOptions) {
            int eq = option.indexOf('=');
            String name = eq < 0 ? option : option.substring(0, eq);
            String state = eq < 0 ? "on" : option.substring(eq + 1);
            if (!state.equals("on") && !state.equals("off")) {
                throw new CliFailure(ExitCode.USAGE, "--capability " + option + ": state must be on or off");
            }
            capabilities = capabilities.with(Capability.fromName(name), state.equals("on"));
        }
        if (compress && !capabilities.has(Capability.MULTIFD)) { // with multifd: zstd channels (configureMultifd)
            capabilities = capabilities.with(Capability.COMPRESS, true);
        }
        return capabilities;
    }

    /**
     * --capability multifd and its options: refused, before the guest is built up, where QEMU
     * refuses them or vm-migrate cannot do them yet.
     */
    private void configureMultifd(OutgoingMigration migration, MigrationUri target) {
        boolean multifd = migration.capabilities().has(Capability.MULTIFD);
        if (!multifd) {
            if (multifdChannels != null || multifdFlushAfterEachSection || multifdCompression != null) {
                throw new CliFailure(ExitCode.USAGE, (multifdChannels != null ? "--multifd-channels"
                        : multifdFlushAfterEachSection ? "--multifd-flush-after-each-section"
                        : "--multifd-compression") + " needs --capability multifd");
            }
            return;
        }
        if (!target.isSocket()) {
            throw new CliFailure(ExitCode.USAGE, "--capability multifd needs a tcp: or unix: URI (the channels are "
                    + "more connections to it); " + uri + " has one connection");
        }
        if (tlsCredentials != null) {
            throw new CliFailure(ExitCode.USAGE, "--capability multifd cannot go with --tls-creds yet");
        }
        if (multifdChannels != null) {
            if (multifdChannels < 1 || multifdChannels > IncomingMultifd.MAX_CHANNELS) {
                throw new CliFailure(ExitCode.USAGE, "--multifd-channels " + multifdChannels + ": must be 1 to "
                        + IncomingMultifd.MAX_CHANNELS);
            }
            migration.setMultifdChannels(multifdChannels);
        }
        migration.setMultifdFlushAfterEachSection(multifdFlushAfterEachSection);
        migration.setMultifdCompression(multifdCompressionParameters());
    }

    /** --multifd-compression (or --compress: zstd) at --compress-level, within QEMU's bounds for the method. */
    private MultifdCompressionParameters multifdCompressionParameters() {
        String option = multifdCompression == null ? "--compress" : "--multifd-compression " + multifdCompression;
        try {
            MultifdCompression method = multifdCompression == null ? MultifdCompression.NONE
                    : MultifdCompression.fromQemuName(multifdCompression);
            if (compress && multifdCompression != null && method != MultifdCompression.ZSTD) {
                throw new IllegalArgumentException("--compress means zstd with multifd");
            }
            return MultifdCompressionParameters.DEFAULT.with(compress ? MultifdCompression.ZSTD : method, compressLevel);
        } catch (IllegalArgumentException e) {
            throw new CliFailure(ExitCode.USAGE, option + " (--compress-level " + compressLevel + "): " + e.getMessage());
        }
    }

    /** --postcopy-after: auto is after the first pass. */
    private long postcopyPasses() {
        if (postcopyAfter.equals("auto")) {
            return 1;
        }
        try {
            long passes = Long.parseLong(postcopyAfter);
            if (passes >= 1) {
                return passes;
            }
        } catch (NumberFormatException e) {
            // the line below says what is wanted
        }
        throw new CliFailure(ExitCode.USAGE, "--postcopy-after " + postcopyAfter + ": a number of passes (1 or more) "
                + "or auto");
    }

    /** The disk's handler when --copy-storage asks for one. */
    private BlockMigration blockMigration(Guest guest) {
        if (copyStorage == null) {
            if (baseImage != null) {
                throw new CliFailure(ExitCode.USAGE, "--base-image is used only with --copy-storage inc");
            }
            return null;
        }
        Disk disk = guest.disk().orElseThrow(() -> new CliFailure(ExitCode.USAGE, "--copy-storage needs --disk IMAGE"));
        try {
            return new BlockMigration(List.of(disk), copyStorage, baseImage, false, new BlockStats());
        } catch (IllegalArgumentException e) {
            throw new CliFailure(ExitCode.USAGE, e.getMessage(), e);
        }
    }

    /** picocli adapter for {@link CopyMode#fromText}. */
    static final class CopyModeConverter implements picocli.CommandLine.ITypeConverter<CopyMode> {
        @Override
        public CopyMode convert(String value) {
            try {
                return CopyMode.fromText(value);
            } catch (IllegalArgumentException e) {
                throw new picocli.CommandLine.TypeConversionException(e.getMessage());
            }
        }
    }

    /** The monitor's terminal with --monitor, else null. */
    private Monitor monitor;

    @Override
    public Integer call() throws Exception {
        try (Monitor opened = controlOptions.openMonitor(); Reporter reporter = Reporter.create(outputOptions, opened)) {
            monitor = opened;
            // From here on a signal cancels, also while the guest is built, filled and warmed up.
            Interrupts.Cancellation cancellation = Interrupts.cancellation();
            try {
                return send(reporter, cancellation);
            } catch (CliFailure e) {
                reporter.failed(e.getMessage()); // --json still ends with the final record
                throw e;
            } catch (InterruptedException | java.nio.channels.ClosedByInterruptException e) {
                if (!cancellation.beforeHandOver()) {
                    throw e;
                }
                return Interrupts.cancelledBeforeStart(reporter);
            }
        }
    }

    private int send(Reporter reporter, Interrupts.Cancellation cancellation) throws Exception {
        MigrationParameters parameters = new MigrationParameters(maxBandwidth, downtimeLimit, timeout);
        MigrationUri target = MigrationUri.parse(uri);
        tlsCredentials = tls.load(target, dev.vmmigrate.transport.TlsRole.CLIENT);
        tlsPeerName = tlsHostname.peerName(target, tlsCredentials);
        TerminalGuard.refuseTerminal(target);
        SavedVm saved = null;
        if (load != null) {
            saved = SavedVm.open(load);
            if (!saved.machineType().equals(Guest.DEFAULT_MACHINE)) {
                return sendHeld(target, saved, reporter, cancellation);
            }
        } else if (guestOptions.machine != null && !guestOptions.machine.equals(Guest.DEFAULT_MACHINE)) {
            throw new CliFailure(ExitCode.USAGE, "--machine " + guestOptions.machine + ": the built-in guest is "
                    + "machine none; a VM of another type needs its CPU and device state, so it can only come from "
                    + "--load FILE");
        }
        // The JIT warms up on a scratch guest while the guest is built, filled and started.
        try (JitWarmUp jitWarmUp = JitWarmUp.start();
             Guest guest = saved != null ? saved.loadGuest(guestOptions) : guestOptions.builder().build()) {
            // A loaded guest that came from QEMU has no sections of ours: send it back as QEMU expects.
            boolean qemuCompatible = compat == Compat.QEMU || (saved != null && !saved.carriesOwnSections());
            // Every refusal of the options comes before the guest is filled, started and warmed up.
            VmControl vm = VmControl.source(guest, qemuCompatible, blockMigration(guest));
            OutgoingMigration migration = vm.outgoing();
            migration.setParameters(parameters);
            migration.setStallTimeout(stall.stallTimeout);
            try {
                migration.setCapabilities(parseCapabilities(guest.ramBytes(), target, qemuCompatible));
                if (postcopyAfter != null) {
                    migration.setPostcopyAfter(postcopyPasses());
                }
                if (reconnect != null) {
                    ReconnectUri.require(target);
                    migration.setReconnect(reconnect, target, this::connect);
                }
                configureMultifd(migration, target);
            } catch (MigrationException e) {
                throw new CliFailure(ExitCode.USAGE, e.getMessage(), e);
            }
            if (fill == Fill.HALF_RANDOM && saved == null) {
                for (RamBlock block : guest.ramBlocks()) {
                    cancellation.check();
                    Workload.fillHalfRandom(block, guestOptions.seed);
                }
            }
            cancellation.check();
            boolean runs = saved != null ? saved.ranAtSource() && !paused : !paused;
            if (runs) {
                guest.start();
            } else {
                guest.stop(dev.vmmigrate.guest.RunState.PAUSED);
            }
            if (warmup != null) {
                Thread.sleep(warmup.toMillis());
            }
            jitWarmUp.await(JIT_WARM_UP_WAIT);
            cancellation.check();
            vm.addListener(reporter);
            vm.connector(this::connect);
            try (ControlChannels control = ControlChannels.open(controlOptions, monitor, vm, migration::cancel, reporter)) {
                boolean started;
                try {
                    started = vm.migrate(target);
                } catch (MigrationException e) {
                    throw new CliFailure(ExitCode.USAGE, e.getMessage(), e);
                }
                if (!started) {
                    cancellation.check(); // interrupted while connecting: cancelled, not failed
                    // The seeds' migrate_fd_error: the migration failed, with its MIGRATION event
                    // and final record in --json, and one line for people.
                    reporter.summary(migration.info());
                    return ExitCode.FAILED;
                }
                // A signal from here on cancels it as QEMU's migrate_cancel; in postcopy it is refused
                // with a line, and a second one does not end vm-migrate, which would lose the guest.
                cancellation.handOver(() -> {
                    String refusal = migration.cancelRefusal();
                    if (refusal == null) {
                        migration.cancel();
                    } else {
                        reporter.note("WARNING", "not cancelled: " + refusal + " (a signal does not end vm-migrate "
                                + "now: that would lose the guest)");
                    }
                }, () -> migration.cancelRefusal() == null);
                reporter.track(migration::info);
                MigrationStatus end = migration.awaitFinished();
                reporter.summary(migration.info(), end == MigrationStatus.COMPLETED && !migration.destinationConfirmed()
                        ? "the destination's verdict is unknown (no return path: " + target + "), check it there"
                        : null);
                return switch (end) {
                    case COMPLETED -> ExitCode.OK;
                    case CANCELLED -> ExitCode.CANCELLED;
                    default -> ExitCode.FAILED;
                };
            }
        }
    }

    /** Connects, then the TLS handshake with --tls-creds (bounded by the stall timeout). */
    private Connection connect(MigrationUri target) throws IOException {
        return TlsOptions.secure(target.connect(), tlsCredentials, tlsPeerName, stall.stallTimeout);
    }

    private static String describe(IOException e) {
        return e.getMessage() != null ? e.getMessage() : e.toString();
    }

    /** A VM of another machine type from --load: sent once, as it is, stopped (it cannot run here). */
    private int sendHeld(MigrationUri target, SavedVm saved, Reporter reporter, Interrupts.Cancellation cancellation)
            throws IOException, InterruptedException {
        List<String> ignored = new java.util.ArrayList<>();
        if (guestOptions.ram != null || guestOptions.ramFile != null || guestOptions.disk != null) {
            ignored.add("--ram, --ram-file and --disk");
        }
        if (reconnect != null) {
            ignored.add("--reconnect");
        }
        if (multifdChannels != null || multifdFlushAfterEachSection || multifdCompression != null) {
            ignored.add("--multifd-channels, --multifd-flush-after-each-section and --multifd-compression");
        }
        if (!capabilityOptions.isEmpty() || compress || copyStorage != null || warmup != null || paused
                || !guestOptions.workload.equals(dev.vmmigrate.guest.WorkloadSpec.NONE) || fill != Fill.NONE) {
            ignored.add("--capability, --compress, --copy-storage, --workload, --fill, --warmup and --paused");
        }
        if (guestOptions.machine != null && !guestOptions.machine.equals(saved.machineType())) {
            throw new CliFailure(ExitCode.USAGE, "--machine " + guestOptions.machine + " but " + load + " holds a "
                    + saved.machineType() + " VM");
        }
        if (!ignored.isEmpty()) {
            throw new CliFailure(ExitCode.USAGE, String.join("; ", ignored) + " do not apply to a " + saved.machineType()
                    + " VM from --load: it is sent stopped, as it was saved");
        }
        try (HeldVm vm = saved.loadHeld()) {
            cancellation.check();
            Connection connection;
            try {
                connection = connect(target);
            } catch (IOException e) {
                cancellation.check();
                MigrationInfo failed = MigrationInfo.of(MigrationStatus.FAILED.qmpName(), null, describe(e));
                reporter.statusChanged(MigrationStatus.FAILED, failed); // as the live path: see call()
                reporter.summary(failed);
                return ExitCode.FAILED;
            }
            cancellation.handOver(connection::shutdown); // the VM stays in --load's file either way
            MigrationInfo info = HeldVmSend.send(vm, connection, reporter);
            if (cancellation.requested()) {
                reporter.summary(MigrationInfo.of(MigrationStatus.CANCELLED.qmpName(), info.totalTime(),
                        "interrupted: the VM was not sent whole; it stays in " + load));
                return ExitCode.CANCELLED;
            }
            reporter.summary(info);
            return info.status().equals(MigrationStatus.COMPLETED.qmpName()) ? ExitCode.OK : ExitCode.FAILED;
        }
    }
}
