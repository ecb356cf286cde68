package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * SIGINT, SIGTERM and SIGHUP cancel alike, at every moment: exit 3, a line (in --json the final
 * record, status cancelled). Signals go to a real child JVM with kill(1).
 */
class SignalCliTest {
    private static final Pattern ACTIVE = Pattern.compile("\"status\":\"active\"");

    @TempDir
    Path dir;

    /** The JVM cannot take a signal its parent left ignored (nohup, a background job): nothing to test then. */
    private static void assumeNotIgnored(String signal) throws IOException {
        int number = switch (signal) {
            case "HUP" -> 1;
            case "INT" -> 2;
            case "TERM" -> 15;
            default -> throw new IllegalArgumentException(signal);
        };
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("SigIgn:")) {
                BigInteger ignored = new BigInteger(line.substring("SigIgn:".length()).trim(), 16);
                Assumptions.assumeFalse(ignored.testBit(number - 1), "SIG" + signal + " is ignored in this process tree");
            }
        }
    }

    @ParameterizedTest
    @CsvSource({"INT, false", "TERM, true", "HUP, true"})
    void aSignalDuringTheWarmupCancelsAndSaysNothingWasSent(String signal, boolean json) throws Exception {
        assumeNotIgnored(signal);
        Path ramFile = dir.resolve("guest.ram");
        Path out = dir.resolve("out.mig");
        List<String> args = new java.util.ArrayList<>(List.of("send", "file:" + out, "--ram", "16M",
                "--ram-file", ramFile.toString(), "--workload", "random:1M/s", "--warmup", "60s"));
        if (json) {
            args.add("--json");
        }
        try (CliProcess p = CliProcess.start(dir, args.toArray(String[]::new))) {
            // The guest's RAM file exists once the guest is being built: the signal handlers are in place.
            awaitFile(ramFile, p);
            Thread.sleep(300); // into the fill or the warm-up: either must cancel
            p.signal(signal);
            CliProcess.Result r = p.await();
            assertEquals(ExitCode.CANCELLED, r.exitCode(), r.describe());
            assertFalse(Files.exists(out), "the stream's file was opened: " + r.describe());
            if (json) {
                String last = r.stderrLines().getLast();
                assertTrue(last.startsWith("{\"return\":{\"status\":\"cancelled\"") && last.contains("nothing was sent"),
                        r.describe());
            } else {
                assertEquals(List.of("vm-migrate: migration cancelled: interrupted before the migration started: nothing was sent"),
                        r.stderrLines(), r.describe());
            }
        }
    }

    @Test
    void sigHupDuringTheMigrationCancelsIt() throws Exception {
        assumeNotIgnored("HUP");
        try (CliProcess p = CliProcess.start(dir, "send", "file:" + dir.resolve("out.mig"), "--ram", "64M",
                "--fill", "half_random", "--max-bandwidth", "2M/s", "--json")) {
            p.awaitStderr(ACTIVE);
            p.signal("HUP");
            CliProcess.Result r = p.await();
            assertEquals(ExitCode.CANCELLED, r.exitCode(), r.describe());
            assertTrue(r.stderrLines().getLast().startsWith("{\"return\":{\"status\":\"cancelled\""), r.describe());
        }
    }

    @Test
    void sigTermCancelsAWaitingReceiverAndRelay() throws Exception {
        assumeNotIgnored("TERM");
        for (List<String> command : List.of(List.of("receive", "tcp:127.0.0.1:0"),
                List.of("relay", "tcp:127.0.0.1:0", "file:" + dir.resolve("relayed.mig")))) {
            List<String> args = new java.util.ArrayList<>(command);
            args.add("--progress=none");
            try (CliProcess p = CliProcess.start(dir, args.toArray(String[]::new))) {
                p.awaitStderr(Pattern.compile("listening on"));
                p.signal("TERM");
                CliProcess.Result r = p.await();
                assertEquals(ExitCode.CANCELLED, r.exitCode(), r.describe());
                assertTrue(r.stderr().contains("interrupted while waiting for a migration"), r.describe());
            }
        }
    }

    @Test
    void sigTermCancelsTheDemo() throws Exception {
        assumeNotIgnored("TERM");
        try (CliProcess p = CliProcess.start(dir, "demo", "--ram", "64M", "--max-bandwidth", "2M/s", "--json")) {
            p.awaitStderr(ACTIVE);
            p.signal("TERM");
            CliProcess.Result r = p.await();
            assertEquals(ExitCode.CANCELLED, r.exitCode(), r.describe());
            assertTrue(r.stderrLines().getLast().startsWith("{\"return\":{\"status\":\"cancelled\""), r.describe());
        }
    }

    private static void awaitFile(Path file, CliProcess p) throws InterruptedException {
        long deadline = System.nanoTime() + CliProcess.STARTUP_GUARD.toNanos();
        while (!Files.exists(file)) {
            if (System.nanoTime() > deadline) {
                p.close();
                fail(file + " did not appear within the start-up guard; stderr:\n" + p.stderr());
            }
            Thread.sleep(20);
        }
    }
}
