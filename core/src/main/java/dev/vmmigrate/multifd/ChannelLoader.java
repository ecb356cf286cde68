package dev.vmmigrate.multifd;

import dev.vmmigrate.ram.SideChannels.PageTarget;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.util.Map;
import java.util.function.Supplier;

/**
 * Loads one multifd channel after its handshake (QEMU's multifd_recv_thread): packet after
 * packet, each checked whole against the announced RAM blocks before any page of it is written,
 * waiting at every SYNC packet for the main stream; until the source closes the channel.
 */
final class ChannelLoader {
    private final int id;
    private final MigrationInput in;
    private final SyncPoints sync;
    /** The blocks MEM_SIZE announced, or null before the main stream read them. */
    private final Supplier<Map<String, ? extends PageTarget>> blocks;

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
        in.close();
    }

    private void load(MultifdPacket packet, long at) throws IOException {
        if (packet.compression() != MultifdCompression.NONE) {
            throw new StreamFormatException("multifd packet compressed with " + packet.compression().qemuName()
                    + " (QEMU's multifd-compression): only none is supported so far", at + 8);
        }
        if (!packet.hasPages()) {
            return; // its block name and size are left over from an earlier packet (7.2): meaningless
        }
        long expected = (long) packet.normalCount() * TargetPage.SIZE;
        if (Integer.toUnsignedLong(packet.nextPacketSize()) != expected) {
            throw new StreamFormatException("multifd packet announces " + Integer.toUnsignedString(packet.nextPacketSize())
                    + " bytes of page data for " + packet.normalCount() + " pages (" + expected + " bytes)", at + 20);
        }
        PageTarget block = blockOf(packet, at);
        for (int i = 0; i < packet.normalCount(); i++) {
            checkOffset(block, packet.normalOffset(i), at);
        }
        for (int i = 0; i < packet.zeroCount(); i++) {
            checkOffset(block, packet.zeroOffset(i), at);
        }
        for (int i = 0; i < packet.zeroCount(); i++) {
            block.zeroPage(packet.zeroOffset(i));
        }
        for (int i = 0; i < packet.normalCount(); i++) {
            block.writePage(packet.normalOffset(i), in);
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
