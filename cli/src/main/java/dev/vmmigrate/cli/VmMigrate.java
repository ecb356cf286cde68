package dev.vmmigrate.cli;

import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.io.PrintWriter;
import java.util.List;
import picocli.AutoComplete;
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
            "0:Completed (send), loaded and verified (receive), passed on whole (relay), read whole (inspect), "
                + "migrated and verified (demo).",
            "1:Failed: connection lost, peer failed, a load that failed (a malformed or mismatched stream), "
                + "timeout or stall; inspect: the file could not be read. A failed send leaves its guest running.",
            "2:Bad usage or input: option, value, URI, a refused capability, an fd: that is a terminal; "
                + "inspect: a malformed stream.",
            "3:Cancelled by Ctrl-C, SIGTERM or SIGHUP (send, receive, relay, demo): the source guest runs on; "
                + "receive: the guest is not resumed.",
            "4:Verification mismatch (receive, demo): the received state differs from the source's.",
            "5:receive: loaded and verified, but the source's commit never arrived; the guest is held paused.",
        },
        footerHeading = "%nSee also:%n",
        footer = {"vm-migrate-send(1), vm-migrate-receive(1), vm-migrate-relay(1), vm-migrate-inspect(1), "
                + "vm-migrate-demo(1). Set VM_MIGRATE_DEBUG=1 for stack traces.",
            "Completion for bash and zsh: source <(vm-migrate completion)%n"})
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
        // picocli's own: prints a bash completion script (zsh too, through bashcompinit).
        commandLine.addSubcommand("completion", new AutoComplete.GenerateCompletion());
        commandLine.setExecutionExceptionHandler(VmMigrate::handleFailure);
        commandLine.setParameterExceptionHandler(VmMigrate::handleUsage);
        commandLine.setCaseInsensitiveEnumValuesAllowed(true);
        return commandLine;
    }

    private static int handleUsage(CommandLine.ParameterException e, String[] args) {
        CommandLine cmd = e.getCommandLine();
        PrintWriter err = cmd.getErr();
        String suggestion = e instanceof CommandLine.UnmatchedArgumentException unmatched ? suggestion(unmatched) : null;
        if (java.util.Arrays.asList(args).contains("--json")) {
            printJsonError(err, e.getMessage() + (suggestion != null ? " (" + suggestion + ")" : ""));
            return ExitCode.USAGE;
        }
        err.println(cmd.getCommandSpec().qualifiedName() + ": " + e.getMessage());
        if (suggestion != null) {
            err.println(suggestion);
        }
        err.println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for more information.");
        err.flush();
        return ExitCode.USAGE;
    }

    /** With --json, stderr carries JSON only: an error is QMP's {"error": {"class", "desc"}}. */
    private static void printJsonError(PrintWriter err, String message) {
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode line = json.createObjectNode();
        line.putObject("error").put("class", "GenericError").put("desc", message);
        err.println(line);
        err.flush();
    }

    /**
     * picocli's suggestions for a mistyped option or command, the nearest only: "Did you mean:
     * --max-bandwidth?". picocli offers every option sharing the first two letters (--machine
     * too), and up to three commands, so only those nearest by edit distance are kept.
     */
    private static String suggestion(CommandLine.UnmatchedArgumentException e) {
        List<String> suggestions = e.getSuggestions();
        if (suggestions.isEmpty() || e.getUnmatched().isEmpty()) {
            return null;
        }
        String typed = e.getUnmatched().getFirst();
        int nearest = suggestions.stream().mapToInt(s -> editDistance(typed, s)).min().orElseThrow();
        List<String> best = suggestions.stream().filter(s -> editDistance(typed, s) == nearest).toList();
        return "Did you mean: " + String.join(" or ", best) + "?";
    }

    /** Levenshtein distance. */
    static int editDistance(String a, String b) {
        int[] previous = new int[b.length() + 1];
        int[] current = new int[b.length() + 1];
        for (int j = 0; j <= b.length(); j++) {
            previous[j] = j;
        }
        for (int i = 1; i <= a.length(); i++) {
            current[0] = i;
            for (int j = 1; j <= b.length(); j++) {
                int substitution = previous[j - 1] + (a.charAt(i - 1) == b.charAt(j - 1) ? 0 : 1);
                current[j] = Math.min(substitution, Math.min(previous[j], current[j - 1]) + 1);
            }
            int[] swap = previous;
            previous = current;
            current = swap;
        }
        return previous[b.length()];
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
        if (jsonRequested(parsed)) {
            printJsonError(err, message);
        } else {
            err.println(cmd.getCommandSpec().qualifiedName() + ": " + message);
        }
        if (debugRequested(parsed)) {
            e.printStackTrace(err);
        }
        err.flush();
        return code;
    }

    private static boolean jsonRequested(CommandLine.ParseResult parsed) {
        for (CommandLine.ParseResult r = parsed; r != null; r = r.subcommand()) {
            if (r.hasMatchedOption("--json")) {
                return true;
            }
        }
        return false;
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
