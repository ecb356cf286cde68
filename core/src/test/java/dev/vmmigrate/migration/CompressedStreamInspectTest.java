package dev.vmmigrate.migration;

import dev.vmmigrate.ownsections.Capability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.inspect.StreamInspector;
import dev.vmmigrate.inspect.StreamReport;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.transport.MigrationUri;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** inspect learns from the stream's capabilities section that pages are zstd frames, as receive does. */
class CompressedStreamInspectTest {
    @Test
    void inspectReadsAndExtractsACompressedStream(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("compressed.mig");
        try (Guest source = Guest.builder().ramSize(4L << 20).build()) {
            RamBlock block = source.ramBlocks().getFirst();
            Workload.fillHalfRandom(block, 9);
            for (long page = 0; page < block.pageCount(); page += 3) {
                block.memory().set(ValueLayout.JAVA_BYTE, page * TargetPage.SIZE + 5, (byte) 7); // compressible
            }
            OutgoingMigration out = new OutgoingMigration(source, MachineStreams.of(source, false));
            out.setCapabilities(new MigrationCapabilities(Set.of(Capability.COMPRESS), 1L << 20, 3));
            out.start(MigrationUri.parse("file:" + file).connect());
            assertEquals(MigrationStatus.COMPLETED, out.awaitFinished(Duration.ofSeconds(60)), String.valueOf(out.error()));
            assertTrue(out.info().compression().pages() > 0, "some pages went compressed");

            Path extract = Files.createDirectory(dir.resolve("extract"));
            StreamReport report = new StreamInspector(extract).inspect(file);
            assertEquals(block.pageCount(), report.ram().getFirst().normalPages() + report.ram().getFirst().zeroPages());
            assertEquals(-1, block.memory().mismatch(java.lang.foreign.MemorySegment.ofArray(
                    Files.readAllBytes(extract.resolve("ram.ram")))), "extracted RAM equals the source's");
        }
    }
}
