package dev.vmmigrate.inspect;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.guest.WorkloadSpec;
import dev.vmmigrate.migration.MachineStreams;
import dev.vmmigrate.ram.CapturedStreams;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.ram.RamBlockSummary;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.TargetPage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code vm-migrate inspect} on QEMU's own streams and ours, with and without extraction, and on broken files. */
@Timeout(60)
class StreamInspectorTest {
    private static final int PAGE = TargetPage.SIZE;
    private static final List<String> PC_BLOCKS = List.of("mem", "0000:00:02.0/vga.vram", "/rom@etc/acpi/tables",
            "pc.bios", "0000:00:03.0/e1000.rom", "pc.rom", "0000:00:02.0/vga.rom", "/rom@etc/table-loader",
            "/rom@etc/acpi/rsdp");
    private static final List<Long> PC_LENGTHS = List.of(0x1000000L, 0x1000000L, 0x20000L, 0x40000L, 0x40000L,
            0x20000L, 0x10000L, 0x1000L, 0x1000L);

    @TempDir
    Path dir;

    private static StreamReport inspect(Path file) throws IOException {
        return new StreamInspector(null).inspect(file);
    }

    private static void assertSameBytes(byte[] expected, byte[] actual, String what) {
        assertEquals(expected.length, actual.length, what + " length");
        long mismatch = MemorySegment.ofArray(expected).mismatch(MemorySegment.ofArray(actual));
        assertEquals(-1, mismatch, what + " differs at offset " + mismatch);
    }

    // ---------------------------------------------------------------- QEMU's streams

    @Test
    void none2mReadsAsQemuWroteIt() throws IOException {
        StreamReport report = inspect(CapturedStreams.path(CapturedStreams.NONE_2M));
        assertEquals(1_057_804, report.sizeBytes());
        assertEquals(3, report.version());
        assertEquals("none", report.machineType());
        assertEquals(List.of(), report.capabilities());
        assertEquals(486, report.vmdescBytes());

        List<StreamReport.Section> sections = report.sections();
        assertEquals(3, sections.size());
        StreamReport.Section ram = sections.get(0);
        assertEquals(new StreamReport.Section(0x11, "START", 2, "ram", 0, 4, 1_057_130 - 0x11, 1, null), ram);
        StreamReport.Section timer = sections.get(1);
        assertEquals(1_057_130, timer.offset());
        assertEquals("FULL", timer.type());
        assertEquals(0, timer.sectionId());
        assertEquals("timer", timer.name());
        assertEquals(2, timer.version());
        assertEquals(48, timer.bytes());
        assertNull(timer.parts());
        assertEquals(0, timer.fields().get("cpu_ticks_offset").longValue());
        assertEquals(0, timer.fields().get("cpu_clock_offset").longValue());
        StreamReport.Section globalstate = sections.get(2);
        assertEquals(1_057_178, globalstate.offset());
        assertEquals(4, globalstate.sectionId());
        assertEquals("globalstate", globalstate.name());
        assertEquals(134, globalstate.bytes());
        assertEquals(10, globalstate.fields().get("size").longValue());
        assertTrue(globalstate.fields().get("runstate").textValue().startsWith("7072656c61756e636800"),
                globalstate.fields().toString());

        assertEquals(List.of(new RamBlockSummary("mem", 2 << 20, 255, 257)), report.ram());
    }

    @Test
    void pc16mReadsAsQemuWroteIt() throws IOException {
        StreamReport report = inspect(CapturedStreams.path(CapturedStreams.PC_16M));
        assertEquals(1_158_245, report.sizeBytes());
        assertEquals("pc-i440fx-7.2", report.machineType());
        assertEquals(107_130, report.vmdescBytes());
        assertEquals(36, report.sections().size());
        assertEquals(1, report.sections().stream().filter(s -> s.type().equals("START")).count());
        assertEquals(35, report.sections().stream().filter(s -> s.type().equals("FULL")).count());
        assertEquals("ram", report.sections().get(0).name());
        assertEquals(26, report.sections().get(0).offset());
        StreamReport.Section last = report.sections().getLast();
        assertEquals("globalstate", last.name());
        assertEquals(45, last.sectionId());
        List<String> dmaInstances = report.sections().stream().filter(s -> s.name().equals("dma"))
                .map(s -> String.valueOf(s.instanceId())).toList();
        assertEquals(List.of("0", "1"), dmaInstances);
        StreamReport.Section vmmouse = report.sections().stream().filter(s -> s.name().equals("vmmouse"))
                .findFirst().orElseThrow();
        assertEquals(0, vmmouse.version());
        long deviceBytes = report.sections().stream().filter(s -> s.type().equals("FULL"))
                .mapToLong(StreamReport.Section::bytes).sum();
        assertEquals(213_355, deviceBytes);
        assertEquals(837_728, report.sections().get(0).bytes());

        List<RamBlockSummary> blocks = report.ram();
        assertEquals(PC_BLOCKS, blocks.stream().map(RamBlockSummary::id).toList());
        assertEquals(PC_LENGTHS, blocks.stream().map(RamBlockSummary::length).toList());
        assertEquals(186, blocks.stream().mapToLong(RamBlockSummary::normalPages).sum());
        assertEquals(8216, blocks.stream().mapToLong(RamBlockSummary::zeroPages).sum());
        assertEquals(new RamBlockSummary("mem", 16 << 20, (16 << 20) / PAGE - 65, 65), blocks.getFirst());
        for (RamBlockSummary block : blocks) {
            assertEquals(block.length() / PAGE, block.zeroPages() + block.normalPages(), block.id());
        }
    }

