package dev.vmmigrate.cli;

import dev.vmmigrate.held.CheckpointFile;
import dev.vmmigrate.held.HeldVm;
import dev.vmmigrate.held.HeldVmReceiver;
import dev.vmmigrate.held.TeeChannel;
import dev.vmmigrate.migration.PostcopyAdvice;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.savevm.Section;
import dev.vmmigrate.stream.StallWatchdog;
import dev.vmmigrate.migration.MigrationInfo;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import dev.vmmigrate.units.Units;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code vm-migrate relay IN OUT}: receives a live migration and passes the VM on as it arrives. */
@Command(name = "relay", mixinStandardHelpOptions = true,
        description = {"Accept one live migration on IN and pass it on to OUT as it arrives, any machine type "
                + "(QEMU's pc, q35, or vm-migrate's none), so a VM can move through a host both sides reach. The "
                + "stream goes on byte for byte (pipelined: each chunk is sent on as soon as it is read), while "
                + "the relay loads its own copy and checks the framing; the destination resumes the VM.",
            "IN: tcp:HOST:PORT (port 0 picks a free port and prints it), unix:PATH, exec:COMMAND, fd:N, file:PATH. "
                + "OUT: tcp:HOST:PORT, unix:PATH, exec:COMMAND, fd:N, file:PATH."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:The whole stream was passed on and read to its end.",
            "1:Failed: IN or OUT broke, or the stream was malformed (OUT got it only up to there).",
            "2:Bad usage.", "3:Interrupted (Ctrl-C, SIGTERM or SIGHUP)."})
