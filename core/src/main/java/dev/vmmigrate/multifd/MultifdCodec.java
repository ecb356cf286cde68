package dev.vmmigrate.multifd;

import dev.vmmigrate.stream.TargetPage;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * One multifd channel's compression for QEMU's multifd-compression zlib and zstd
 * (multifd-zlib.c, multifd-zstd.c): one stream per channel that lives across its packets, each
 * packet's normal pages compressed in offset order and flushed (Z_SYNC_FLUSH, ZSTD_e_flush) so
 * that a packet's payload ({@code next_packet_size} bytes after it) ends on a flush boundary and
 * decompresses to exactly its pages. Zero pages are never compressed: 10.0 lists them in the
 * packet, 7.2 sends them on the main stream.
 *
 * <p>One instance per channel and direction, used by one thread: the sender calls {@link #encode}
 * for each packet with pages and writes the result after the packet (its size is the packet's
 * {@code next_packet_size}, its flags carry {@link #method()}'s bits); the receiver calls
 * {@link #decode} with each such packet's payload. Packets without normal pages have no payload
 * and do not touch the stream. Both return views of the codec's own buffers, valid until its next
 * call. {@link #close()} frees the native stream.
 */
public abstract sealed class MultifdCodec implements AutoCloseable permits MultifdZstd, MultifdZlib {
    /** A full packet's pages: QEMU's MULTIFD_PACKET_SIZE (512 KiB). */
    public static final int PACKET_PAGE_BYTES = MultifdPacket.SLOTS * TargetPage.SIZE;
    /**
     * The most a compressed packet's payload may be: QEMU's receiver reads it into a buffer of
     * twice MULTIFD_PACKET_SIZE (zbuff), so no QEMU sender sends more and neither does {@link #encode}.
     */
    public static final int MAX_PAYLOAD = 2 * PACKET_PAGE_BYTES;
    /** QEMU's default multifd-zlib-level and multifd-zstd-level. */
    public static final int DEFAULT_LEVEL = 1;

    /** The pages of one packet, contiguous: encode's input, decode's output. */
    private final ByteBuffer pages = ByteBuffer.allocateDirect(PACKET_PAGE_BYTES);
    /** encode's output; decode's copy of a payload that is not in a direct buffer. Allocated on first use. */
    private ByteBuffer payload;
    /** One byte of room: whether a payload decompresses to more than its pages. */
    private final ByteBuffer probe = ByteBuffer.allocateDirect(1);

    /** A payload that does not decompress to exactly its pages; the message says how. */
    public static final class BadPayloadException extends Exception {
        BadPayloadException(String message) {
            super(message);
        }
    }

    /** The codec for {@code method} at QEMU's default level. */
    public static MultifdCodec of(MultifdCompression method) {
        return of(method, DEFAULT_LEVEL);
    }

    /**
     * The codec for {@code method} compressing at {@code level} (QEMU's multifd-zlib-level 0..9 or
     * multifd-zstd-level 0..20; decoding ignores it).
     *
     * @throws IllegalArgumentException for a method that is not {@linkplain #loads loaded} here
     */
    public static MultifdCodec of(MultifdCompression method, int level) {
        return switch (method) {
            case ZLIB -> new MultifdZlib(level);
            case ZSTD -> new MultifdZstd(level);
            default -> throw new IllegalArgumentException("no multifd codec for " + method.qemuName());
        };
    }

    /** Whether {@link #of} has a codec for {@code method} (none needs none). */
    public static boolean loads(MultifdCompression method) {
        return method == MultifdCompression.ZLIB || method == MultifdCompression.ZSTD;
    }

    /** The method whose bits go into the flags of every packet this codec's payloads follow. */
    public abstract MultifdCompression method();

    /**
     * One packet's payload: the pages of {@code block} at {@code offsets} (the packet's normal
     * pages, in its order; at most {@link MultifdPacket#SLOTS}), copied first so a guest writing
     * to them meanwhile cannot upset the stream, then compressed and flushed.
     *
     * @return the payload, at most {@link #MAX_PAYLOAD} bytes: the packet's next_packet_size
     */
    public final MemorySegment encode(MemorySegment block, long[] offsets) {
        if (offsets.length == 0 || offsets.length > MultifdPacket.SLOTS) {
            throw new IllegalArgumentException(offsets.length + " pages: a packet's payload has 1.." + MultifdPacket.SLOTS);
        }
        MemorySegment contiguous = MemorySegment.ofBuffer(pages.clear());
        for (int i = 0; i < offsets.length; i++) {
            MemorySegment.copy(block, offsets[i], contiguous, (long) i * TargetPage.SIZE, TargetPage.SIZE);
        }
        pages.limit(offsets.length * TargetPage.SIZE);
        ByteBuffer out = payloadBuffer().clear();
        compress(pages, out);
        return MemorySegment.ofBuffer(out.flip());
    }

    /**
     * The {@code count} pages a packet's {@code payload} decompresses to, one after another in
     * the packet's order (the payload's position ends past what was used).
     *
     * @throws BadPayloadException when it is not exactly {@code count} pages: corrupt, short, longer,
     *     or with bytes left over
     */
    public final MemorySegment decode(ByteBuffer payload, int count) throws BadPayloadException {
        if (count < 1 || count > MultifdPacket.SLOTS) {
            throw new IllegalArgumentException(count + " pages: a packet's payload has 1.." + MultifdPacket.SLOTS);
        }
        if (payload.remaining() > MAX_PAYLOAD) {
            throw new IllegalArgumentException(payload.remaining() + " bytes of payload, more than " + MAX_PAYLOAD);
        }
        int size = payload.remaining();
        ByteBuffer in = payload;
        if (!payload.isDirect()) {
            in = payloadBuffer().clear().put(payload).flip();
        }
        pages.clear();
        for (int i = 0; i < count; i++) {
            ByteBuffer page = pages.slice(i * TargetPage.SIZE, TargetPage.SIZE);
            try {
                decompress(in, page);
            } catch (BadPayloadException e) {
                throw new BadPayloadException("its " + size + " bytes fail at page " + (i + 1) + " of " + count + ": "
                        + e.getMessage());
            }
            if (page.hasRemaining()) {
                throw new BadPayloadException(String.format("its %d bytes decompress to %d bytes, fewer than its %d pages",
                        size, (long) i * TargetPage.SIZE + page.position(), count));
            }
        }
        try {
            decompress(in, probe.clear());
        } catch (BadPayloadException e) {
            throw new BadPayloadException("its " + size + " bytes fail after its " + count + " pages: " + e.getMessage());
        }
        if (probe.position() > 0) {
            throw new BadPayloadException("its " + size + " bytes decompress to more than its " + count + " pages");
        }
        if (in.hasRemaining()) {
            throw new BadPayloadException("the last " + in.remaining() + " of its " + size + " bytes are left over after its "
                    + count + " pages");
        }
        return MemorySegment.ofBuffer(pages.slice(0, count * TargetPage.SIZE));
    }

    private ByteBuffer payloadBuffer() {
        if (payload == null) {
            payload = ByteBuffer.allocateDirect(MAX_PAYLOAD);
        }
        return payload;
    }

    /**
     * Compresses all of {@code in} into {@code out} (both direct) and flushes, the stream going on
     * from the previous packet's.
     *
     * @throws IllegalStateException when it does not fit (it always does: {@link #MAX_PAYLOAD} is
     *     twice a packet, more than either method's bound)
     */
    abstract void compress(ByteBuffer in, ByteBuffer out);

    /**
     * Decompresses from {@code in} (direct) until {@code out} is full or no more comes out of what
     * is left of {@code in}.
     */
    abstract void decompress(ByteBuffer in, ByteBuffer out) throws BadPayloadException;

    @Override
    public abstract void close();
}
