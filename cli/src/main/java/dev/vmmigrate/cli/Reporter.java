package dev.vmmigrate.cli;

import dev.vmmigrate.migration.LoadProgress;
import dev.vmmigrate.migration.MigrationInfo;
import dev.vmmigrate.migration.MigrationListener;
import java.io.PrintStream;
import java.util.function.Supplier;

/** What a command tells its user on stderr while it works; one implementation per output style. */
interface Reporter extends MigrationListener, AutoCloseable {
    /** A human note ("listening on tcp:127.0.0.1:4444"), or an event in JSON mode. */
    void note(String event, String message);

    /** A broken link and its resumption (--reconnect): events LINK_DOWN and LINK_UP, always said. */
    @Override
    default void linkChanged(boolean up, String detail) {
        note(up ? "LINK_UP" : "LINK_DOWN", detail);
    }

    /**
     * Where the command listens (tcp:, unix:) or reads from (exec:, fd:, file:): event LISTENING,
     * always said; in JSON with the address's own fields (host and port, or path).
     */
    default void listening(String address, boolean socket) {
        note("LISTENING", listeningLine(address, socket));
    }

    /** "listening on tcp:127.0.0.1:4444", or "reading from exec:..." for a transport without a listener. */
    static String listeningLine(String address, boolean socket) {
        return (socket ? "listening on " : "reading from ") + address;
    }

    /** Starts periodic progress drawn from {@code info}. */
    default void track(Supplier<MigrationInfo> info) {
    }

    /** Starts periodic progress of the receiver's load, drawn from {@code load}; human output only (--json is unchanged). */
    default void trackLoad(Supplier<LoadProgress> load) {
    }

    /** The final figures. */
    void summary(MigrationInfo info);

    /** The final figures and what they cannot tell (e.g. that the destination's verdict is unknown). */
    default void summary(MigrationInfo info, String caveat) {
        if (caveat != null) {
            note("WARNING", caveat);
        }
        summary(info);
    }

    /** The command ends on {@code reason} before any summary (JSON still ends with its final record). */
    default void failed(String reason) {
    }

    @Override
    default void close() {
    }

    /** On stderr, or above the monitor's prompt (then a plain line a second: the terminal is the monitor's). */
    static Reporter create(OutputOptions options, Monitor monitor) {
        if (monitor == null) {
            return create(options, System.err);
        }
        return options.json ? new JsonReporter(monitor.output())
                : new ProgressReporter(monitor.output(), options.progress == OutputOptions.ProgressMode.NONE
                        ? ProgressReporter.Style.NONE : ProgressReporter.Style.PLAIN, options.rateUnit());
    }

    static Reporter create(OutputOptions options, PrintStream err) {
        if (options.json) {
            return new JsonReporter(err);
        }
        ProgressReporter.Style style = switch (options.progress) {
            case NONE -> ProgressReporter.Style.NONE;
            case PLAIN -> ProgressReporter.Style.PLAIN;
            case BAR -> ProgressReporter.Style.BAR;
            case AUTO -> ProgressReporter.isTerminal() ? ProgressReporter.Style.BAR : ProgressReporter.Style.PLAIN;
        };
        return new ProgressReporter(err, style, options.rateUnit());
    }
}
