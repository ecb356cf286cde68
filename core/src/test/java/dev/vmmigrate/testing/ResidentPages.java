package dev.vmmigrate.testing;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;

import dev.vmmigrate.os.Libc;
import dev.vmmigrate.stream.TargetPage;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/** Counts the pages of a block the process has faulted in (mincore), without touching any. */
public final class ResidentPages {
    private ResidentPages() {}

    /** Pages of {@code memory} (page-aligned) mapped in, a read-faulted zero page included. */
    public static long count(MemorySegment memory) throws Throwable {
        long pages = (memory.byteSize() + TargetPage.SIZE - 1) / TargetPage.SIZE;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment vector = arena.allocate(pages);
            int rc = Libc.mincore(memory, memory.byteSize(), vector);
            if (rc != 0) {
                throw new IllegalStateException("mincore failed");
            }
            long resident = 0;
            for (long i = 0; i < pages; i++) {
                resident += vector.get(JAVA_BYTE, i) & 1;
            }
            return resident;
        }
    }
}
