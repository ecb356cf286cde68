package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Plain progress (stderr is a pipe here) on both sides of a real migration: the sender's in the
 * unit --max-bandwidth was given in, the receiver's during its load. The rate limit makes the
 * migration last past the first line a second; nothing here depends on how long it takes.
 */
class ProgressCliTest {
    private static final Pattern SENDER_LINE = Pattern.compile(
            "( *\\d+%|pass \\d+)  [\\d.]+/8.0 MiB sent  \\S+ \\S+ left  [\\d.]+ KiB/s  ETA (\\d+:\\d\\d|--:--)"
                    + "(  dirty \\S+ KiB/s)?  downtime ~\\d+ ms  elapsed \\d+:\\d\\d");
    private static final Pattern RECEIVER_LINE = Pattern.compile(
            "(loading| *\\d+%)  received \\S+ \\S+  (RAM 8.0 MiB  )?\\d+ pages loaded  (--|[\\d.]+) MiB/s"
                    + "  elapsed \\d+:\\d\\d");

    @TempDir
    Path dir;

    @Test
    void bothSidesShowProgressWhileTheGuestMoves() {
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "0")) {
            String port = receive.awaitStderr(Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)"));
            // About 4 MiB of random pages at 2 MiB/s: two seconds or more.
            CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + port, "--ram", "8M", "--fill",
                    "half_random", "--max-bandwidth", "2048K/s");
            assertEquals(0, sent.exitCode(), sent.describe());
            CliProcess.Result received = receive.await();
            assertEquals(0, received.exitCode(), received.describe());
            assertProgress(sent, SENDER_LINE);
            assertProgress(received, RECEIVER_LINE);
        }
    }

    /**
     * There is progress (the lines without the "vm-migrate: " of notes and the summary), each line
     * of it as {@code shape} has it and narrower than a 120-column log.
     */
    private static void assertProgress(CliProcess.Result result, Pattern shape) {
        List<String> progress = result.stderrLines().stream().filter(line -> !line.startsWith("vm-migrate: ")).toList();
        assertFalse(progress.isEmpty(), result.describe());
        for (String line : progress) {
            assertTrue(shape.matcher(line).matches(), line + "\n" + result.describe());
            assertTrue(line.length() < ProgressReporter.PLAIN_COLUMNS, line);
        }
    }
}
