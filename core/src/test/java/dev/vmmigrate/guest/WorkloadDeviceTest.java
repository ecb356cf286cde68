package dev.vmmigrate.guest;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.vmstate.FieldValues;
import dev.vmmigrate.vmstate.VmStateField;
import java.lang.foreign.MemorySegment;
import org.junit.jupiter.api.Test;

class WorkloadDeviceTest {
    @Test
    void descriptionCoversEverySavedField() {
        assertEquals("vm-migrate/workload", WorkloadDevice.DESCRIPTION.name());
        assertTrue(WorkloadDevice.IDSTR.startsWith("vm-migrate/"));
        try (RamBlock block = RamBlock.anonymous("ram", 1 << 20)) {
            FieldValues values = new WorkloadDevice(new Workload(block, WorkloadSpec.NONE, 0)).save();
            assertEquals(WorkloadDevice.DESCRIPTION.fields().stream().map(VmStateField::name).toList(),
                    values.asMap().keySet().stream().toList());
        }
    }

    @Test
    void theDestinationContinuesExactlyWhereTheSourceStopped() throws InterruptedException {
        for (String text : new String[] {"random:unlimited", "sweep:unlimited", "hotset:unlimited:20%"}) {
            try (RamBlock source = RamBlock.anonymous("ram", 2 << 20);
                 RamBlock destination = RamBlock.anonymous("ram", 2 << 20);
                 RamBlock reference = RamBlock.anonymous("ram", 2 << 20)) {
                Workload sourceLoad = new Workload(source, WorkloadSpec.parse(text), 1234);
                try (sourceLoad) {
                    sourceLoad.start();
                    Thread.sleep(20);
                    sourceLoad.pause();
                }
                long stepsAtMigration = sourceLoad.steps();
                assertTrue(stepsAtMigration > 0, text);
                FieldValues saved = new WorkloadDevice(sourceLoad).save();
                assertEquals(stepsAtMigration, saved.getLong("steps"));

                // Migrate: RAM by copy, the workload by its device; the destination was built with another spec and seed.
                MemorySegment.copy(source.memory(), 0, destination.memory(), 0, source.length());
                Workload destinationLoad = new Workload(destination, WorkloadSpec.NONE, 0);
                new WorkloadDevice(destinationLoad).load(saved);
                assertEquals(sourceLoad.state(), destinationLoad.state());

                // Both continue; the destination ends where a source that never migrated ends.
                destinationLoad.runSteps(500);
                Workload uninterrupted = new Workload(reference, WorkloadSpec.parse(text), 1234);
                uninterrupted.runSteps(stepsAtMigration + 500);
                assertEquals(-1, destination.memory().mismatch(reference.memory()), text);

                // Without the step counter it would not: a fresh workload repeats the source's first steps.
                // (A sweep that stopped exactly at a lap boundary repeats the same pages: skip that case.)
                if (!text.startsWith("sweep") || stepsAtMigration % source.pageCount() != 0) {
                    Workload naive = new Workload(source, WorkloadSpec.parse(text), 1234);
                    naive.runSteps(500);
                    assertNotEquals(-1, source.memory().mismatch(reference.memory()), text);
                }
            }
        }
    }

    @Test
    void refusesAnotherRamSizeAndBadValues() {
        try (RamBlock small = RamBlock.anonymous("ram", 1 << 20); RamBlock large = RamBlock.anonymous("ram", 2 << 20)) {
            FieldValues saved = new WorkloadDevice(new Workload(large, WorkloadSpec.parse("random:1M/s"), 1)).save();
            WorkloadDevice device = new WorkloadDevice(new Workload(small, WorkloadSpec.NONE, 0));
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> device.load(saved));
            assertTrue(e.getMessage().contains("512") && e.getMessage().contains("256"), e.getMessage());

            FieldValues ok = new WorkloadDevice(new Workload(small, WorkloadSpec.parse("hotset:1M/s:5%"), 1)).save();
            device.load(ok);
            assertEquals(WorkloadSpec.parse("hotset:1M/s:5%"), device.workload().spec());
            assertThrows(IllegalArgumentException.class, () -> device.load(copy(ok).put("pattern", 9L)));
            assertThrows(IllegalArgumentException.class, () -> device.load(copy(ok).put("hotset_percent", 0L)));
            assertThrows(IllegalArgumentException.class, () -> device.load(copy(ok).put("rate", -5L)));
            assertThrows(IllegalArgumentException.class, () -> device.load(copy(ok).put("steps", -1L)));
        }
    }

    private static FieldValues copy(FieldValues values) {
        FieldValues copy = new FieldValues();
        values.asMap().forEach(copy::put);
        return copy;
    }
}
