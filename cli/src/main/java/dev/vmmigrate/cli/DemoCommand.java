package dev.vmmigrate.cli;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.guest.WorkloadSpec;
import dev.vmmigrate.migration.IncomingMigration;
import dev.vmmigrate.migration.MigrationParameters;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.migration.OutgoingMigration;
import dev.vmmigrate.migration.VmControl;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import dev.vmmigrate.units.Units;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code vm-migrate demo}: both sides in one process over tcp loopback, with a guest that keeps
 * dirtying memory, then a check that the destination holds exactly what the source had.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "A live migration on loopback with the built-in guest, for newcomers: a receiver on "
                + "tcp:127.0.0.1:<free port>, a sender whose guest dirties memory, progress and a summary.",
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:Migrated and the destination's RAM equals the source's.", "1:Failed.",
            "2:Bad usage.", "3:Cancelled (Ctrl-C, SIGTERM or SIGHUP).", "4:The destination's RAM differs."})
final class DemoCommand implements Callable<Integer> {
    @Option(names = "--ram", paramLabel = "SIZE", converter = UnitConverters.Size.class, defaultValue = "512M",
            description = "Guest RAM. Default: ${DEFAULT-VALUE}.")
    long ram;

    @Option(names = "--workload", paramLabel = "SPEC", converter = GuestOptions.WorkloadConverter.class,
            defaultValue = "random:64M/s", description = "Workload while migrating. Default: ${DEFAULT-VALUE}.")
    WorkloadSpec workload;

    @Option(names = "--max-bandwidth", paramLabel = "RATE", converter = UnitConverters.Rate.class,
            defaultValue = "512M/s",
            description = "Bandwidth limit (unlimited, or 0 as in QEMU, for none). Default: ${DEFAULT-VALUE}.")
    long maxBandwidth;

    @Mixin
    OutputOptions outputOptions;

    @Override
    public Integer call() throws Exception {
        try (Reporter reporter = Reporter.create(outputOptions, System.err)) {
            // A signal cancels from the start, also while the guests are built and filled.
            Interrupts.Cancellation cancellation = Interrupts.cancellation();
            try {
                return demo(reporter, cancellation);
            } catch (InterruptedException e) {
                if (!cancellation.beforeHandOver()) {
                    throw e;
                }
                return Interrupts.cancelledBeforeStart(reporter);
            }
        }
    }

    private int demo(Reporter reporter, Interrupts.Cancellation cancellation) throws Exception {
        try (Guest source = Guest.builder().ramSize(ram).workload(workload).seed(42).build();
             Guest destination = Guest.builder().ramSize(ram).incoming(true).build();
             IncomingEndpoint endpoint = MigrationUri.parse("tcp:127.0.0.1:0").listen()) {
            reporter.note("DEMO", String.format("guest of %s (half random pages), workload %s; receiver on %s",
                    Units.formatSize(ram), workload, endpoint.boundAddress()));
            for (RamBlock block : source.ramBlocks()) {
                Workload.fillHalfRandom(block, 42);
            }
            cancellation.check();
            VmControl receiver = VmControl.destination(destination, null, true);
            IncomingMigration incoming = receiver.incoming();
            CompletableFuture<MigrationStatus> received = CompletableFuture.supplyAsync(() -> {
                try {
                    incoming.start(endpoint.accept());
                    return incoming.awaitFinished();
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            source.start();
            Thread.sleep(500);
            VmControl sender = VmControl.source(source, false, null);
            OutgoingMigration migration = sender.outgoing();
            migration.setParameters(new MigrationParameters(maxBandwidth,
                    MigrationParameters.DEFAULT_DOWNTIME_LIMIT, Duration.ofMinutes(2)));
            sender.addListener(reporter);
            if (!sender.migrate(MigrationUri.parse(endpoint.boundAddress()))) {
                reporter.summary(migration.info());
                return ExitCode.FAILED;
            }
            cancellation.handOver(sender::cancel);
            reporter.track(migration::info);
            MigrationStatus sent = migration.awaitFinished();
            reporter.summary(migration.info());
            if (sent != MigrationStatus.COMPLETED) {
                incoming.cancel();
                return sent == MigrationStatus.CANCELLED ? ExitCode.CANCELLED : ExitCode.FAILED;
            }
            MigrationStatus loaded = received.get(1, TimeUnit.MINUTES);
            if (loaded != MigrationStatus.COMPLETED) {
                reporter.note("DEMO", "destination failed: " + incoming.error());
                return ExitCode.FAILED;
            }
            long mismatch = source.ramBlocks().getFirst().memory()
                    .mismatch(destination.ramBlocks().getFirst().memory());
            if (mismatch != -1) {
                reporter.note("DEMO", "destination RAM differs from the source at offset " + mismatch);
                return ExitCode.VERIFICATION;
            }
            destination.resume();
            reporter.note("DEMO", "destination RAM equals the source's byte for byte; the guest now runs there ("
                    + destination.runState().qemuName() + "), the source is " + source.runState().qemuName());
            return ExitCode.OK;
        }
    }
}
