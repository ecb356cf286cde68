package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

/**
 * The real {@code vm-migrate} command in a child JVM, run from the test classpath (always the
 * current classes, unlike cli/target/vm-migrate.jar, which Maven builds only after the tests).
 * stdout is captured as bytes (it may be a migration stream), stderr as text; every wait has a
 * hang guard that kills the child (and its children) and fails the test with what it printed.
 */
final class CliProcess implements AutoCloseable {
    /** Hang guard for a whole CLI run; never a timing assertion, only "it did not hang". */
    static final Duration HANG_GUARD = Duration.ofSeconds(90);
    /** Hang guard for a line the CLI prints as soon as it is up (a JVM start, a bind). */
    static final Duration STARTUP_GUARD = Duration.ofSeconds(30);

    private final String what;
    private final Process process;
    private final ByteArrayOutputStream stdout = new ByteArrayOutputStream();
    private final StringBuilder stderr = new StringBuilder();
    private final Thread outPump;
    private final Thread errPump;

    private CliProcess(String what, Process process, boolean captureStdout) {
        this.what = what.replace(classpath(), "<test classpath>"); // keeps messages readable
        this.process = process;
        this.outPump = captureStdout ? pump(process.getInputStream(), bytes -> {
            synchronized (stdout) {
                stdout.write(bytes, 0, bytes.length);
            }
        }) : null;
        this.errPump = pump(process.getErrorStream(), bytes -> {
            synchronized (stderr) {
                stderr.append(new String(bytes, StandardCharsets.UTF_8));
                stderr.notifyAll();
            }
        });
    }

    /** The process itself (a QMP client watches it stay alive). */
    Process process() {
        return process;
    }

    /** The java of the running test JVM. */
    static String javaBinary() {
        return ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
    }

    /** The test classpath (surefire may run the tests from a manifest-only jar; either works for a child). */
    static String classpath() {
        String cp = System.getProperty("surefire.test.class.path");
        return cp != null && !cp.isBlank() ? cp : System.getProperty("java.class.path");
    }

    /** {@code java ... dev.vmmigrate.cli.VmMigrate} as an argument list, ready for the CLI's arguments. */
    static List<String> javaCommand() {
        return new ArrayList<>(List.of(javaBinary(), "--enable-native-access=ALL-UNNAMED", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1", "-Xss512k", "-Xmx256m", "-cp", classpath(), "dev.vmmigrate.cli.VmMigrate"));
    }

    /** The same command line quoted for /bin/sh (for exec: URIs and shell pipelines). */
    static String shellCommand(String... cliArgs) {
        List<String> all = javaCommand();
        all.addAll(List.of(cliArgs));
        return all.stream().map(CliProcess::shellQuote).collect(Collectors.joining(" "));
    }

    static String shellQuote(String s) {
        return "'" + s.replace("'", "'\\''") + "'";
    }

    /** Starts {@code vm-migrate ARGS} in {@code dir}. */
    static CliProcess start(Path dir, String... cliArgs) {
        List<String> command = javaCommand();
        command.addAll(List.of(cliArgs));
        return startCommand("vm-migrate " + String.join(" ", cliArgs), dir, Map.of(), command);
    }

    /** Runs {@code vm-migrate ARGS} in {@code dir} to its end. */
    static Result run(Path dir, String... cliArgs) {
        try (CliProcess p = start(dir, cliArgs)) {
            return p.await();
        }
    }

    /** Runs a /bin/sh script (pipelines, redirections such as {@code 5>FILE}) to its end. */
    static Result runShell(Path dir, String script) {
        try (CliProcess p = startCommand("sh -c " + script, dir, Map.of(), List.of("/bin/sh", "-c", script))) {
            return p.await();
        }
    }

    static CliProcess startCommand(String what, Path dir, Map<String, String> env, List<String> command) {
        ProcessBuilder builder = new ProcessBuilder(command).directory(dir.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        builder.environment().remove("VM_MIGRATE_DEBUG");
        builder.environment().putAll(env);
        try {
            return new CliProcess(what, builder.start(), true);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start " + what, e);
        }
    }

    /** Waits until stderr has a line matching {@code pattern}; returns the match (group 1 if any). */
    String awaitStderr(Pattern pattern) {
        return awaitStderr(pattern, STARTUP_GUARD);
    }

    /** Same, with a hang guard of {@code guard}. */
    String awaitStderr(Pattern pattern, Duration guard) {
        long deadline = System.nanoTime() + guard.toNanos();
        synchronized (stderr) {
            while (true) {
                Matcher m = pattern.matcher(stderr);
                if (m.find()) {
                    return m.groupCount() >= 1 ? m.group(1) : m.group();
                }
                long left = deadline - System.nanoTime();
                if (left <= 0 || (!process.isAlive() && !errPump.isAlive())) {
                    break;
                }
                try {
                    stderr.wait(Math.max(1, Math.min(TimeUnit.NANOSECONDS.toMillis(left), 200)));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    break;
                }
            }
        }
        String seen = stderr();
        close();
        return fail(what + ": no stderr line matching /" + pattern + "/ within the hang guard of "
                + guard.toSeconds() + " s (alive: " + process.isAlive()
                + "); stderr so far:\n" + seen);
    }

    /** Waits for the exit (hang guard: kills it and fails). */
    Result await() {
        try {
            if (!process.waitFor(HANG_GUARD.toSeconds(), TimeUnit.SECONDS)) {
                close();
                fail(what + ": still running after " + HANG_GUARD.toSeconds() + " s (hang guard); killed it. stderr:\n"
                        + stderr());
            }
            if (outPump != null) {
                outPump.join(TimeUnit.SECONDS.toMillis(30));
            }
            errPump.join(TimeUnit.SECONDS.toMillis(30));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            close();
            fail(what + ": interrupted");
        }
        byte[] out;
        synchronized (stdout) {
            out = stdout.toByteArray();
        }
        return new Result(what, process.exitValue(), out, stderr());
    }

    /** Sends the signal {@code name} (INT, TERM, HUP, QUIT) to the child with kill(1). */
    void signal(String name) {
        try {
            Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
            if (!kill.waitFor(30, TimeUnit.SECONDS) || kill.exitValue() != 0) {
                fail("kill -" + name + " " + process.pid() + " failed");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            fail("interrupted");
        }
    }

    String stderr() {
        synchronized (stderr) {
            return stderr.toString();
        }
    }

    /** Kills the child and everything it started, if still running. */
    @Override
    public void close() {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
    }

    private interface Sink {
        void accept(byte[] bytes);
    }

    private static Thread pump(InputStream in, Sink sink) {
        return Thread.ofPlatform().daemon().name("cli-pump").start(() -> {
            byte[] buffer = new byte[64 * 1024];
            try (in) {
                int n;
                while ((n = in.read(buffer)) >= 0) {
                    byte[] chunk = new byte[n];
                    System.arraycopy(buffer, 0, chunk, 0, n);
                    sink.accept(chunk);
                }
            } catch (IOException ignored) {
                // the process was killed: what we have is what it printed
            }
        });
    }

    /** A finished run. */
    record Result(String what, int exitCode, byte[] stdout, String stderr) {
        String stdoutText() {
            return new String(stdout, StandardCharsets.UTF_8);
        }

        List<String> stderrLines() {
            return stderr.lines().filter(l -> !l.isBlank()).toList();
        }

        /** For assertion messages. */
        String describe() {
            return what + " exited " + exitCode + "; stderr:\n" + stderr
                    + (stdout.length > 0 && stdout.length < 4000 ? "\nstdout:\n" + stdoutText() : "");
        }
    }
}
