package dev.vmmigrate.cli;

import dev.vmmigrate.migration.VmControl;
import dev.vmmigrate.qmp.Qmp;
import dev.vmmigrate.qmp.QmpServer;
import dev.vmmigrate.transport.MigrationUri;
import java.io.IOException;

/**
 * The QMP socket and the monitor of one command, both on the same {@link VmControl} through one
 * {@link Qmp}; nothing at all without --qmp and --monitor. Closing stops them (and removes a
 * unix socket).
 */
final class ControlChannels implements AutoCloseable {
    private final QmpServer server;

    private ControlChannels(QmpServer server) {
        this.server = server;
    }

    /**
     * @param monitor the monitor opened for --monitor, or null
     * @param onQuit what QMP's and the monitor's quit do (cancel the migration, end the command)
     */
    static ControlChannels open(ControlOptions options, Monitor monitor, VmControl vm, Runnable onQuit,
                                Reporter reporter) {
        if (options.qmp == null && monitor == null) {
            return new ControlChannels(null);
        }
        String version;
        try {
            version = "vm-migrate " + VersionProvider.buildVersion();
        } catch (IOException e) {
            version = "vm-migrate"; // the greeting's package is information only
        }
        Qmp qmp = new Qmp(vm, version, onQuit);
        QmpServer server = null;
        if (options.qmp != null) {
            MigrationUri where;
            try {
                where = MigrationUri.parse(options.qmp);
            } catch (IllegalArgumentException e) {
                throw new CliFailure(ExitCode.USAGE, "--qmp " + e.getMessage(), e);
            }
            if (!where.isSocket()) {
                throw new CliFailure(ExitCode.USAGE, "--qmp needs unix:PATH or tcp:HOST:PORT, not " + where);
            }
            try {
                server = QmpServer.start(where, qmp);
            } catch (IOException e) {
                throw new CliFailure(ExitCode.USAGE, "--qmp: " + e.getMessage(), e);
            }
            reporter.note("QMP", "QMP on " + server.address());
        }
        if (monitor != null) {
            monitor.start(qmp, vm.outgoing());
        }
        return new ControlChannels(server);
    }

    @Override
    public void close() {
        if (server != null) {
            server.close();
        }
    }
}
