package dev.vmmigrate.multifd;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.Objects;

/**
 * One packet on a multifd channel (QEMU's MultiFDPacket_t, filled by multifd_send_fill_packet and
 * checked by multifd_recv_unfill_packet / multifd_ram_unfill_packet), always {@link #BYTES} bytes:
 * be32 magic, be32 version, be32 flags, be32 pages_alloc, be32 normal_pages, be32
 * next_packet_size, be64 packet_num, be32 zero_pages, 28 reserved bytes, the RAM block's name in
 * 256 bytes (NUL-terminated), then {@link #SLOTS} be64 offsets: the normal pages', then the zero
 * pages', the rest unused. The normal pages' contents follow the packet ({@code next_packet_size}
 * bytes; without compression one page after another in offset order).
 *
 * <p>QEMU 7.2 and 10.0 differ inside the same layout: 7.2 sends every page it finds zero on the
 * main channel, so its zero_pages word (then reserved) is always 0; 10.0 (zero-page-detection
 * multifd, its default) lists zero pages here. A packet with no pages carries whatever block name
 * and size its channel had before (7.2) or none (10.0): they mean nothing then.
 *
 * @param flags the flags word: {@link #SYNC}, the {@link MultifdCompression} bits
 * @param pagesAlloc how many offsets the sender could have put in (128, or 0 in 10.0's SYNC packets)
 * @param normal offsets of the pages whose contents follow
 * @param zero offsets of pages that are all zero (10.0)
 * @param nextPacketSize bytes of page data after the packet
 * @param packetNum the source's count of packets over all channels
 * @param ramBlock the block every offset is in; may be empty when there are no pages
 */
