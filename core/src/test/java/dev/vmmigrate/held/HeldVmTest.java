package dev.vmmigrate.held;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.ram.CapturedStreams;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.savevm.DeviceSection;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.Truncation;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** QEMU's pc VMs (7.2 and 10.0 captures) held, saved as a compact stream and loaded back. */
class HeldVmTest {
    static HeldVm load(byte[] stream) throws IOException {
        HeldVmReceiver receiver = new HeldVmReceiver(null, null);
        try {
            receiver.loaded(receiver.loadVm().load(MigrationInput.of(stream)), false);
        } catch (IOException | RuntimeException e) {
            receiver.loadFailed();
            throw e;
        }
        return receiver.vm();
    }

    static byte[] save(HeldVm vm) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            vm.save(out);
        }
        return bytes.toByteArray();
    }

    @ParameterizedTest
    @CsvSource({CapturedStreams.PC_16M + ",pc-i440fx-7.2", CapturedStreams.PC_16M_QEMU10 + ",pc-i440fx-10.0"})
    void qemuPcVmIsHeldAndSavedAsItCame(String capture, String machine) throws IOException {
        byte[] original = CapturedStreams.bytes(capture);
        try (HeldVm vm = load(original)) {
            assertEquals(machine, vm.machineType());
            assertEquals(9, vm.ramBlocks().size());
            assertEquals(35, vm.devices().size());
            assertEquals(RunState.PRELAUNCH, vm.sourceRunState().orElseThrow(), "QEMU was started with -S");
            byte[] mem = vm.ramBlocks().getFirst().memory().toArray(ValueLayout.JAVA_BYTE);
            assertEquals(-1, MemorySegment.ofArray(CapturedStreams.pc16mRam()).mismatch(MemorySegment.ofArray(mem)));

            byte[] saved = save(vm);
            try (HeldVm again = load(saved)) {
                assertEquals(machine, again.machineType());
                assertSameDevices(vm.devices(), again.devices());
                assertEquals(vm.ramBlocks().size(), again.ramBlocks().size());
                for (int i = 0; i < vm.ramBlocks().size(); i++) {
                    RamBlock a = vm.ramBlocks().get(i);
                    RamBlock b = again.ramBlocks().get(i);
                    assertEquals(a.id(), b.id());
                    assertEquals(-1, a.memory().mismatch(b.memory()), "block " + a.id());
                }
                assertArrayEquals(save(vm), save(again), "saving is deterministic and loses nothing");
            }
            long nonZero = 0;
            for (RamBlock block : vm.ramBlocks()) {
                for (long page = 0; page < block.pageCount(); page++) {
                    if (!RamBlock.isZero(block.memory().asSlice(page * TargetPage.SIZE, TargetPage.SIZE))) {
                        nonZero += TargetPage.SIZE;
                    }
                }
            }
            long bound = nonZero + vm.deviceBytes() + vmdescBytes(original) + vm.ramBytes() / 100;
            assertTrue(saved.length <= bound, saved.length + " bytes saved, bound " + bound);
        }
    }

    @ParameterizedTest
    @CsvSource({CapturedStreams.PC_16M, CapturedStreams.PC_16M_QEMU10})
    void truncatedPcStreamFailsCleanly(String capture) {
        byte[] original = CapturedStreams.bytes(capture);
        Truncation.assertFailsCleanlyWhenCut(original, in -> {
            HeldVmReceiver receiver = new HeldVmReceiver(null, null);
            try {
                receiver.loadVm().load(in);
            } finally {
                receiver.loadFailed();
                assertNull(receiver.vm(), "a failed load holds no VM");
            }
        });
    }

    @ParameterizedTest
    @CsvSource({CapturedStreams.PC_16M})
    void aRamFileForABlockTheStreamLacksIsRefused(String capture, @org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
        HeldVmReceiver receiver = new HeldVmReceiver("pc.ram", dir.resolve("guest.ram"));
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> receiver.loaded(receiver.loadVm().load(MigrationInput.of(CapturedStreams.bytes(capture))), false));
        assertTrue(e.getMessage().startsWith("the stream has no RAM block 'pc.ram' for the RAM file (it has: mem, "),
                e.getMessage());
        receiver.loadFailed();
    }

    private static void assertSameDevices(List<DeviceSection> expected, List<DeviceSection> actual) {
        assertEquals(expected.size(), actual.size());
        for (int i = 0; i < expected.size(); i++) {
            assertEquals(expected.get(i).header(), actual.get(i).header());
            assertArrayEquals(expected.get(i).payload(), actual.get(i).payload(), expected.get(i).header().idstr());
        }
    }

    private static long vmdescBytes(byte[] stream) throws IOException {
        HeldVmReceiver receiver = new HeldVmReceiver(null, null);
        try {
            return receiver.loadVm().load(MigrationInput.of(stream)).vmdesc().length;
        } finally {
            receiver.loadFailed();
        }
    }
}
