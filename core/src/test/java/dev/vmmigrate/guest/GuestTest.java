package dev.vmmigrate.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.block.Disk;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.savevm.DeviceHandler;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.ResidentPages;
import java.io.UncheckedIOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class GuestTest {
    @TempDir
    Path dir;

    @Test
    void anIncomingGuestsRamIsAllocatedPageByPageAsItIsWritten() throws Throwable {
        try (Guest guest = Guest.builder().ramSize(8L << 20).incoming(true).build()) {
            RamBlock ram = guest.ramBlocks().getFirst();
            ram.memory().set(ValueLayout.JAVA_BYTE, 5L << 20, (byte) 1);
            assertEquals(1, ResidentPages.count(ram.memory()), "4 KiB pages: one page, not a 2 MiB huge page");
        }
    }

    @Test
    void defaultsAreMachineNoneWithOneRamBlock() {
        try (Guest guest = Guest.builder().build()) {
            assertEquals("none", guest.machineType());
            assertEquals(1, guest.ramBlocks().size());
            assertEquals("ram", guest.ramBlocks().getFirst().id());
            assertEquals(Guest.DEFAULT_RAM_SIZE, guest.ramBytes());
            assertEquals(RunState.PRELAUNCH, guest.runState());
            assertEquals(List.of("timer", "globalstate", "vm-migrate/workload"),
                    guest.deviceHandlers().stream().map(DeviceHandler::idstr).toList());
        }
        try (Guest incoming = Guest.builder().incoming(true).ramSize(1 << 20).ramId("pc.ram").build()) {
            assertEquals(RunState.INMIGRATE, incoming.runState());
            assertEquals("pc.ram", incoming.ramBlocks().getFirst().id());
        }
    }

    @Test
    void runStatesDriveWorkloadClocksAndListeners() throws InterruptedException {
        List<RunState> seen = new ArrayList<>();
        try (Guest guest = Guest.builder().ramSize(1 << 20).workload(WorkloadSpec.parse("random:unlimited")).seed(3).build()) {
            guest.addRunStateListener(seen::add);
            guest.start();
            assertTrue(guest.isRunning());
            assertTrue(guest.workload().isRunning());
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (guest.workload().steps() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(1);
            }
            guest.stop(RunState.FINISH_MIGRATE);
            assertFalse(guest.workload().isRunning());
            assertFalse(guest.timer().isEnabled());
            assertEquals(RunState.RUNNING, guest.globalState().runState(), "globalstate holds the state before the stop");
            long steps = guest.workload().steps();
            assertTrue(steps > 0);
            Thread.sleep(20);
            assertEquals(steps, guest.workload().steps());
            guest.stop(RunState.POSTMIGRATE);
            guest.resume();
            guest.stop(RunState.PAUSED);
            guest.stop(RunState.FINISH_MIGRATE);
            assertEquals(RunState.PAUSED, guest.globalState().runState());
            assertThrows(IllegalArgumentException.class, () -> guest.stop(RunState.RUNNING));
        }
        assertEquals(List.of(RunState.RUNNING, RunState.FINISH_MIGRATE, RunState.POSTMIGRATE, RunState.RUNNING,
                RunState.PAUSED, RunState.FINISH_MIGRATE), seen);
    }

    @Test
    void closeUnmapsTheRam() {
        Guest guest = Guest.builder().ramSize(1 << 20).workload(WorkloadSpec.parse("sweep:unlimited")).build();
        guest.start();
        RamBlock ram = guest.ramBlocks().getFirst();
        guest.close();
        guest.close();
        assertThrows(IllegalStateException.class, () -> ram.memory().get(ValueLayout.JAVA_BYTE, 0));
        assertThrows(IllegalStateException.class, guest::start);
    }

    @Test
    void ramFileIsTheGuestMemory() throws Exception {
        Path file = dir.resolve("guest.ram");
        try (Guest guest = Guest.builder().ramFile(file).ramSize(1 << 20).workload(WorkloadSpec.parse("sweep:unlimited")).build()) {
            guest.workload().runSteps(3);
            guest.ramBlocks().getFirst().force();
        }
        byte[] bytes = Files.readAllBytes(file);
        assertEquals(1 << 20, bytes.length);
        assertEquals(1, bytes[TargetPage.SIZE * 2]);
        try (Guest again = Guest.builder().ramFile(file).build()) {
            assertEquals(1 << 20, again.ramBytes());
        }
    }

    @Test
    void explicitBlocksReplaceTheDefault() {
        RamBlock a = RamBlock.anonymous("ram", 1 << 20);
        RamBlock b = RamBlock.anonymous("extra", 1 << 20);
        try (Guest guest = Guest.builder().addRamBlock(a).addRamBlock(b).build()) {
            assertEquals(2L << 20, guest.ramBytes());
            assertEquals(512, guest.workload().totalPages());
        }
        assertThrows(IllegalStateException.class, () -> a.memory().get(ValueLayout.JAVA_BYTE, 0));
        RamBlock c = RamBlock.anonymous("ram", 1 << 20);
        try {
            assertThrows(IllegalArgumentException.class, () -> Guest.builder().addRamBlock(c).ramSize(4096).build());
        } finally {
            c.close();
        }
    }
    @Test
    void aDiskIsOptionalNamedDisk0AndClosedWithTheGuest() throws Exception {
        try (Guest none = Guest.builder().ramSize(1 << 20).build()) {
            assertTrue(none.disk().isEmpty());
        }
        Path image = dir.resolve("disk.raw");
        Files.write(image, new byte[2 << 20]);
        try (Guest guest = Guest.builder().ramSize(1 << 20).disk(image)
                .workload(WorkloadSpec.parse("random:unlimited")).seed(4).build()) {
            Disk disk = guest.disk().orElseThrow();
            assertEquals(Guest.DEFAULT_DISK_ID, disk.id());
            assertEquals("disk0", disk.id());
            assertEquals(2 << 20, disk.length());
            assertSame(disk, guest.workload().disk());
            guest.workload().runSteps(Workload.DISK_WRITE_INTERVAL);
            assertEquals(1, disk.dirty().count(), "one disk write in " + Workload.DISK_WRITE_INTERVAL + " steps");
        }
        Disk.open("again", image).close(); // the guest released its lock
        Path missing = dir.resolve("missing.raw");
        UncheckedIOException e = assertThrows(UncheckedIOException.class,
                () -> Guest.builder().ramSize(1 << 20).disk(missing).build());
        assertTrue(e.getMessage().contains(missing.toString()), e.getMessage());
    }
}
