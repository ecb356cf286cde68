package dev.vmmigrate.cli;

import dev.vmmigrate.migration.LoadProgress;
import dev.vmmigrate.migration.MigrationInfo;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.os.Libc;
import dev.vmmigrate.units.Units;
import java.io.IOException;
import java.io.PrintStream;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;
import org.jline.utils.AttributedStringBuilder;
import org.jline.utils.AttributedStyle;
import org.jline.utils.InfoCmp;

/**
 * Human progress on stderr: a live one-line bar on a terminal (drawn with jline, which knows the
 * width and the terminal's control sequences), or a plain line per second for logs. What the
 * line says is {@link SendProgressFields}' (the sender) or {@link LoadProgressFields}' (the
 * receiver's load); {@link ProgressLayout} fits it to the terminal's width.
 */
final class ProgressReporter implements Reporter {
    enum Style { BAR, PLAIN, NONE }

    /** Plain lines stay narrower than this, for logs and the monitor's screen. */
    static final int PLAIN_COLUMNS = 120;
    /** The receiver's rate is measured over at least this long, so it does not flicker. */
    private static final long RATE_WINDOW_MILLIS = 1000;

    private final PrintStream err;
    private final Style style;
    private final SendProgressFields sendFields;
    private final LoadProgressFields loadFields;
    private final ScheduledExecutorService ticker;
    private Terminal terminal;
    private volatile long pass;
    private volatile int percent;
    private volatile boolean barDrawn;
    /** The load's last sample the rate was measured from, and that rate; the ticker's own. */
    private LoadProgress rateSample;
    private double loadRate = -1;

