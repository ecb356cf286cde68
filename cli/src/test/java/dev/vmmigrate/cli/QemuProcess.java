package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A real QEMU (qemu-system-x86_64 of one {@link QemuVersion}) for the interoperability tests,
 * with its QMP monitor on a unix socket and its stdout and stderr in one log file; closing kills it
 * (and what it started, such as an {@code exec:} migration's command) if {@link #quit()} did not
 * end it. The only duration is a hang guard: QEMU is killed after {@link #GUARD} whatever happens.
 */
final class QemuProcess implements AutoCloseable {
    /** Hang guard for one QEMU: it is killed after this long whatever happens. */
    static final Duration GUARD = Duration.ofSeconds(120);
    private static final Duration POLL = Duration.ofMillis(100);
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "qemu-watchdog");
        t.setDaemon(true);
        return t;
    });

    private final Process process;
    private final Path logFile;
    private final ScheduledFuture<?> guard;
    final QmpClient qmp;

    private QemuProcess(Process process, Path logFile, ScheduledFuture<?> guard, QmpClient qmp) {
        this.process = process;
        this.logFile = logFile;
        this.guard = guard;
        this.qmp = qmp;
    }

    /** A loopback port free right now, for QEMU's {@code -incoming tcp:127.0.0.1:PORT}. */
    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return socket.getLocalPort();
        }
    }

    /** Starts {@code version} with {@code args} plus its QMP socket in {@code dir} and connects to it. */
    static QemuProcess start(QemuVersion version, Path dir, String... args) throws Exception {
        return startNamed(version, dir, "qemu", args);
    }

    /**
     * Starts {@code version} (skipped, or failed under CI, when it is missing) with {@code args}
     * plus its QMP socket {@code dir/NAME.qmp} (its output in {@code dir/NAME.log}), connects to
     * QMP and checks the version QMP's greeting reports. {@code name} tells apart several QEMUs
     * in one folder.
     */
    static QemuProcess startNamed(QemuVersion version, Path dir, String name, String... args) throws Exception {
        List<String> command = new ArrayList<>(version.command());
        Path socket = dir.resolve(name + ".qmp");
        Files.deleteIfExists(socket);
        Path log = dir.resolve(name + ".log");
        command.addAll(List.of(args));
        if (!command.contains("-display")) {
            // QEMU's default display is a GTK window where qemu-system-gui is installed (apt's
            // recommends), and with no display to open it QEMU exits at once.
            command.addAll(List.of("-display", "none"));
        }
        command.addAll(List.of("-qmp", "unix:" + socket + ",server=on,wait=off"));
        Process process = new ProcessBuilder(command).directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        // Hang guard: a QEMU that never ends is killed, which also ends any QMP read on it.
        ScheduledFuture<?> guard = WATCHDOG.schedule(() -> {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
        }, GUARD.toSeconds(), TimeUnit.SECONDS);
        QemuProcess qemu;
        try {
            qemu = new QemuProcess(process, log, guard, QmpClient.connect(socket, process, Duration.ofSeconds(30)));
        } catch (IOException | InterruptedException e) {
            process.destroyForcibly();
            guard.cancel(false);
            return fail(e.getMessage() + "; QEMU " + String.join(" ", command) + " printed:\n" + readLog(log), e);
        }
        JsonNode reported = qemu.qmp.greeting().path("QMP").path("version").path("qemu");
        if (reported.path("major").asInt(-1) != version.major()
                || reported.path("minor").asInt(-1) != version.minor()) {
            qemu.close();
            fail(command.getFirst() + " is not " + version + ": its QMP greeting says " + qemu.qmp.greeting());
        }
        return qemu;
    }

    /** Polls query-migrate until the migration is completed, failed or cancelled. */
    JsonNode awaitMigration() throws InterruptedException {
        while (true) {
            JsonNode info = executeOrFail("query-migrate");
            if (List.of("completed", "failed", "cancelled").contains(info.path("status").asText())) {
                return info;
            }
            Thread.sleep(POLL.toMillis());
        }
    }

    /** Polls query-status until the run state is not {@code state} any more. */
    JsonNode awaitStatusOtherThan(String state) throws InterruptedException {
        while (true) {
            JsonNode status = executeOrFail("query-status");
            if (!state.equals(status.path("status").asText())) {
                return status;
            }
            if (!process.isAlive()) {
                fail("QEMU exited while " + state + ":\n" + log());
            }
            Thread.sleep(POLL.toMillis());
        }
    }

    /**
     * Polls query-status until the run state is not {@code state}; returns it, or null when
     * QEMU exited instead (its QMP connection closed and the process ended).
     */
    JsonNode awaitStatusOtherThanOrExit(String state) throws InterruptedException {
        while (true) {
            JsonNode status;
            try {
                status = qmp.execute("query-status");
            } catch (IOException e) {
                if (process.waitFor(30, TimeUnit.SECONDS)) {
                    return null;
                }
                return fail("QMP query-status: " + e.getMessage() + " but QEMU still runs:\n" + log(), e);
            }
            if (!state.equals(status.path("status").asText())) {
                return status;
            }
            if (process.waitFor(POLL.toMillis(), TimeUnit.MILLISECONDS)) {
                return null;
            }
        }
    }

    /** A QMP command; if QEMU went away, fails with its exit status and output. */
    JsonNode executeOrFail(String command) throws InterruptedException {
        try {
            return qmp.execute(command);
        } catch (IOException e) {
            process.waitFor(10, TimeUnit.SECONDS);
            return fail("QMP " + command + ": " + e.getMessage() + "; QEMU "
                    + (process.isAlive() ? "still runs" : "exited with status " + process.exitValue())
                    + ", its output:\n" + log(), e);
        }
    }

    /** A human monitor command over QMP ({@code human-monitor-command}); its output, CRs removed. */
    String hmp(String commandLine) throws InterruptedException {
        try {
            return qmp.execute("human-monitor-command", QmpClient.args().put("command-line", commandLine)).asText()
                    .replace("\r", "");
        } catch (IOException e) {
            process.waitFor(10, TimeUnit.SECONDS);
            return fail("HMP " + commandLine + ": " + e.getMessage() + "; QEMU "
                    + (process.isAlive() ? "still runs" : "exited with status " + process.exitValue())
                    + ", its output:\n" + log(), e);
        }
    }

    /** Whether QEMU still runs. */
    boolean isAlive() {
        return process.isAlive();
    }

    /** What QEMU reported, for the test report (stdout of the test). */
    void record(String line) {
        System.out.println("[QEMU] " + line);
    }

    /** {@code quit} and wait for QEMU to exit (its RAM file then holds its final memory). */
    void quit() throws InterruptedException {
        try {
            qmp.execute("quit");
        } catch (IOException e) {
            // QEMU may close the monitor before or right after the reply
        }
        if (!process.waitFor(60, TimeUnit.SECONDS)) {
            fail("QEMU did not exit after quit:\n" + log());
        }
        assertEquals(0, process.exitValue(), "QEMU's exit status after quit:\n" + log());
    }

    /** QEMU's exit status; only once it has exited. */
    int exitValue() {
        return process.exitValue();
    }

    /** What QEMU printed so far (stdout and stderr). */
    String log() {
        return readLog(logFile);
    }

    private static String readLog(Path log) {
        try {
            return Files.exists(log) ? Files.readString(log, StandardCharsets.UTF_8) : "";
        } catch (IOException e) {
            return "(cannot read " + log + ": " + e + ")";
        }
    }

    @Override
    public void close() throws IOException {
        try {
            qmp.close();
        } finally {
            process.descendants().forEach(ProcessHandle::destroyForcibly);
            process.destroyForcibly();
            guard.cancel(false);
        }
    }
}