final class RelayCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "IN", description = "Where to accept the migration.")
    String in;

    @Parameters(index = "1", paramLabel = "OUT", description = "Where to pass it on.")
    String out;

    @Option(names = "--save", paramLabel = "FILE",
            description = "Also write the VM to FILE as a compact checkpoint once it has passed (as receive --save); "
                    + "when OUT fails, the VM held here is saved all the same.")
    Path save;

    @Mixin
    StallOptions stall;

    @Mixin
    TlsOptions tls;

    @Mixin
    TlsHostnameOptions tlsHostname;

    @Mixin
    OutputOptions outputOptions;

    @Override
    public Integer call() throws Exception {
        MigrationUri source = MigrationUri.parse(in);
        MigrationUri target = MigrationUri.parse(out);
        // --tls-creds covers both sides: the relay is the server to IN and the client to OUT.
        dev.vmmigrate.transport.TlsCredentials inCredentials = tls.load(source, dev.vmmigrate.transport.TlsRole.SERVER);
        dev.vmmigrate.transport.TlsCredentials outCredentials = tls.load(target, dev.vmmigrate.transport.TlsRole.CLIENT);
        String outPeerName = tlsHostname.peerName(target, outCredentials);
        TerminalGuard.refuseTerminal(target);
        try (Reporter reporter = Reporter.create(outputOptions, System.err)) {
            try {
                Connection incoming = accept(source, inCredentials, reporter);
                Connection outgoing;
                try {
                    outgoing = TlsOptions.secure(target.connect(), outCredentials, outPeerName, stall.stallTimeout);
                } catch (IOException e) {
                    incoming.close(); // the source sees the connection drop and keeps its VM running
                    throw new CliFailure(ExitCode.FAILED, "cannot pass the VM on: " + e.getMessage(), e);
                }
                reporter.note("RELAYING", "passing the stream on to " + outgoing.description());
                return relay(incoming, outgoing, reporter);
            } catch (CliFailure e) {
                reporter.failed(e.getMessage());
                throw e;
            }
        }
    }

    private Connection accept(MigrationUri source, dev.vmmigrate.transport.TlsCredentials credentials,
                              Reporter reporter) {
        AtomicBoolean interrupted = new AtomicBoolean();
        try (IncomingEndpoint endpoint = TlsOptions.listen(source, credentials, stall.stallTimeout)) {
            Interrupts.onInterrupt(() -> {
                interrupted.set(true);
                try {
                    endpoint.close();
                } catch (IOException ignored) {
                    // closing to wake accept(): nothing more to do
                }
            });
            reporter.listening(endpoint.boundAddress(), source.isSocket());
            return endpoint.accept();
        } catch (IOException e) {
            if (interrupted.get()) {
                throw new CliFailure(ExitCode.CANCELLED, "interrupted while waiting for a migration");
            }
            throw new CliFailure(ExitCode.FAILED, e.getMessage(), e);
        }
    }

    private int relay(Connection incoming, Connection outgoing, Reporter reporter)
            throws InterruptedException, IOException {
        TeeChannel tee = new TeeChannel(incoming.input(), outgoing.output());
        HeldVmReceiver held = new HeldVmReceiver(null, null);
        // The relay's outcome is the load's and the copy's together: it reports its own status.
        reporter.statusChanged(MigrationStatus.ACTIVE, MigrationInfo.of(MigrationStatus.ACTIVE.qmpName(), 0L, null));
        AtomicBoolean interrupted = new AtomicBoolean();
        Interrupts.onInterrupt(() -> {
            interrupted.set(true);
            incoming.shutdown();
            outgoing.shutdown();
        });
        // The verdict is the destination's, not the relay's: what it sends back goes to the source.
        Thread back = incoming.hasBackChannel() && outgoing.hasBackChannel()
                ? Thread.ofVirtual().name("relay-return-path").start(() -> pump(outgoing, incoming)) : null;
        long start = System.currentTimeMillis();
        String loadError = null;
        MigrationInput in = new MigrationInput(tee);
        try (StallWatchdog watchdog = new StallWatchdog(stall.stallTimeout, in::position, () -> {
            incoming.shutdown();
            outgoing.shutdown();
        })) {
            try {
                held.loaded(held.loadVm().load(in, passingCommandsOn()), false);
                // What the source sends after the stream's end (a vm-migrate source's commit) goes on too.
                while (!in.atEnd()) {
                    in.skip(1);
                }
            } catch (IOException | RuntimeException e) {
                held.loadFailed();
                loadError = watchdog.stalled() ? watchdog.describe("no bytes from the source")
                        : e.getMessage() == null ? e.toString() : e.getMessage();
            }
        } finally {
            in.close();
        }
        long total = System.currentTimeMillis() - start;
        String closeError = null;
        try {
            outgoing.close(); // the destination sees the end of the stream; exec: reports its exit status
        } catch (IOException e) {
            closeError = e.getMessage();
        }
        if (back != null) {
            back.join(stall.stallTimeout.toMillis());
        }
        incoming.close();
        if (loadError != null) {
            MigrationInfo failed = MigrationInfo.of(MigrationStatus.FAILED.qmpName(), total,
                    "load of migration failed: " + loadError);
            reporter.statusChanged(MigrationStatus.FAILED, failed);
            reporter.summary(failed);
            return interrupted.get() ? ExitCode.CANCELLED : ExitCode.FAILED;
        }
        try (HeldVm vm = held.vm()) {
            if (save != null) {
                long bytes = CheckpointFile.write(save, vm::save);
                reporter.note("SAVED", "saved to " + save + " (" + Units.formatSize(bytes) + ")");
            }
            IOException copyError = tee.copyError();
            if (copyError != null || closeError != null) {
                String why = copyError != null ? copyError.getMessage() : closeError;
                MigrationInfo failed = MigrationInfo.of(MigrationStatus.FAILED.qmpName(), total,
                        "passing the VM on to " + outgoing.description() + " failed after " + tee.copied()
                                + " bytes: " + why + "; the whole VM (" + vm.machineType() + ") was received here"
                                + (save != null ? " and saved to " + save : ", use --save to keep it"));
                reporter.statusChanged(MigrationStatus.FAILED, failed);
                reporter.summary(failed);
                return ExitCode.FAILED;
            }
            MigrationInfo info = MigrationInfo.of(MigrationStatus.COMPLETED.qmpName(), total, null);
            reporter.note("RELAYED", String.format("passed on %s of a %s VM (%s RAM) in %d ms",
                    Units.formatSize(tee.copied()), vm.machineType(), Units.formatSize(vm.ramBytes()), total));
            reporter.statusChanged(MigrationStatus.COMPLETED, info);
            reporter.summary(info);
            return ExitCode.OK;
        }
    }

    /**
     * The relay lets the destination answer the return path's commands (they reach it with the
     * stream) and takes QEMU's postcopy advice as a precopy destination does.
     */
    private static LoadVm.Listener passingCommandsOn() {
        return new LoadVm.Listener() {
            @Override
            public void command(Section.Command command) throws IOException {
                switch (command.command()) {
                    case OPEN_RETURN_PATH, PING, VM_MIGRATE_RESUMABLE -> {
                        // the destination answers, through the back pump (a relay itself does not resume)
                    }
                    case POSTCOPY_ADVISE -> PostcopyAdvice.check(command);
                    case POSTCOPY_RAM_DISCARD, POSTCOPY_LISTEN, PACKAGED, POSTCOPY_RUN ->
                            throw new dev.vmmigrate.stream.StreamFormatException("relay does not pass a switch to "
                                    + "postcopy on (COMMAND " + command.command() + "); receive takes one",
                                    command.offset());
                    default -> LoadVm.refuseUnlessSwitchover(command);
                }
            }
        };
    }

    /** Copies what {@code from} sends back to {@code to} until either side ends. */
    private static void pump(Connection from, Connection to) {
        java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(64 * 1024);
        try {
            while (from.input().read(buffer) >= 0) {
                buffer.flip();
                while (buffer.hasRemaining()) {
                    to.output().write(buffer);
                }
                buffer.clear();
            }
        } catch (IOException | RuntimeException ignored) {
            // one side ended: the source sees its return path close, which is its verdict
        }
    }
}
