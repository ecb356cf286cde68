package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import dev.vmmigrate.stream.TargetPage;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * QEMU's COMMAND POSTCOPY_RAM_DISCARD (savevm.c qemu_savevm_send_postcopy_ram_discard), sent as
 * the source switches to postcopy: pages of one RAM block the destination received but the guest
 * dirtied since, which it must drop and get again. Payload: u8 version 0, u8 name length, the
 * name, a 0 byte, then (be64 start, be64 length) byte ranges.
 *
 * @param block the RAM block's id string
 * @param ranges byte ranges within it, each page aligned
 */
public record PostcopyDiscard(String block, List<Range> ranges) {
    /** The only version QEMU 7.2 and 10.0 write (postcopy_ram_discard_version). */
    public static final int VERSION = 0;

    /** One range of bytes to drop: {@code start} and {@code length}, both whole target pages. */
    public record Range(long start, long length) {
    }

    public PostcopyDiscard {
        ranges = List.copyOf(ranges);
    }

    /** Reads and checks the payload of {@code command}; offsets in errors are the command's. */
    public static PostcopyDiscard read(Section.Command command) throws StreamFormatException {
        byte[] payload = command.payload();
        long at = command.offset();
        if (payload.length < 3) {
            throw new StreamFormatException("POSTCOPY_RAM_DISCARD of " + payload.length + " bytes: too short", at);
        }
        ByteBuffer buffer = ByteBuffer.wrap(payload);
        int version = buffer.get() & 0xff;
        if (version != VERSION) {
            throw new StreamFormatException("POSTCOPY_RAM_DISCARD version " + version + ", expected " + VERSION, at);
        }
        int nameLength = buffer.get() & 0xff;
        if (buffer.remaining() < nameLength + 1) {
            throw new StreamFormatException("POSTCOPY_RAM_DISCARD names a block of " + nameLength
                    + " bytes but has " + (buffer.remaining() - 1) + " left for it", at);
        }
        byte[] name = new byte[nameLength];
        buffer.get(name);
        if (buffer.get() != 0) {
            throw new StreamFormatException("POSTCOPY_RAM_DISCARD: no 0 byte after the block name", at);
        }
        String block = new String(name, StandardCharsets.ISO_8859_1);
        if (buffer.remaining() % 16 != 0) {
            throw new StreamFormatException("POSTCOPY_RAM_DISCARD for " + StreamText.quote(block) + ": "
                    + buffer.remaining() + " bytes of ranges, not a multiple of 16", at);
        }
        List<Range> ranges = new ArrayList<>(buffer.remaining() / 16);
        while (buffer.hasRemaining()) {
            long start = buffer.getLong();
            long length = buffer.getLong();
            if (start < 0 || length <= 0 || start % TargetPage.SIZE != 0 || length % TargetPage.SIZE != 0
                    || start > Long.MAX_VALUE - length) {
                throw new StreamFormatException("POSTCOPY_RAM_DISCARD for " + StreamText.quote(block)
                        + ": range of " + length + " bytes at " + start + " is not whole pages", at);
            }
            ranges.add(new Range(start, length));
        }
        return new PostcopyDiscard(block, ranges);
    }

    /** The payload, as QEMU writes it. */
    public byte[] encode() {
        byte[] name = block.getBytes(StandardCharsets.ISO_8859_1);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(VERSION);
        out.write(name.length);
        out.writeBytes(name);
        out.write(0);
        ByteBuffer pairs = ByteBuffer.allocate(16 * ranges.size());
        ranges.forEach(range -> pairs.putLong(range.start()).putLong(range.length()));
        out.writeBytes(pairs.array());
        return out.toByteArray();
    }
}
