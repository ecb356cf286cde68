package dev.vmmigrate.migration;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.vmmigrate.testing.HostileInput;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Coverage-guided fuzzing (Jazzer) of what receive loads with and of inspect. In a normal test
 * run each target replays its committed inputs (resources
 * {@code dev/vmmigrate/migration/HostileStreamFuzzTestInputs/<target>/}: the seeds of
 * {@link dev.vmmigrate.testing.SeedCorpus} and every finding); {@code scripts/fuzz} runs them
 * with {@code JAZZER_FUZZ=1} to search for more. The oracle is {@link HostileInput}: only a
 * one-line StreamFormatException may end an input.
 */
class HostileStreamFuzzTest {
    private Path scratch;

    @FuzzTest(maxDuration = "5m") // scripts/fuzz sets JAZZER_MAX_DURATION
    void receive(byte[] data) {
        HostileInput.receiveUnchecked(data);
    }

    /** A multifd channel's packets beside a real main stream ({@link HostileInput#multifdChannel}). */
    @FuzzTest(maxDuration = "5m") // scripts/fuzz sets JAZZER_MAX_DURATION
    void multifd(byte[] data) {
        HostileInput.multifdChannelUnchecked(data);
    }

    @FuzzTest(maxDuration = "5m") // scripts/fuzz sets JAZZER_MAX_DURATION
    void inspect(byte[] data) throws IOException {
        if (scratch == null) {
            scratch = Files.createTempDirectory("inspect-fuzz");
            scratch.toFile().deleteOnExit();
        }
        HostileInput.inspect(data, scratch);
    }
}
