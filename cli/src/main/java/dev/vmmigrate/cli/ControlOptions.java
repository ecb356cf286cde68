package dev.vmmigrate.cli;

import java.io.IOException;
import picocli.CommandLine.Option;

/** --qmp and --monitor, shared by send and receive: ways to steer the migration while it runs. */
final class ControlOptions {
    @Option(names = "--qmp", paramLabel = "URI",
            description = "Serve QEMU's QMP on URI: unix:PATH (created 0600, removed at exit) or tcp:HOST:PORT (for "
                    + "local tools). Several clients at once; QEMU 7.2's commands for migration (query-migrate, "
                    + "migrate-set-parameters, migrate-set-capabilities, migrate, migrate_cancel, ...), query-status, "
                    + "stop, cont, quit, and its events.")
    String qmp;

    @Option(names = "--monitor",
            description = "An interactive monitor on the terminal with QEMU's HMP commands (info migrate, "
                    + "migrate_set_parameter, migrate_cancel, migrate, stop, cont, ...; help lists them), line "
                    + "editing, history (~/.vm-migrate_history) and tab completion. Progress prints above the prompt.")
    boolean monitor;

    /** The monitor's terminal, opened before anything prints (the reporter writes above its prompt); null without --monitor. */
    Monitor openMonitor() {
        if (!monitor) {
            return null;
        }
        try {
            return Monitor.onTerminal();
        } catch (IOException e) {
            throw new CliFailure(ExitCode.USAGE, "--monitor needs a terminal: " + e.getMessage(), e);
        }
    }
}
