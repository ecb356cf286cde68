package dev.vmmigrate.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import dev.vmmigrate.multifd.MultifdPacket;
import dev.vmmigrate.ram.CapturedStreams;
import dev.vmmigrate.testing.HostileInput;
import dev.vmmigrate.testing.HostileInput.Outcome;
import dev.vmmigrate.testing.Mutations;
import dev.vmmigrate.testing.SeedCorpus;
import java.io.IOException;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fuzz corpus replayed in every run, beyond what Jazzer's own replay of
 * {@link HostileStreamFuzzTest} covers: the seeds and QEMU 7.2 and 10.0's whole captures must
 * load, and their truncations and deterministic mutations must end in a clean refusal (or a
 * load, or a digest mismatch) for receive and inspect alike. Each input has a hang guard; the
 * whole replay takes a few seconds.
 */
class HostileCorpusReplayTest {
    /** Not a speed bar: an input that takes this long is a hang. */
    private static final Duration HANG_GUARD = Duration.ofSeconds(30);
    private static final int MUTANTS_PER_SEED = 30;

    @TempDir
    Path dir;

    @Test
    void validSeedsAndCapturesLoad() throws Exception {
        for (Map.Entry<String, byte[]> input : corpus().entrySet()) {
            // the disk's seed needs a disk, which the oracle's guest does not have
            Outcome expected = input.getKey().contains("disk") ? Outcome.REFUSED : Outcome.LOADED;
            assertEquals(expected, guarded(input.getKey(), () -> HostileInput.receive(input.getValue())),
                    input.getKey());
            assertEquals(Outcome.LOADED, guarded(input.getKey(), () -> HostileInput.inspect(input.getValue(), dir)),
                    input.getKey() + " (inspect)");
        }
    }

    @Test
    void truncatedInputsAreRefused() throws Exception {
        for (Map.Entry<String, byte[]> input : corpus().entrySet()) {
            byte[] whole = input.getValue();
            int[] cuts = {0, 4, 8, 9, 12, 13, 17, 18, 40, whole.length / 4, whole.length / 2, whole.length * 3 / 4};
            for (int cut : cuts) {
                byte[] part = Arrays.copyOf(whole, cut);
                String name = input.getKey() + " cut at " + cut;
                assertEquals(Outcome.REFUSED, guarded(name, () -> HostileInput.receive(part)), name);
                assertEquals(Outcome.REFUSED, guarded(name, () -> HostileInput.inspect(part, dir)), name + " (inspect)");
            }
        }
    }

    /** Mutants of the committed (small) inputs; the whole captures are a MiB each, their shrunk seeds stand in. */
    @Test
    void mutatedInputsEndCleanly() throws Exception {
        for (Map.Entry<String, byte[]> input : committedInputs().entrySet()) {
            Random random = new Random(input.getKey().hashCode());
            for (int i = 0; i < MUTANTS_PER_SEED; i++) {
                byte[] mutant = Mutations.mutate(input.getValue(), random);
                String name = input.getKey() + " mutant " + i;
                guarded(name, () -> HostileInput.receive(mutant));
                guarded(name, () -> HostileInput.inspect(mutant, dir));
            }
        }
    }

    /**
     * A hostile multifd channel beside QEMU's real main stream and other channel
     * ({@link HostileInput#multifdChannel}): each capture's channel loads; cut at every packet
     * boundary and inside headers and pages it is refused (it ends before a sync point, or
     * inside a packet); mutants end cleanly.
     */
    @Test
    void multifdChannelsLoadAndTheirCutsAndMutantsEndCleanly() {
        for (Map.Entry<String, byte[]> seed : SeedCorpus.multifdSeeds().entrySet()) {
            byte[] whole = seed.getValue();
            assertEquals(Outcome.LOADED, guarded(seed.getKey(), () -> HostileInput.multifdChannel(whole)), seed.getKey());
            int packet = 1 + MultifdPacket.BYTES;
            int[] cuts = {1, 2, 4, 8, 64, packet - 1, packet, packet + 1, packet + 4096, 2 * packet + 700,
                    whole.length / 2, whole.length - 1};
            for (int cut : Arrays.stream(cuts).filter(cut -> cut < whole.length).toArray()) {
                byte[] part = Arrays.copyOf(whole, cut);
                String name = seed.getKey() + " cut at " + cut;
                assertEquals(Outcome.REFUSED, guarded(name, () -> HostileInput.multifdChannel(part)), name);
            }
            Random random = new Random(seed.getKey().hashCode());
            for (int i = 0; i < MUTANTS_PER_SEED; i++) {
                byte[] mutant = Mutations.mutate(whole, random);
                mutant[0] = whole[0]; // the same capture around it
                String name = seed.getKey() + " mutant " + i;
                guarded(name, () -> HostileInput.multifdChannel(mutant));
            }
        }
    }

    @FunctionalInterface
    private interface Run {
        Outcome run() throws IOException;
    }

    /** Runs one input under the hang guard; the oracle throws on anything but a clean end. */
    private static Outcome guarded(String name, Run run) {
        return assertTimeoutPreemptively(HANG_GUARD, run::run, () -> name + " hangs");
    }

    /** The fuzzer's committed inputs (seeds and findings) and QEMU's whole captures. */
    static Map<String, byte[]> corpus() throws IOException, URISyntaxException {
        Map<String, byte[]> corpus = committedInputs();
        for (String capture : new String[] {CapturedStreams.NONE_2M, CapturedStreams.NONE_2M_QEMU10,
                CapturedStreams.PC_16M, CapturedStreams.PC_16M_QEMU10}) {
            corpus.put(capture, CapturedStreams.bytes(capture));
        }
        return corpus;
    }

    /** The receive target's committed inputs but its findings (which the fuzz test replays itself). */
    static Map<String, byte[]> committedInputs() throws IOException, URISyntaxException {
        Map<String, byte[]> corpus = new LinkedHashMap<>();
        Path inputs = Path.of(HostileCorpusReplayTest.class.getResource("HostileStreamFuzzTestInputs/receive").toURI());
        try (Stream<Path> files = Files.list(inputs)) {
            for (Path file : files.sorted().toList()) {
                if (!file.getFileName().toString().startsWith("crash-")) { // findings: replayed by the fuzz test
                    corpus.put(file.getFileName().toString(), Files.readAllBytes(file));
                }
            }
        }
        return corpus;
    }
}