    /** {@code rateUnit}: the unit rates are shown in (the one --max-bandwidth was given in). */
    ProgressReporter(PrintStream err, Style style, RateUnit rateUnit) {
        this.err = err;
        this.style = style;
        this.sendFields = new SendProgressFields(rateUnit);
        this.loadFields = new LoadProgressFields(rateUnit);
        this.ticker = style == Style.NONE ? null : Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "progress");
            thread.setDaemon(true);
            return thread;
        });
        if (style == Style.BAR) {
            try {
                terminal = TerminalBuilder.builder().system(true)
                        .systemOutput(TerminalBuilder.SystemOutput.SysErr).build();
            } catch (IOException | RuntimeException e) {
                terminal = null; // no terminal after all: the bar degrades to plain carriage returns
            }
        }
    }

    /** True when stderr is a terminal. */
    static boolean isTerminal() {
        try {
            return Libc.isatty(2) == 1;
        } catch (Throwable e) {
            return false;
        }
    }

    @Override
    public void statusChanged(MigrationStatus status, MigrationInfo info) {
        if (style == Style.NONE) {
            return;
        }
        if (status == MigrationStatus.COMPLETED || status.isFinished()) {
            return; // the summary says it
        }
        line("migration " + status.qmpName());
    }

    @Override
    public void passStarted(long pass) {
        this.pass = pass;
    }

    @Override
    public void note(String event, String message) {
        // Where a receiver (or QMP) listens is an answer, not progress, and a lost link is news: always printed.
        if (style != Style.NONE || "LISTENING".equals(event) || "QMP".equals(event) || event.startsWith("LINK_")) {
            line(message);
        }
    }

    @Override
    public void track(Supplier<MigrationInfo> info) {
        if (ticker == null) {
            return;
        }
        schedule(() -> drawSend(info.get()));
    }

    /** The receiver's load: drawn while it is active. */
    @Override
    public void trackLoad(Supplier<LoadProgress> load) {
        if (ticker == null) {
            return;
        }
        schedule(() -> drawLoad(load.get()));
    }

    private void schedule(Runnable draw) {
        long period = style == Style.BAR ? 200 : 1000;
        ticker.scheduleAtFixedRate(draw, period, period, TimeUnit.MILLISECONDS);
    }

    @Override
    public void summary(MigrationInfo info) {
        summary(info, null);
    }

    /** The caveat ends the summary line: it is the last thing said. */
    @Override
    public void summary(MigrationInfo info, String caveat) {
        stopTicker();
        StringBuilder text = new StringBuilder("migration ").append(info.status());
        if (info.errorDesc() != null) { // a failure is an answer, not progress: always said
            line(text.append(info.totalTime() != null ? " after " + info.totalTime() + " ms" : "")
                    .append(": ").append(info.errorDesc()).toString());
            return;
        }
        if (style == Style.NONE) {
            return;
        }
        if (info.totalTime() != null) {
            text.append(": total ").append(info.totalTime()).append(" ms");
        }
        if (info.downtime() != null) {
            text.append(", downtime ").append(info.downtime()).append(" ms");
        }
        if (info.setupTime() != null) {
            text.append(", setup ").append(info.setupTime()).append(" ms");
        }
        MigrationInfo.Ram ram = info.ram();
        if (ram != null) {
            text.append(String.format(", %s sent (%d normal, %d zero pages)%s, %d passes",
                    Units.formatSize(ram.transferred()), ram.normal(), ram.duplicate(),
                    ram.mbps() >= 0 ? String.format(", %.0f Mbit/s", ram.mbps()) : "", ram.dirtySyncCount()));
            if (ram.multifdBytes() > 0) { // after multifd-compression: what the channels really wrote
                text.append(", multifd channels wrote ").append(Units.formatSize(ram.multifdBytes()));
            }
        }
        if (info.xbzrleCache() != null) {
            text.append(String.format(", xbzrle %d pages in %s, %.0f%% cache misses, %d overflows",
                    info.xbzrleCache().pages(), Units.formatSize(info.xbzrleCache().bytes()),
                    100 * info.xbzrleCache().cacheMissRate(), info.xbzrleCache().overflow()));
        }
        if (info.compression() != null) {
            text.append(String.format(", zstd %d pages at %.1fx", info.compression().pages(),
                    info.compression().compressionRate()));
        }
        if (info.cpuThrottlePercentage() != null) {
            text.append(", throttle ").append(info.cpuThrottlePercentage()).append('%');
        }
        if (info.reconnect() != null && info.reconnect().reconnects() > 0) {
            text.append(String.format(", %d reconnects (%s sent again, link down %d ms)",
                    info.reconnect().reconnects(), Units.formatSize(info.reconnect().resentBytes()),
                    info.reconnect().linkDownTime()));
        }
        if (caveat != null) {
            text.append("; ").append(caveat);
        }
        line(text.toString());
    }

    @Override
    public void close() {
        stopTicker();
        if (terminal != null) {
            try {
                terminal.close();
            } catch (IOException ignored) {
                // closing stderr's terminal: nothing useful to do
            }
        }
    }

    private void stopTicker() {
        if (ticker != null) {
            ticker.shutdownNow();
            try {
                ticker.awaitTermination(1, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private void drawSend(MigrationInfo info) {
        if (!"active".equals(info.status()) && !"setup".equals(info.status())) {
            return; // before the start the line would say nothing; at the end the summary says it
        }
        percent = SendProgressFields.firstPassPercent(info, pass, percent);
        draw(sendFields.fields(info, pass, percent), info.ram() == null ? -1 : percent);
    }

    private void drawLoad(LoadProgress load) {
        if (load.status() != MigrationStatus.ACTIVE && !load.status().isPostcopy()) {
            return;
        }
        if (rateSample == null) {
            loadRate = load.elapsedMillis() > 0 ? load.bytesRead() * 1000.0 / load.elapsedMillis() : -1;
            rateSample = load;
        } else if (load.elapsedMillis() - rateSample.elapsedMillis() >= RATE_WINDOW_MILLIS) {
            // Never below 0: a position read mid-refill may have been a chunk ahead (LoadProgress).
            loadRate = Math.max(0, (load.bytesRead() - rateSample.bytesRead()) * 1000.0
                    / (load.elapsedMillis() - rateSample.elapsedMillis()));
            rateSample = load;
        }
        draw(loadFields.fields(load, loadRate), LoadProgressFields.percent(load));
    }

    /** One line: plain, or the bar redrawn in place at the terminal's width; {@code barPercent} -1 for no bar. */
    private void draw(List<ProgressLayout.Field> fields, int barPercent) {
        if (style == Style.PLAIN) {
            line(ProgressLayout.fit(fields, PLAIN_COLUMNS, -1).text(), false);
            return;
        }
        int width = terminal != null && terminal.getWidth() > 0 ? terminal.getWidth() : 80;
        ProgressLayout.Fitted fitted = ProgressLayout.fit(fields, width, barPercent);
        AttributedStringBuilder bar = new AttributedStringBuilder();
        if (fitted.barCells() > 0) {
            bar.append("[")
                    .style(AttributedStyle.DEFAULT.foreground(AttributedStyle.GREEN))
                    .append(fitted.filled())
                    .style(AttributedStyle.DEFAULT)
                    .append(fitted.unfilled())
                    .append("]" + ProgressLayout.GAP);
        }
        bar.append(fitted.text());
        synchronized (this) {
            err.print("\r" + (terminal != null ? bar.toAnsi(terminal) : bar.toString()));
            clearToEndOfLine();
            err.flush();
            barDrawn = true;
        }
    }

    private void clearToEndOfLine() {
        if (terminal != null) {
            String clear = terminal.getStringCapability(InfoCmp.Capability.clr_eol);
            if (clear != null) {
                err.print(org.jline.utils.Curses.tputs(clear));
            }
        }
    }

    private void line(String text) {
        line(text, true);
    }

    /**
     * A line of its own, over the bar if one is drawn. Plain progress goes without the
     * "vm-migrate: " of notes: its fields need the room, and its shape tells it apart.
     */
    private synchronized void line(String text, boolean prefixed) {
        if (barDrawn) {
            err.print("\r");
            clearToEndOfLine();
            barDrawn = false;
        }
        err.println(prefixed ? "vm-migrate: " + text : text);
        err.flush();
    }
}
