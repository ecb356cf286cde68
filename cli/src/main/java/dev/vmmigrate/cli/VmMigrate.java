package dev.vmmigrate.cli;

import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** The {@code vm-migrate} command: subcommands, one-line errors and the documented exit codes. */
@Command(name = "vm-migrate",
        mixinStandardHelpOptions = true,
        versionProvider = VersionProvider.class,
        description = "Live migration of a guest in QEMU's migration stream format (version 3).",
        subcommands = {SendCommand.class, ReceiveCommand.class, RelayCommand.class, InspectCommand.class, DemoCommand.class,
                CommandLine.HelpCommand.class},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {
            "0:Completed (send), loaded and verified (receive), read (inspect).",
            "1:Migration failed (connection lost, peer failed, timeout).",
            "2:Bad usage or input (option, value, malformed or mismatched stream).",
            "3:Cancelled (Ctrl-C).",
            "4:Verification mismatch: received state differs from the source's digest.",
            "5:receive: loaded and verified, but the source's commit never arrived; the guest is held paused.",
        },
        footerHeading = "%nSee also:%n",
        footer = "vm-migrate-send(1), vm-migrate-receive(1), vm-migrate-relay(1), vm-migrate-inspect(1), vm-migrate-demo(1). "
                + "Set VM_MIGRATE_DEBUG=1 for stack traces.")
public final class VmMigrate implements Runnable {
    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT,
            description = "Print stack traces with errors.")
    boolean debug;

    @Override
    public void run() {
        throw new CommandLine.ParameterException(new CommandLine(this), "missing command: send, receive, relay, inspect or demo");
    }

    public static void main(String[] args) {
        System.exit(run(args));
    }

    /** Runs the command line and returns the exit code (tests call this). */
    public static int run(String... args) {
        CommandLine commandLine = commandLine();
        return commandLine.execute(args);
    }

    static CommandLine commandLine() {
        CommandLine commandLine = new CommandLine(new VmMigrate());
        commandLine.setExecutionExceptionHandler(VmMigrate::handleFailure);
        commandLine.setParameterExceptionHandler(VmMigrate::handleUsage);
        commandLine.setCaseInsensitiveEnumValuesAllowed(true);
        return commandLine;
    }

    private static int handleUsage(CommandLine.ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        err.println(cmd.getCommandSpec().qualifiedName() + ": " + e.getMessage());
        err.println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for more information.");
        err.flush();
        return ExitCode.USAGE;
    }

    private static int handleFailure(Exception e, CommandLine cmd, CommandLine.ParseResult parsed) {
        PrintWriter err = cmd.getErr();
        int code;
        String message;
        if (e instanceof CliFailure failure) {
            code = failure.exitCode();
            message = failure.getMessage();
        } else if (e instanceof java.io.UncheckedIOException unchecked) {
            code = ExitCode.USAGE; // opening what the user named (a disk image) failed
            message = unchecked.getCause().getMessage();
        } else if (e instanceof StreamFormatException || e instanceof IllegalArgumentException) {
            code = ExitCode.USAGE;
            message = e.getMessage();
        } else if (e instanceof IOException) {
            code = ExitCode.FAILED;
            message = e.getMessage();
        } else {
            code = ExitCode.FAILED;
            message = "internal error: " + e;
        }
        err.println(cmd.getCommandSpec().qualifiedName() + ": " + message);
        if (debugRequested(parsed)) {
            e.printStackTrace(err);
        }
        err.flush();
        return code;
    }

    private static boolean debugRequested(CommandLine.ParseResult parsed) {
        if ("1".equals(System.getenv("VM_MIGRATE_DEBUG"))) {
            return true;
        }
        for (CommandLine.ParseResult r = parsed; r != null; r = r.subcommand()) {
            if (r.hasMatchedOption("--debug")) {
                return true;
            }
        }
        return false;
    }
}
