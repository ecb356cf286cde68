package dev.vmmigrate.savevm;

import static dev.vmmigrate.testing.Hex.indexOf;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.guest.WorkloadSpec;
import dev.vmmigrate.migration.MachineStreams;
import dev.vmmigrate.ownsections.StreamCapabilities;
import dev.vmmigrate.ram.CapturedStreams;
import dev.vmmigrate.ram.GoldenBytes;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.LoadedPageCrcs;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A whole machine saved with {@link SaveVm} and loaded back with {@link LoadVm}, and LoadVm's refusals. */
@Timeout(60)
class SaveLoadRoundTripTest {
    private static final int PAGE = TargetPage.SIZE;
    private static final long RAM = 4L << 20;
    private static final WorkloadSpec SPEC = WorkloadSpec.parse("random:1M/s");

    private final List<Guest> guests = new ArrayList<>();

    @AfterEach
    void closeGuests() {
        guests.forEach(Guest::close);
    }

    private Guest guest(Guest.Builder builder) {
        Guest guest = builder.build();
        guests.add(guest);
        return guest;
    }

    private Guest destination(long ram) {
        return guest(Guest.builder().ramSize(ram).incoming(true));
    }

    private static byte[] save(Guest guest, boolean qemuCompatible) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            MachineStreams.of(guest, qemuCompatible).saveVm(guest).saveStopped(out);
        }
        return bytes.toByteArray();
    }

    /** A 4 MiB source: half random pages, three marked pages, a workload state, stopped as migration stops it. */
    private Guest preparedSource() {
        Guest source = guest(Guest.builder().ramSize(RAM).seed(3));
        RamBlock block = source.ramBlocks().getFirst();
        Workload.fillHalfRandom(block, 11);
        for (long page : new long[] {0, 513, RAM / PAGE - 1}) {
            block.memory().asSlice(page * PAGE, PAGE).fill((byte) 0);
            block.memory().set(ValueLayout.JAVA_BYTE, page * PAGE + 17, (byte) 0xC3);
        }
        source.workload().restore(new Workload.State(SPEC, 99, 1234));
        source.stop(RunState.FINISH_MIGRATE); // stores prelaunch in globalstate
        return source;
    }

    private static byte[] ram(Guest guest) {
        return guest.ramBlocks().getFirst().memory().toArray(ValueLayout.JAVA_BYTE);
    }

    // ---------------------------------------------------------------- round trip

    @Test
    void ramDevicesAndWorkloadSurviveASaveAndLoad() throws IOException {
        Guest source = preparedSource();
        byte[] stream = save(source, false);

        Guest target = destination(RAM);
        MachineStreams streams = MachineStreams.of(target, false);
        LoadVm.Result result = streams.loadVm(target).load(MigrationInput.of(stream));

        assertEquals(-1, MemorySegment.ofArray(ram(source)).mismatch(MemorySegment.ofArray(ram(target))),
                "destination RAM differs");
        assertEquals((byte) 0xC3, target.ramBlocks().getFirst().memory().get(ValueLayout.JAVA_BYTE, 513L * PAGE + 17));
        assertEquals(RunState.PRELAUNCH, target.globalState().runState());
        assertEquals(new Workload.State(SPEC, 99, 1234), target.workload().state());
        assertEquals(source.timer().ticks(), target.timer().ticks());
        assertEquals(source.timer().clockNs(), target.timer().clockNs());
        assertEquals("none", result.preamble().machineType());
        assertTrue(streams.digest().received(), "our stream carries the digest");
        LoadedPageCrcs.assertMatchMemory(streams.ram(), target.ramBlocks());
        assertEquals(null, streams.digest().mismatch(result.devices()));
    }

    @Test
    void ramIsFinalOnceBeforeTheFirstDeviceSectionAfterTheEnd() throws IOException {
        Guest source = preparedSource();
        for (boolean qemuCompatible : new boolean[] {false, true}) {
            Guest target = destination(RAM);
            List<String> events = new ArrayList<>();
            List<byte[]> ramWhenFinal = new ArrayList<>();
            LoadVm loadVm = MachineStreams.of(target, qemuCompatible).loadVm(target).whenRamIsFinal(seen -> {
                events.add("final, seen " + seen.contains("ram") + " " + seen.contains(StreamCapabilities.IDSTR));
                ramWhenFinal.add(ram(target));
            });
            loadVm.load(MigrationInput.of(save(source, qemuCompatible)), new LoadVm.Listener() {
                @Override
                public void section(SectionHeader.Open header) {
                    events.add(header.idstr());
                }
            });
            assertEquals(1, ramWhenFinal.size(), "told once: " + events);
            assertArrayEquals(ram(source), ramWhenFinal.getFirst(), "RAM was whole when the load said it was final");
            // Our stream announces itself (vm-migrate/capabilities): then a digest is to come.
            int told = events.indexOf("final, seen true " + !qemuCompatible);
            assertTrue(told >= 0 && told > events.indexOf("ram"), "after RAM's sections: " + events);
            List<String> after = events.subList(told + 1, events.size());
            assertFalse(after.isEmpty() || after.contains("ram"), "only device sections follow: " + events);
        }
    }

    @Test
    void aPausedRunStateIsCarried() throws Exception {
        Guest source = guest(Guest.builder().ramSize(1L << 20).workload(SPEC).seed(8));
        source.start();
        long guard = System.nanoTime() + 20_000_000_000L;
        while (source.workload().steps() == 0 && System.nanoTime() < guard) {
            Thread.sleep(5);
        }
        source.stop(RunState.PAUSED);
        source.stop(RunState.FINISH_MIGRATE);
        assertTrue(source.workload().steps() > 0, "the workload ran");
        byte[] stream = save(source, false);

        Guest target = destination(1L << 20);
        MachineStreams.of(target, false).loadVm(target).load(MigrationInput.of(stream));
        assertEquals(RunState.PAUSED, target.globalState().runState());
        assertEquals(source.workload().state(), target.workload().state());
        assertArrayEquals(ram(source), ram(target));
    }

    @Test
    void vmdescIsJsonListingOurDevices() throws IOException {
        Guest source = preparedSource();
        Guest target = destination(RAM);
        LoadVm.Result result = MachineStreams.of(target, false).loadVm(target)
                .load(MigrationInput.of(save(source, false)));
        assertNotNull(result.vmdesc());
        JsonNode vmdesc = new ObjectMapper().readTree(result.vmdesc());
        assertEquals(4096, vmdesc.get("page_size").intValue());
        List<String> names = new ArrayList<>();
        vmdesc.get("devices").forEach(d -> names.add(d.get("name").textValue()));
        // In stream order: the capabilities section goes early (at setup), the digest last.
        assertEquals(List.of("vm-migrate/capabilities", "timer", "globalstate", "vm-migrate/workload",
                "vm-migrate/digest"), names);
        assertFalse(names.contains("ram"), "the RAM section is not in the vmdesc");
        JsonNode timer = vmdesc.get("devices").get(1);
        assertEquals(2, timer.get("version").intValue());
        assertEquals("cpu_ticks_offset", timer.get("fields").get(0).get("name").textValue());
    }

    @Test
    void qemuCompatibleStreamHasNoOwnSections() throws IOException {
        Guest source = preparedSource();
        byte[] stream = save(source, true);
        assertEquals(-1, indexOf(stream, "vm-migrate/".getBytes(StandardCharsets.US_ASCII)),
                "no vm-migrate/ id anywhere, vmdesc included");

        Guest target = destination(RAM);
        MachineStreams streams = MachineStreams.of(target, false);
        LoadVm.Result result = streams.loadVm(target).load(MigrationInput.of(stream));
        assertEquals(java.util.Set.of("ram", "timer", "globalstate"), result.sections());
        for (String name : result.sections()) {
            assertFalse(name.startsWith("vm-migrate/"), name);
        }
        assertFalse(streams.digest().received());
        assertArrayEquals(ram(source), ram(target));
        assertEquals(RunState.PRELAUNCH, target.globalState().runState());
    }

    // ---------------------------------------------------------------- golden bytes

    @Test
    void smallestStreamStartsWithHeaderConfigurationRamStartAndEnd() throws IOException {
        Guest source = guest(Guest.builder().ramSize(PAGE));
        byte[] stream = save(source, false);
        byte[] expected = Hex.bytes(""
                + "5145564d 00000003"                       // magic, version 3
                + "07 00000004 6e6f6e65"                    // configuration "none"
                + "01 00000001 03 72616d 00000000 00000004" // START, section 1 (never 0: see SaveVm), "ram", version 4
                + "0000000000001004 03 72616d 0000000000001000 0000000000000010"
                + "7e 00000001"                             // footer
                + "04 00000005 17 766d2d6d6967726174652f6361706162696c6974696573 00000000 00000001"
                + "00000000 00000001"                       // early FULL vm-migrate/capabilities: none, level 1
                + "7e 00000005"
                + "03 00000001"                             // END
                + "0000000000000002 03 72616d 00 0000000000000010"
                + "7e 00000001"
                + "04 00000002 05 74696d6572 00000000 00000002" // FULL timer, section 2, version 2
                + "0000000000000000 0000000000000000 0000000000000000"
                + "7e 00000002"
                + "04 00000003 0b 676c6f62616c7374617465 00000000 00000001"); // FULL globalstate
        GoldenBytes.assertSame(expected, Arrays.copyOf(stream, expected.length));
    }

    private byte[] smallStream() throws IOException {
        Guest source = guest(Guest.builder().ramSize(PAGE));
        source.stop(RunState.FINISH_MIGRATE);
        return save(source, false);
    }

    // ---------------------------------------------------------------- refusals

    private StreamFormatException refused(byte[] stream) {
        Guest target = destination(PAGE);
        return assertThrows(StreamFormatException.class,
                () -> MachineStreams.of(target, false).loadVm(target).load(MigrationInput.of(stream)));
    }

    private static void assertMessage(StreamFormatException e, String part, long offset) {
        assertTrue(e.getMessage().contains(part), e.getMessage());
        assertEquals(offset, e.offset(), e.getMessage());
        assertTrue(e.getMessage().endsWith("at offset " + offset), e.getMessage());
    }

    @Test
    void theSmallStreamLoads() throws IOException {
        byte[] stream = smallStream();
        Guest target = destination(PAGE);
        LoadVm.Result result = MachineStreams.of(target, false).loadVm(target).load(MigrationInput.of(stream));
        assertTrue(result.sections().containsAll(List.of("ram", "timer", "globalstate", "vm-migrate/workload")));
    }

    @Test
    void wrongMagicIsRefused() throws IOException {
        byte[] stream = smallStream();
        stream[0] = 0x52;
        assertMessage(refused(stream), "not a QEMU migration stream: magic 0x5245564d", 0);
    }

    @Test
    void wrongVersionIsRefused() throws IOException {
        byte[] stream = smallStream();
        stream[7] = 2;
        assertMessage(refused(stream), "unsupported stream version 2, expected 3", 4);
    }

    @Test
    void unknownSectionTypeIsRefused() throws IOException {
        byte[] stream = smallStream();
        assertEquals(0x01, stream[17]);
        stream[17] = 0x09;
        assertMessage(refused(stream), "unknown section type 0x09", 17);
    }

    @Test
    void unknownSectionNameIsRefused() throws IOException {
        byte[] stream = smallStream();
        int timer = indexOf(stream, Hex.bytes("05 74696d6572"));
        stream[timer + 5] = 'x'; // "timex"
        StreamFormatException e = refused(stream);
        assertMessage(e, "unknown section 'timex' instance 0", timer - 5);
    }

    @Test
    void ownSectionIsUnknownToAQemuCompatibleReceiver() throws IOException {
        byte[] stream = smallStream();
        Guest target = destination(PAGE);
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> MachineStreams.of(target, true).loadVm(target).load(MigrationInput.of(stream)));
        int at = indexOf(stream, "vm-migrate/capabilities".getBytes(StandardCharsets.US_ASCII)) - 6;
        assertMessage(e, "unknown section 'vm-migrate/capabilities'", at);
    }

    @Test
    void partForAnUnopenedSectionIsRefused() throws IOException {
        byte[] stream = Arrays.copyOf(smallStream(), 17 + 5);
        System.arraycopy(Hex.bytes("02 00000007"), 0, stream, 17, 5);
        assertMessage(refused(stream), "PART for section id 7 that no START opened", 17);
    }

    @Test
    void footerNamingAnotherSectionIsRefused() throws IOException {
        byte[] stream = smallStream();
        GoldenBytes.assertSame(Hex.bytes("7e 00000001"), Arrays.copyOfRange(stream, 62, 67));
        stream[66] = 5;
        assertMessage(refused(stream), "footer of section 'ram' names section id 5, expected 1", 62);
    }

    @Test
    void missingFooterIsRefused() throws IOException {
        byte[] stream = smallStream();
        stream[62] = 0x7f;
        assertMessage(refused(stream), "section 'ram' (id 1) not followed by its footer: found 0x7f", 62);
    }

    @Test
    void otherMachineTypeIsRefused() throws IOException {
        byte[] stream = smallStream();
        Guest target = guest(Guest.builder().ramSize(PAGE).machine("pc-i440fx-7.2").incoming(true));
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> MachineStreams.of(target, false).loadVm(target).load(MigrationInput.of(stream)));
        assertMessage(e, "stream is for machine type 'none', this guest is 'pc-i440fx-7.2'", 13);
    }

    @Test
    void newerSectionVersionIsRefused() throws IOException {
        byte[] stream = smallStream();
        int timer = indexOf(stream, Hex.bytes("05 74696d6572 00000000 00000002"));
        stream[timer + 13] = 3;
        assertMessage(refused(stream), "section 'timer' has version 3, this side loads up to 2", timer - 5);
    }

    @Test
    void deviceRefusingItsStateFailsTheLoadWithTheSectionOffset() throws IOException {
        byte[] stream = smallStream();
        int name = indexOf(stream, "prelaunch".getBytes(StandardCharsets.US_ASCII));
        stream[name] = 'x';
        Guest target = destination(PAGE);
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> MachineStreams.of(target, false).loadVm(target).load(MigrationInput.of(stream)));
        assertTrue(e.getMessage().contains("device 'globalstate' refused its state"), e.getMessage());
        assertTrue(e.getMessage().contains("xrelaunch"), e.getMessage());
        int section = indexOf(stream, Hex.bytes("0b 676c6f62616c7374617465")) - 5;
        assertEquals(section, e.offset());
    }

    @Test
    void truncatedStreamsFailCleanly() throws IOException {
        Guest target = destination(PAGE);
        Truncation.Decoder decoder = in -> MachineStreams.of(target, false).loadVm(target).load(in);
        Truncation.assertFailsCleanlyWhenCut(smallStream(), decoder);

        Guest larger = destination(RAM);
        Truncation.assertFailsCleanlyWhenCut(save(preparedSource(), false),
                in -> MachineStreams.of(larger, false).loadVm(larger).load(in));
    }

    /** Every cut of the small stream fails with an offset inside the cut, except right after EOF (the vmdesc is optional). */
    @Test
    void everyCutOfTheSmallStreamFailsCleanly() throws IOException {
        byte[] stream = smallStream();
        Guest target = destination(PAGE);
        byte[] vmdesc = MachineStreams.of(target, false).loadVm(target).load(MigrationInput.of(stream)).vmdesc();
        int afterEof = stream.length - 5 - vmdesc.length;
        assertEquals(0x00, stream[afterEof - 1], "EOF byte");
        assertEquals(0x06, stream[afterEof], "vmdesc marker");
        for (int cut = 0; cut < stream.length; cut++) {
            byte[] part = Arrays.copyOf(stream, cut);
            Guest fresh = destination(PAGE);
            MachineStreams streams = MachineStreams.of(fresh, false);
            if (cut == afterEof) {
                LoadVm.Result result = streams.loadVm(fresh).load(MigrationInput.of(part));
                assertEquals(null, result.vmdesc());
                continue;
            }
            StreamFormatException e = assertThrows(StreamFormatException.class,
                    () -> streams.loadVm(fresh).load(MigrationInput.of(part)), "cut at " + cut);
            assertTrue(e.offset() >= 0 && e.offset() <= cut, "offset " + e.offset() + " for cut " + cut);
            assertEquals(RunState.INMIGRATE, fresh.runState());
            assertEquals(RunState.RUNNING, fresh.globalState().runState(),
                    "cut at " + cut + ": no device state is applied from a stream that failed");
            fresh.close();
            guests.remove(fresh);
        }
    }

    // ---------------------------------------------------------------- a real QEMU stream

    /** QEMU 7.2's capture and QEMU 10.0's, which has a SWITCHOVER_START command before the RAM END. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({CapturedStreams.NONE_2M + ",486", CapturedStreams.NONE_2M_QEMU10 + ",823"})
    void qemuNone2mStreamLoadsIntoAGuestWithRamMem(String capture, int vmdescLength) throws IOException {
        Guest target = guest(Guest.builder().ramId("mem").ramSize(2 << 20).incoming(true));
        MachineStreams streams = MachineStreams.of(target, false);
        LoadVm.Result result = streams.loadVm(target)
                .load(MigrationInput.of(CapturedStreams.bytes(capture)));
        assertEquals(RunState.PRELAUNCH, target.globalState().runState());
        assertEquals(0, target.timer().ticks());
        assertEquals("none", result.preamble().machineType());
        assertEquals(vmdescLength, result.vmdesc().length);
        assertFalse(streams.digest().received());
        assertEquals(-1, MemorySegment.ofArray(CapturedStreams.none2mRam())
                .mismatch(MemorySegment.ofArray(ram(target))));
    }

    @Test
    void qemuNone2mStreamIsRefusedByAGuestWhoseBlockIsNamedRam() {
        Guest target = guest(Guest.builder().ramSize(2 << 20).incoming(true));
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> MachineStreams.of(target, false)
                .loadVm(target).load(MigrationInput.of(CapturedStreams.bytes(CapturedStreams.NONE_2M))));
        assertMessage(e, "RAM block 'mem' is not in this guest (it has: ram)", 0x2a);
    }
}
