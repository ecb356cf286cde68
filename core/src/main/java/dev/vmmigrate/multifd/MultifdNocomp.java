package dev.vmmigrate.multifd;

import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.util.Arrays;

/**
 * QEMU's nocomp method (multifd-nocomp.c): the pages follow the packet as they are, in offset
 * order, written straight from guest memory (a page the guest changes meanwhile is dirty and goes
 * again after the next sync point).
 */
public final class MultifdNocomp implements MultifdEncoder {
    private static final long[] NONE = new long[0];

    @Override
    public MultifdCompression compression() {
        return MultifdCompression.NONE;
    }

    @Override
    public void writePages(MigrationOutput out, RamBlock block, long[] offsets, int count, long packetNum)
            throws IOException {
        long[] normal = count == offsets.length ? offsets : Arrays.copyOf(offsets, count);
        MultifdPacket.pages(block.id(), normal, NONE, packetNum).write(out);
        for (int i = 0; i < count; i++) {
            out.putReferenced(block.memory(), offsets[i], TargetPage.SIZE);
        }
    }
}
