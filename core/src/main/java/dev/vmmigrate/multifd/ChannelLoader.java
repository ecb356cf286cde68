package dev.vmmigrate.multifd;

import dev.vmmigrate.ram.SideChannels.PageTarget;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Loads one multifd channel after its handshake (QEMU's multifd_recv_thread): packet after
 * packet, each checked whole against the announced RAM blocks (and its compressed pages
 * decompressed) before any page of it is written, waiting at every SYNC packet for the main
 * stream; until the source closes the channel.
 *
 * <p>The compression comes from each packet's flags, not from a setting: QEMU's destination must
 * be told multifd-compression and refuses packets that name another, but the flags say it
 * unambiguously, so the receiver needs no option that could only disagree. A channel's first
 * compressed packet fixes its method (one stream per channel); packets without normal pages
 * carry no payload whatever their bits (7.2 leaves them 0 and next_packet_size stale there).
 */
final class ChannelLoader {
    private final int id;
    private final MigrationInput in;
    private final SyncPoints sync;
    /** The blocks MEM_SIZE announced, or null before the main stream read them. */
    private final Supplier<Map<String, ? extends PageTarget>> blocks;
    /** The channel's compression stream, from its first compressed packet on; null before. */
    private MultifdCodec codec;
    /** Where a compressed payload is read to: grown as payloads need, up to {@link MultifdCodec#MAX_PAYLOAD}. */
    private ByteBuffer payload = ByteBuffer.allocateDirect(0);

    ChannelLoader(int id, MigrationInput in, SyncPoints sync, Supplier<Map<String, ? extends PageTarget>> blocks) {
        this.id = id;
        this.in = in;
        this.sync = sync;
        this.blocks = blocks;
    }

    /** Reads until the channel ends between two packets; throws on anything else. */
    void run() throws IOException {
        while (!in.atEnd()) {
            long at = in.position();
            MultifdPacket packet = MultifdPacket.read(in);
            load(packet, at);
            if (packet.isSync()) {
                sync.channelArrived(id);
            }
        }
        sync.ended(id);
    }

    /** Bytes read so far, the handshake included. */
    long position() {
        return in.position();
    }

    void close() throws IOException {
        try {
            in.close();
        } finally {
            if (codec != null) {
                codec.close();
            }
        }
    }

    private void load(MultifdPacket packet, long at) throws IOException {
        MultifdCompression method = packet.compression();
        if (method != MultifdCompression.NONE && !MultifdCodec.loads(method)) {
            throw new StreamFormatException("multifd packet " + packet.packetNum() + " is compressed with "
                    + method.qemuName() + " (QEMU's multifd-compression), which this receiver does not load (none, "
                    + "zlib and zstd)", at + 8);
        }
        if (!packet.hasPages()) {
            return; // its block name and size are left over from an earlier packet (7.2): meaningless
        }
        long size = Integer.toUnsignedLong(packet.nextPacketSize());
        boolean compressed = method != MultifdCompression.NONE && packet.normalCount() > 0;
        long expected = (long) packet.normalCount() * TargetPage.SIZE;
        if (!compressed && size != expected) {
            throw new StreamFormatException("multifd packet announces " + Integer.toUnsignedString(packet.nextPacketSize())
                    + " bytes of page data for " + packet.normalCount() + " pages (" + expected + " bytes)", at + 20);
        }
        if (compressed && size > MultifdCodec.MAX_PAYLOAD) {
            throw new StreamFormatException("multifd packet " + packet.packetNum() + " (" + method.qemuName()
                    + ") announces " + size + " bytes of compressed page data, more than QEMU's bound of "
                    + MultifdCodec.MAX_PAYLOAD, at + 20);
        }
        PageTarget block = blockOf(packet, at);
        for (int i = 0; i < packet.normalCount(); i++) {
            checkOffset(block, packet.normalOffset(i), at);
        }
        for (int i = 0; i < packet.zeroCount(); i++) {
            checkOffset(block, packet.zeroOffset(i), at);
        }
        MemorySegment decompressed = compressed ? decompress(packet, method, (int) size, at) : null;
        for (int i = 0; i < packet.zeroCount(); i++) {
            block.zeroPage(packet.zeroOffset(i));
        }
        if (decompressed != null) {
            block.writePages(packet.normal(), decompressed);
        } else if (packet.normalCount() > 0) {
            block.readPages(packet.normal(), in);
        }
    }

    /** Reads the packet's payload and decompresses it whole, before any of its pages is written. */
    private MemorySegment decompress(MultifdPacket packet, MultifdCompression method, int size, long at)
            throws IOException {
        if (codec == null) {
            codec = MultifdCodec.of(method);
        } else if (codec.method() != method) {
            throw new StreamFormatException("multifd packet " + packet.packetNum() + " is compressed with "
                    + method.qemuName() + ", but this channel's earlier packets were " + codec.method().qemuName(), at + 8);
        }
        if (payload.capacity() < size) {
            payload = ByteBuffer.allocateDirect(Math.min(Math.max(64 << 10, Integer.highestOneBit(size) << 1),
                    MultifdCodec.MAX_PAYLOAD));
        }
        long payloadAt = in.position();
        in.readInto(MemorySegment.ofBuffer(payload.clear()), 0, size);
        try {
            return codec.decode(payload.limit(size), packet.normalCount());
        } catch (MultifdCodec.BadPayloadException e) {
            throw new StreamFormatException("multifd packet " + packet.packetNum() + " (" + method.qemuName() + "): "
                    + e.getMessage(), payloadAt);
        }
    }

    private PageTarget blockOf(MultifdPacket packet, long at) throws StreamFormatException {
        Map<String, ? extends PageTarget> announced = blocks.get();
        if (announced == null) {
            throw new StreamFormatException("multifd packet with pages for RAM block " + StreamText.quote(packet.ramBlock())
                    + " before the main stream announced the RAM blocks", at);
        }
        PageTarget block = announced.get(packet.ramBlock());
        if (block == null) {
            throw new StreamFormatException("multifd packet for RAM block " + StreamText.quote(packet.ramBlock())
                    + " that MEM_SIZE did not announce", at + 64);
        }
        return block;
    }

    private static void checkOffset(PageTarget block, long offset, long at) throws StreamFormatException {
        if (offset < 0 || offset > block.length() - TargetPage.SIZE) {
            throw new StreamFormatException(String.format("multifd packet offset 0x%x is beyond RAM block %s (%d bytes)",
                    offset, StreamText.quote(block.id()), block.length()), at + MultifdPacket.HEADER_BYTES);
        }
    }
}
