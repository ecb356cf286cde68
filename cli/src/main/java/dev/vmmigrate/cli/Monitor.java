package dev.vmmigrate.cli;

import dev.vmmigrate.migration.OutgoingMigration;
import dev.vmmigrate.ownsections.Capability;
import dev.vmmigrate.qmp.Qmp;
import dev.vmmigrate.qmp.QmpEvents;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.jline.reader.EndOfFileException;
import org.jline.reader.LineReader;
import org.jline.reader.LineReaderBuilder;
import org.jline.reader.UserInterruptException;
import org.jline.reader.impl.completer.AggregateCompleter;
import org.jline.reader.impl.completer.ArgumentCompleter;
import org.jline.reader.impl.completer.NullCompleter;
import org.jline.reader.impl.completer.StringsCompleter;
import org.jline.terminal.Terminal;
import org.jline.terminal.TerminalBuilder;

/**
 * The interactive monitor (--monitor): QEMU's HMP commands on the terminal, with jline's line
 * editing, a history kept across runs in ~/.vm-migrate_history, and tab completion of commands,
 * capability and parameter names. Events and progress print above the prompt (printAbove), so
 * they never garble the line being typed.
 */
final class Monitor implements AutoCloseable {
    static final String PROMPT = "(vm-migrate) ";

    private final Terminal terminal;
    private final LineReader reader;
    private final PrintStream above;
    private Thread thread;

    private Monitor(Terminal terminal, Path history) {
        this.terminal = terminal;
        this.reader = LineReaderBuilder.builder().terminal(terminal).appName("vm-migrate")
                .completer(completer())
                .variable(LineReader.HISTORY_FILE, history)
                .build();
        this.above = new PrintStream(new LineSink(reader), true, StandardCharsets.UTF_8);
    }

    /** A monitor on the process's terminal. */
    static Monitor onTerminal() throws IOException {
        Terminal terminal = TerminalBuilder.builder().system(true).build();
        return new Monitor(terminal, Path.of(System.getProperty("user.home"), ".vm-migrate_history"));
    }

    /** A monitor on {@code terminal} (tests: jline's dumb terminal over pipes) with its history in {@code history}. */
    static Monitor on(Terminal terminal, Path history) {
        return new Monitor(terminal, history);
    }

    /** Where the command's progress and notes go: printed above the prompt, a line at a time. */
    PrintStream output() {
        return above;
    }

    /**
     * Reads commands until quit (which QMP's quit handles), the end of input (Ctrl-D: the
     * monitor closes, the command goes on) or close, on a thread of its own.
     */
    void start(Qmp qmp, OutgoingMigration outgoing) {
        HmpCommands commands = new HmpCommands(qmp, () -> awaitEnd(outgoing));
        QmpEvents events = (event, data) -> above.println("event " + event + (data == null ? "" : " " + data));
        qmp.addEventListener(events);
        thread = Thread.ofPlatform().name("monitor").daemon().start(() -> {
            try {
                while (true) {
                    String line;
                    try {
                        line = reader.readLine(PROMPT);
                    } catch (UserInterruptException e) {
                        continue; // Ctrl-C on the prompt clears the line, as in QEMU's monitor
                    }
                    String output = commands.run(line);
                    if (!output.isEmpty()) {
                        terminal.writer().print(output.endsWith("\n") ? output : output + "\n");
                        terminal.writer().flush();
                    }
                    if (line.trim().equals("quit")) {
                        return;
                    }
                }
            } catch (EndOfFileException e) {
                // Ctrl-D or the end of piped input
            } catch (RuntimeException e) {
                // the terminal closed under us
            } finally {
                qmp.removeEventListener(events);
            }
        });
    }

    private static String awaitEnd(OutgoingMigration outgoing) {
        try {
            var status = outgoing.awaitFinished();
            return status.qmpName() + (outgoing.error() != null ? ": " + outgoing.error() : "");
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return "still running";
        }
    }

    private static AggregateCompleter completer() {
        List<String> capabilities = new ArrayList<>(Arrays.stream(Capability.values()).map(Capability::qmpName).toList());
        capabilities.add("events");
        List<org.jline.reader.Completer> completers = new ArrayList<>();
        completers.add(new ArgumentCompleter(new StringsCompleter("info"), new StringsCompleter("migrate",
                "migrate_capabilities", "migrate_parameters", "migrate_cache_size", "status"), NullCompleter.INSTANCE));
        completers.add(new ArgumentCompleter(new StringsCompleter("migrate_set_capability"),
                new StringsCompleter(capabilities), new StringsCompleter("on", "off"), NullCompleter.INSTANCE));
        completers.add(new ArgumentCompleter(new StringsCompleter("migrate_set_parameter"),
                new StringsCompleter(HmpCommands.PARAMETERS.keySet()), NullCompleter.INSTANCE));
        completers.add(new ArgumentCompleter(new StringsCompleter(HmpCommands.HELP.stream()
                .map(command -> command[0].split(" ")[0]).distinct().toList()), NullCompleter.INSTANCE));
        return new AggregateCompleter(completers);
    }

    @Override
    public void close() {
        try {
            reader.getHistory().save();
        } catch (IOException | RuntimeException ignored) {
            // a history that cannot be written is not worth an error at exit
        }
        try {
            terminal.close();
        } catch (IOException ignored) {
            // closing the terminal at exit
        }
        if (thread != null) {
            thread.interrupt();
        }
    }

    /** Collects bytes into lines and prints each above the prompt. */
    private static final class LineSink extends OutputStream {
        private final LineReader reader;
        private final ByteArrayOutputStream line = new ByteArrayOutputStream();

        LineSink(LineReader reader) {
            this.reader = reader;
        }

        @Override
        public synchronized void write(int b) {
            if (b == '\n') {
                reader.printAbove(line.toString(StandardCharsets.UTF_8));
                line.reset();
            } else if (b != '\r') {
                line.write(b);
            }
        }
    }
}
