package dev.vmmigrate.cli;

import dev.vmmigrate.migration.MigrationInfo;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.os.Libc;
import dev.vmmigrate.units.Units;
import java.io.IOException;
import java.io.PrintStream;
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
 * width and the terminal's control sequences), or a plain line per second for logs. The percent
 * covers the first pass only and never runs backwards; later passes show their number and what
 * is left instead, since pages dirtied again make "done" a moving target.
 */
final class ProgressReporter implements Reporter {
    enum Style { BAR, PLAIN, NONE }

    private final PrintStream err;
    private final Style style;
    private final ScheduledExecutorService ticker;
    private Terminal terminal;
    private volatile long pass;
    private volatile int percent;
    private volatile boolean barDrawn;

    ProgressReporter(PrintStream err, Style style) {
        this.err = err;
        this.style = style;
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
        long period = style == Style.BAR ? 200 : 1000;
        ticker.scheduleAtFixedRate(() -> draw(info.get()), period, period, TimeUnit.MILLISECONDS);
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

    private void draw(MigrationInfo info) {
        MigrationInfo.Ram ram = info.ram();
        if (ram == null || !"active".equals(info.status())) {
            return;
        }
        long total = Math.max(1, ram.total());
        if (pass <= 1) {
            percent = Math.max(percent, (int) (100 * (total - ram.remaining()) / total));
        } else {
            percent = 100;
        }
        String rate = String.format("%.0f Mbit/s", Math.max(0, ram.mbps()));
        String detail = pass <= 1
                ? String.format("%3d%%  %s  %s left", percent, rate, Units.formatSize(ram.remaining()))
                : String.format("pass %d  %s  %s dirty left, dirtying %s/s", pass, rate,
                        Units.formatSize(ram.remaining()),
                        Units.formatSize(ram.dirtyPagesRate() * ram.pageSize()));
        if (style == Style.PLAIN) {
            line(detail);
            return;
        }
        int width = terminal != null && terminal.getWidth() > 20 ? terminal.getWidth() : 80;
        int barWidth = Math.max(10, Math.min(40, width - detail.length() - 4));
        int filled = barWidth * percent / 100;
        AttributedStringBuilder bar = new AttributedStringBuilder()
                .append("[")
                .style(AttributedStyle.DEFAULT.foreground(AttributedStyle.GREEN))
                .append("#".repeat(filled))
                .style(AttributedStyle.DEFAULT)
                .append(" ".repeat(barWidth - filled))
                .append("] ")
                .append(detail);
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

    private synchronized void line(String text) {
        if (barDrawn) {
            err.print("\r");
            clearToEndOfLine();
            barDrawn = false;
        }
        err.println("vm-migrate: " + text);
        err.flush();
    }
}