public record MultifdPacket(int flags, int pagesAlloc, long[] normal, long[] zero, int nextPacketSize,
                            long packetNum, String ramBlock) {
    /** MULTIFD_FLAG_SYNC: the source's multifd_send_sync_main; the channel waits for the main stream. */
    public static final int SYNC = 0x01;
    /** MULTIFD_FLAG_DEVICE_STATE (10.0): device state for VFIO instead of RAM; not loaded here. */
    public static final int DEVICE_STATE = 0x40;
    /** Offsets in every packet: MULTIFD_PACKET_SIZE (512 KiB) in target pages. */
    public static final int SLOTS = (512 * 1024) / TargetPage.SIZE;
    public static final int RAMBLOCK_BYTES = 256;
    /** Everything before the offsets. */
    public static final int HEADER_BYTES = 64 + RAMBLOCK_BYTES;
    public static final int BYTES = HEADER_BYTES + SLOTS * Long.BYTES;
    /** zero_pages' neighbour (unused32) and unused64[3]: written as zeros, ignored on reading. */
    private static final int RESERVED_BYTES = 4 + 3 * Long.BYTES;

    public MultifdPacket {
        Objects.requireNonNull(ramBlock, "ramBlock");
        normal = normal.clone();
        zero = zero.clone();
        if (pagesAlloc < 0 || pagesAlloc > SLOTS) {
            throw new IllegalArgumentException("pages_alloc " + pagesAlloc + " is not within 0.." + SLOTS);
        }
        if (normal.length + zero.length > pagesAlloc) {
            throw new IllegalArgumentException(normal.length + " normal and " + zero.length
                    + " zero pages do not fit pages_alloc " + pagesAlloc);
        }
        if (ramBlock.getBytes(StandardCharsets.UTF_8).length >= RAMBLOCK_BYTES) {
            throw new IllegalArgumentException("RAM block name longer than " + (RAMBLOCK_BYTES - 1) + " bytes");
        }
    }

    /** A packet of pages without compression, as QEMU's nocomp sends them. */
    public static MultifdPacket pages(String ramBlock, long[] normal, long[] zero, long packetNum) {
        return new MultifdPacket(MultifdCompression.NONE.code(), SLOTS, normal, zero,
                normal.length * TargetPage.SIZE, packetNum, ramBlock);
    }

    /** A SYNC packet with no pages, as QEMU 10.0 sends it. */
    public static MultifdPacket sync(long packetNum) {
        return new MultifdPacket(SYNC, 0, new long[0], new long[0], 0, packetNum, "");
    }

    @Override
    public long[] normal() {
        return normal.clone();
    }

    @Override
    public long[] zero() {
        return zero.clone();
    }

    public boolean isSync() {
        return (flags & SYNC) != 0;
    }

    /** The compression the flags name (read() has refused unknown bits). */
    public MultifdCompression compression() {
        return MultifdCompression.fromCode(flags & MultifdCompression.MASK).orElseThrow();
    }

    public int normalCount() {
        return normal.length;
    }

    public int zeroCount() {
        return zero.length;
    }

    /** The normal page at {@code index}: its offset in the block. */
    public long normalOffset(int index) {
        return normal[index];
    }

    public long zeroOffset(int index) {
        return zero[index];
    }

    /** Whether it carries any page at all (SYNC packets usually do not). */
    public boolean hasPages() {
        return normal.length + zero.length > 0;
    }

    /** Writes the packet itself; the page data that follows is the caller's. */
    public void write(MigrationOutput out) throws IOException {
        out.putBe32(MultifdInit.MAGIC);
        out.putBe32(MultifdInit.VERSION);
        out.putBe32(flags);
        out.putBe32(pagesAlloc);
        out.putBe32(normal.length);
        out.putBe32(nextPacketSize);
        out.putBe64(packetNum);
        out.putBe32(zero.length);
        out.putBytes(new byte[RESERVED_BYTES]);
        byte[] name = new byte[RAMBLOCK_BYTES];
        byte[] id = ramBlock.getBytes(StandardCharsets.UTF_8);
        System.arraycopy(id, 0, name, 0, id.length);
        out.putBytes(name);
        for (long offset : normal) {
            out.putBe64(offset);
        }
        for (long offset : zero) {
            out.putBe64(offset);
        }
        out.putBytes(new byte[(SLOTS - normal.length - zero.length) * Long.BYTES]);
    }

    /**
     * Reads one packet and checks what it claims before anything is allocated for it: magic,
     * version, flags, the page counts against pages_alloc and {@link #SLOTS}, page-aligned
     * offsets. Whether the block exists and holds the offsets is the loader's to check.
     */
    public static MultifdPacket read(MigrationInput in) throws IOException {
        long at = in.position();
        int magic = in.readBe32();
        if (magic != MultifdInit.MAGIC) {
            throw new StreamFormatException(String.format("multifd packet with magic 0x%08x, expected 0x%08x",
                    magic, MultifdInit.MAGIC), at);
        }
        int version = in.readBe32();
        if (version != MultifdInit.VERSION) {
            throw new StreamFormatException("multifd packet version " + Integer.toUnsignedString(version)
                    + ", expected " + MultifdInit.VERSION, at + 4);
        }
        int flags = in.readBe32();
        checkFlags(flags, at + 8);
        int pagesAlloc = in.readBe32();
        int normalCount = in.readBe32();
        int nextPacketSize = in.readBe32();
        long packetNum = in.readBe64();
        int zeroCount = in.readBe32();
        if (Integer.compareUnsigned(pagesAlloc, SLOTS) > 0) {
            throw new StreamFormatException("multifd packet with pages_alloc " + Integer.toUnsignedString(pagesAlloc)
                    + ", at most " + SLOTS, at + 12);
        }
        if (Integer.compareUnsigned(normalCount, pagesAlloc) > 0) {
            throw new StreamFormatException("multifd packet with " + Integer.toUnsignedString(normalCount)
                    + " normal pages, more than its pages_alloc " + pagesAlloc, at + 16);
        }
        if (Integer.compareUnsigned(zeroCount, pagesAlloc - normalCount) > 0) {
            throw new StreamFormatException("multifd packet with " + Integer.toUnsignedString(zeroCount)
                    + " zero pages besides " + normalCount + " normal ones, more than its pages_alloc " + pagesAlloc,
                    at + 32);
        }
        in.skip(RESERVED_BYTES);
        long nameAt = in.position();
        String ramBlock = blockName(in.readBytes(RAMBLOCK_BYTES));
        if (ramBlock.getBytes(StandardCharsets.UTF_8).length >= RAMBLOCK_BYTES) { // bytes that are not UTF-8 grew
            throw new StreamFormatException("multifd packet names RAM block " + StreamText.quote(ramBlock)
                    + ", whose 255 bytes are not UTF-8", nameAt);
        }
        long offsetsAt = in.position();
        long[] normal = new long[normalCount];
        long[] zero = new long[zeroCount];
        for (int i = 0; i < SLOTS; i++) {
            long offset = in.readBe64();
            if (i < normalCount + zeroCount && (offset & (TargetPage.SIZE - 1)) != 0) {
                throw new StreamFormatException(String.format("multifd packet offset 0x%x is not page aligned",
                        offset), offsetsAt + (long) i * Long.BYTES);
            }
            if (i < normalCount) {
                normal[i] = offset;
            } else if (i < normalCount + zeroCount) {
                zero[i - normalCount] = offset;
            }
        }
        if (normalCount + zeroCount > 0 && ramBlock.isEmpty()) {
            throw new StreamFormatException("multifd packet with pages names no RAM block", nameAt);
        }
        return new MultifdPacket(flags, pagesAlloc, normal, zero, nextPacketSize, packetNum, ramBlock);
    }

    private static void checkFlags(int flags, long at) throws StreamFormatException {
        if ((flags & DEVICE_STATE) != 0) {
            throw new StreamFormatException("multifd packet carries device state (MULTIFD_FLAG_DEVICE_STATE, "
                    + "QEMU's VFIO), which this receiver does not load", at);
        }
        int unknown = flags & ~(SYNC | MultifdCompression.MASK);
        if (unknown != 0) {
            throw new StreamFormatException(String.format("multifd packet with unknown flags 0x%x", unknown), at);
        }
        if (MultifdCompression.fromCode(flags & MultifdCompression.MASK).isEmpty()) {
            throw new StreamFormatException(String.format("multifd packet with unknown compression bits 0x%x",
                    flags & MultifdCompression.MASK), at);
        }
    }

    /** The name up to its NUL; QEMU ends it at byte 255 whatever was sent. */
    private static String blockName(byte[] field) {
        int end = 0;
        while (end < RAMBLOCK_BYTES - 1 && field[end] != 0) {
            end++;
        }
        return new String(field, 0, end, StandardCharsets.UTF_8);
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof MultifdPacket that && flags == that.flags && pagesAlloc == that.pagesAlloc
                && nextPacketSize == that.nextPacketSize && packetNum == that.packetNum
                && ramBlock.equals(that.ramBlock) && Arrays.equals(normal, that.normal) && Arrays.equals(zero, that.zero);
    }

    @Override
    public int hashCode() {
        return Objects.hash(flags, pagesAlloc, nextPacketSize, packetNum, ramBlock, Arrays.hashCode(normal),
                Arrays.hashCode(zero));
    }

    @Override
    public String toString() {
        return "MultifdPacket[#" + packetNum + (isSync() ? " SYNC" : "") + ", " + compression().qemuName() + ", block "
                + StreamText.quote(ramBlock) + ", " + normal.length + " normal, " + zero.length + " zero, next "
                + Integer.toUnsignedString(nextPacketSize) + "]";
    }
}
