package dev.vmmigrate.testing;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.vmmigrate.stream.TargetPage;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;

/** Counts the pages of a block the process has faulted in (mincore), without touching any. */
public final class ResidentPages {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle MINCORE = LINKER.downcallHandle(
            LINKER.defaultLookup().find("mincore").orElseThrow(),
            FunctionDescriptor.of(JAVA_INT, ADDRESS, JAVA_LONG, ADDRESS));

    private ResidentPages() {}

    /** Pages of {@code memory} (page-aligned) mapped in, a read-faulted zero page included. */
    public static long count(MemorySegment memory) throws Throwable {
        long pages = (memory.byteSize() + TargetPage.SIZE - 1) / TargetPage.SIZE;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment vector = arena.allocate(pages);
            int rc = (int) MINCORE.invokeExact(memory, memory.byteSize(), vector);
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
