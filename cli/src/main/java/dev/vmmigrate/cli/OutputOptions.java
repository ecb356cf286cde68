package dev.vmmigrate.cli;

import picocli.CommandLine.Option;

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
}
