package dev.vmmigrate.multifd;

import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.MigrationOutput;
import java.io.IOException;

/**
 * How one sending channel turns a packet's pages into bytes (QEMU's MultiFDMethods: send_setup,
 * send_prepare, send_cleanup per channel): the packet with this method's compression bits and
 * next_packet_size, then the payload. One instance per channel, used by that channel's thread
 * only, so a codec may keep its context (zstd's) between packets.
 */
public interface MultifdEncoder extends AutoCloseable {
    /**
     * A channel's encoder for QEMU's multifd-compression {@code method} ({@code none}, {@code zlib},
     * {@code zstd}) at {@code level} (multifd-zlib-level or multifd-zstd-level; none has none).
     *
     * @throws IllegalArgumentException for a method without a codec here (qpl, uadk, qatzip)
     */
    static MultifdEncoder of(MultifdCompression method, int level) {
        return method == MultifdCompression.NONE ? new MultifdNocomp()
                : new MultifdCompressing(MultifdCodec.of(method, level));
    }

    /** The method whose bits go in every page packet's flags. */
    MultifdCompression compression();

    /**
     * Writes the packet for the first {@code count} pages at {@code offsets} in {@code block}
     * and their payload; the caller flushes.
     */
    void writePages(MigrationOutput out, RamBlock block, long[] offsets, int count, long packetNum) throws IOException;

    /** Releases what the codec holds; the channel is done. */
    @Override
    default void close() {
    }
}