    @Test
    void pc16mFromQemu10ListsItsSwitchoverCommand() throws IOException {
        StreamReport report = inspect(CapturedStreams.path(CapturedStreams.PC_16M_QEMU10));
        assertEquals("pc-i440fx-10.0", report.machineType());
        assertEquals(107_399, report.vmdescBytes());
        List<StreamReport.Section> commands = report.sections().stream().filter(s -> s.type().equals("COMMAND")).toList();
        assertEquals(1, commands.size());
        assertEquals("SWITCHOVER_START", commands.getFirst().name());
        assertEquals(5, commands.getFirst().bytes());
        assertEquals(null, commands.getFirst().sectionId());
        assertEquals(35, report.sections().stream().filter(s -> s.type().equals("FULL")).count());
        assertEquals(PC_BLOCKS, report.ram().stream().map(RamBlockSummary::id).toList());
    }

    @Test
    void reportSerialisesWithItsJsonNames() throws IOException {
        StreamReport report = inspect(CapturedStreams.path(CapturedStreams.NONE_2M));
        JsonNode json = new ObjectMapper().valueToTree(report);
        assertEquals("none", json.get("machine").textValue());
        assertEquals(3, json.get("sections").size());
        assertEquals("mem", json.get("ram").get(0).get("id").textValue());
        assertEquals(486, json.get("vmdesc-size").intValue());
        assertEquals(1, json.get("sections").get(0).get("parts").intValue());
        assertFalse(json.get("sections").get(1).has("parts"), json.get("sections").get(1).toString());
    }

    // ---------------------------------------------------------------- extraction

