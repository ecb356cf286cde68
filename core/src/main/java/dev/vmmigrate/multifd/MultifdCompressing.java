package dev.vmmigrate.multifd;

import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.MigrationOutput;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * QEMU's zlib and zstd methods on a sending channel (multifd-zlib.c, multifd-zstd.c send_prepare):
 * the packet's normal pages go through the channel's {@link MultifdCodec}, whose stream lives
 * across packets, and the packet says the method and the compressed size.
 */
final class MultifdCompressing implements MultifdEncoder {
    private static final long[] NONE = new long[0];

    private final MultifdCodec codec;

    MultifdCompressing(MultifdCodec codec) {
        this.codec = codec;
    }

    @Override
    public MultifdCompression compression() {
        return codec.method();
    }

    @Override
    public void writePages(MigrationOutput out, RamBlock block, long[] offsets, int count, long packetNum)
            throws IOException {
        long[] normal = count == offsets.length ? offsets : Arrays.copyOf(offsets, count);
        MemorySegment payload = codec.encode(block.memory(), normal);
        new MultifdPacket(codec.method().code(), MultifdPacket.SLOTS, normal, NONE, (int) payload.byteSize(),
                packetNum, block.id()).write(out);
        out.putBytes(payload, 0, payload.byteSize());
    }

    @Override
    public void close() {
        codec.close();
    }
}
