package dev.vmmigrate.cli;

import java.util.List;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/** How a command reports on stderr: human progress or NDJSON events. */
final class OutputOptions {
    /** --progress values. */
    enum ProgressMode { AUTO, BAR, PLAIN, NONE }

    @Option(names = "--json",
            description = "Write NDJSON on stderr: QMP-style events (MIGRATION, MIGRATION_PASS) and a final "
                    + "{\"return\": query-migrate} line.")
    boolean json;

    @Option(names = "--progress", paramLabel = "MODE", defaultValue = "auto",
            description = "Progress on stderr: auto (a live bar on a terminal, plain lines otherwise), bar, plain, "
                    + "none. Default: ${DEFAULT-VALUE}.")
    ProgressMode progress;

    /** The command these options belong to, for its --max-bandwidth as typed; null outside picocli. */
    @Spec(Spec.Target.MIXEE)
    CommandSpec command;

    /**
     * The unit progress shows rates in: the one this command's --max-bandwidth was given in, as
     * typed (its value is bytes and has lost the unit); MiB/s for a command without one.
     */
    RateUnit rateUnit() {
        OptionSpec limit = command == null ? null : command.findOption("--max-bandwidth");
        if (limit == null) {
            return RateUnit.MIB_PER_S;
        }
        List<String> typed = limit.originalStringValues();
        return RateUnit.of(typed.isEmpty() ? limit.defaultValue() : typed.getLast());
    }
}