    @Test
    void extractingNone2mWritesMemRamWithTheGeneratedContent() throws IOException {
        StreamReport report = new StreamInspector(dir).inspect(CapturedStreams.path(CapturedStreams.NONE_2M));
        assertEquals(List.of(new RamBlockSummary("mem", 2 << 20, 255, 257)), report.ram());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(Set.of("mem.ram"), files.map(p -> p.getFileName().toString()).collect(Collectors.toSet()));
        }
        assertSameBytes(CapturedStreams.none2mRam(), Files.readAllBytes(dir.resolve("mem.ram")), "mem.ram");
    }

    @Test
    void extractingPc16mWritesEveryBlockAndMemEqualsTheGenerator() throws IOException {
        new StreamInspector(dir).inspect(CapturedStreams.path(CapturedStreams.PC_16M));
        Set<String> expected = PC_BLOCKS.stream().map(StreamInspector::fileNameFor).collect(Collectors.toSet());
        assertTrue(expected.contains("0000:00:02.0_vga.vram.ram"), expected.toString());
        assertTrue(expected.contains("rom@etc_acpi_tables.ram"), expected.toString());
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(expected, files.map(p -> p.getFileName().toString()).collect(Collectors.toSet()));
        }
        for (int i = 0; i < PC_BLOCKS.size(); i++) {
            assertEquals(PC_LENGTHS.get(i), Files.size(dir.resolve(StreamInspector.fileNameFor(PC_BLOCKS.get(i)))),
                    PC_BLOCKS.get(i));
        }
        assertSameBytes(CapturedStreams.pc16mRam(), Files.readAllBytes(dir.resolve("mem.ram")), "mem.ram");
        byte[] vram = Files.readAllBytes(dir.resolve("0000:00:02.0_vga.vram.ram"));
        assertSameBytes(new byte[16 << 20], vram, "vga.vram (all zero pages)");
    }

    // ---------------------------------------------------------------- our own stream

    private static Path saveOwnStream(Guest guest, Path file) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            MachineStreams.of(guest, false).saveVm(guest).saveStopped(out);
        }
        return Files.write(file, bytes.toByteArray());
    }

    @Test
    void ourOwnSavedStreamInspectsAndExtracts() throws IOException {
        try (Guest guest = Guest.builder().ramSize(1L << 20).workload(WorkloadSpec.parse("sweep:1M/s")).build()) {
            RamBlock block = guest.ramBlocks().getFirst();
            Workload.fillHalfRandom(block, 5);
            guest.workload().restore(new Workload.State(WorkloadSpec.parse("sweep:1M/s"), 5, 77));
            guest.stop(RunState.FINISH_MIGRATE);
            long zero = 0;
            for (long p = 0; p < block.pageCount(); p++) {
                if (block.isZeroPage(p)) {
                    zero++;
                }
            }
            assertTrue(zero > 0 && zero < block.pageCount(), "half random");
            Path file = saveOwnStream(guest, dir.resolve("own.mig"));
            Path extract = Files.createDirectory(dir.resolve("extract"));

            StreamReport report = new StreamInspector(extract).inspect(file);
            assertEquals("none", report.machineType());
            assertEquals(Files.size(file), report.sizeBytes());
            assertEquals(List.of("ram", "vm-migrate/capabilities", "timer", "globalstate", "vm-migrate/workload",
                    "vm-migrate/digest"), report.sections().stream().map(StreamReport.Section::name).toList());
            assertEquals(List.of("START", "FULL", "FULL", "FULL", "FULL", "FULL"),
                    report.sections().stream().map(StreamReport.Section::type).toList());
            assertEquals(0, report.sections().get(0).parts());
            assertEquals(List.of(new RamBlockSummary("ram", 1L << 20, zero, block.pageCount() - zero)), report.ram());
            assertTrue(report.vmdescBytes() > 0);
            long sectionBytes = report.sections().stream().mapToLong(StreamReport.Section::bytes).sum();
            assertEquals(report.sizeBytes(), 17 + sectionBytes + 1 + 5 + report.vmdescBytes(),
                    "header, sections, EOF and vmdesc make up the file");

            JsonNode capabilities = report.sections().get(1).fields();
            assertEquals(0, capabilities.get("capabilities").longValue(), "no capability was on");
            JsonNode globalstate = report.sections().get(3).fields();
            assertEquals(10, globalstate.get("size").longValue(), "prelaunch + NUL");
            JsonNode workload = report.sections().get(4).fields();
            assertEquals(77, workload.get("steps").longValue());
            assertEquals(5, workload.get("seed").longValue());
            assertEquals(WorkloadSpec.Pattern.SWEEP.code(), workload.get("pattern").intValue());

            byte[] ram = block.memory().toArray(ValueLayout.JAVA_BYTE);
            assertSameBytes(ram, Files.readAllBytes(extract.resolve("ram.ram")), "ram.ram");
        }
    }

    // ---------------------------------------------------------------- broken files

    @Test
    void wrongMagicIsRefusedAtOffsetZero() throws IOException {
        byte[] stream = CapturedStreams.bytes(CapturedStreams.NONE_2M);
        stream[3] = 'X';
        Path file = Files.write(dir.resolve("bad.mig"), stream);
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> inspect(file));
        assertEquals(0, e.offset());
        assertTrue(e.getMessage().contains("not a QEMU migration stream"), e.getMessage());
        assertTrue(e.getMessage().endsWith("at offset 0"), e.getMessage());
    }

    @Test
    void notAStreamAtAllIsRefused() throws IOException {
        Path file = Files.writeString(dir.resolve("text.mig"), "hello, this is not a migration stream\n");
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> inspect(file));
        assertEquals(0, e.offset());
    }

    @Test
    void truncatedFilesAreRefusedWithAnOffsetInsideTheFile() throws IOException {
        for (String name : List.of(CapturedStreams.NONE_2M, CapturedStreams.PC_16M)) {
            byte[] stream = CapturedStreams.bytes(name);
            int n = stream.length;
            for (int cut : new int[] {0, 3, 20, 60, n / 2, n - 600, n - 2}) {
                Path file = Files.write(dir.resolve("cut-" + cut + "-" + name), Arrays.copyOf(stream, cut));
                StreamFormatException e = assertThrows(StreamFormatException.class, () -> inspect(file),
                        name + " cut at " + cut);
                assertTrue(e.offset() >= 0 && e.offset() <= cut, name + " cut at " + cut + ": " + e.getMessage());
                assertTrue(e.getMessage().contains("offset " + e.offset()), e.getMessage());
            }
        }
    }

    @Test
    void truncatedFileWithExtractionFailsInTheRamSection() throws IOException {
        byte[] stream = CapturedStreams.bytes(CapturedStreams.NONE_2M);
        Path file = Files.write(dir.resolve("half.mig"), Arrays.copyOf(stream, stream.length / 2));
        Path extract = Files.createDirectory(dir.resolve("x"));
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> new StreamInspector(extract).inspect(file));
        assertTrue(e.getMessage().startsWith("truncated stream"), e.getMessage());
        assertTrue(e.offset() > 0x43 && e.offset() <= stream.length / 2, e.getMessage());
    }
}
