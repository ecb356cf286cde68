package dev.vmmigrate.multifd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;
import org.junit.jupiter.api.Test;

class MultifdPacketTest {
    /**
     * The first 80 bytes of QEMU 10.0's packet #2 on channel 0 (qemu-streams/multifd/qemu-10.0):
     * flags 0, pages_alloc 128, 40 normal pages, next_packet_size 163840, packet_num 2, 88 zero
     * pages, 28 reserved bytes, then block "mem".
     */
    static final String QEMU10_PAGES_HEAD = "11223344 00000001 00000000 00000080 00000028 00028000 0000000000000002"
            + " 00000058 00000000 000000000000000000000000000000000000000000000000 6d656d00 000000000000000000000000";

    @Test
    void goldenBytesOfAQemu10PacketWithZeroPages() throws Exception {
        long[] normal = new long[40];
        long[] zero = new long[88];
        for (int i = 0; i < 40; i++) {
            normal[i] = i * 4096L;
        }
        for (int i = 0; i < 88; i++) {
            zero[i] = (40 + i) * 4096L;
        }
        MultifdPacket packet = MultifdPacket.pages("mem", normal, zero, 2);
        byte[] bytes = encode(packet);
        assertEquals(MultifdPacket.BYTES, bytes.length);
        assertArrayEquals(Hex.bytes(QEMU10_PAGES_HEAD), Arrays.copyOf(bytes, 80));
        ByteBuffer offsets = ByteBuffer.wrap(bytes, MultifdPacket.HEADER_BYTES, MultifdPacket.SLOTS * 8);
        for (int i = 0; i < MultifdPacket.SLOTS; i++) {
            assertEquals(i * 4096L, offsets.getLong(), "slot " + i);
        }
        MultifdPacket back = MultifdPacket.read(MigrationInput.of(bytes));
        assertEquals(packet, back);
        assertEquals(MultifdCompression.NONE, back.compression());
        assertFalse(back.isSync());
        assertEquals(163840, back.nextPacketSize());
    }

    @Test
    void qemu10SyncPacketHasNoPages() throws Exception {
        byte[] bytes = encode(MultifdPacket.sync(9));
        assertArrayEquals(Hex.bytes("11223344 00000001 00000001 00000000 00000000 00000000 0000000000000009"),
                Arrays.copyOf(bytes, 32));
        MultifdPacket back = MultifdPacket.read(MigrationInput.of(bytes));
        assertTrue(back.isSync());
        assertFalse(back.hasPages());
        assertEquals(9, back.packetNum());
        assertEquals("", back.ramBlock());
    }

    /** 7.2's SYNC packets keep the size, block and offsets of the packet before: they mean nothing. */
    @Test
    void qemu72SyncPacketWithLeftoversHasNoPages() throws Exception {
        byte[] bytes = encode(new MultifdPacket(MultifdPacket.SYNC, 128, new long[0], new long[0], 167936, 3, "mem"));
        ByteBuffer.wrap(bytes).putLong(MultifdPacket.HEADER_BYTES, 0x12345); // a stale, unaligned offset
        MultifdPacket back = MultifdPacket.read(MigrationInput.of(bytes));
        assertTrue(back.isSync());
        assertFalse(back.hasPages());
        assertEquals("mem", back.ramBlock());
    }

    @Test
    void claimsAreCheckedBeforeAnythingIsAllocated() throws Exception {
        byte[] good = encode(MultifdPacket.pages("mem", new long[] {0, 4096}, new long[] {8192}, 1));
        assertRefused(with(good, 12, 129), "pages_alloc 129, at most 128 at offset 12");
        assertRefused(with(with(good, 12, 1), 16, 2), "2 normal pages, more than its pages_alloc 1 at offset 16");
        assertRefused(with(good, 32, 127), "127 zero pages besides 2 normal ones, more than its pages_alloc 128 at offset 32");
        assertRefused(with(good, 16, -1), "4294967295 normal pages");
        assertRefused(with(good, 8, 0x80), "unknown flags 0x80 at offset 8");
        assertRefused(with(good, 8, MultifdPacket.DEVICE_STATE), "device state (MULTIFD_FLAG_DEVICE_STATE");
        assertRefused(with(good, 8, 0x0c), "unknown compression bits 0xc at offset 8");
        assertRefused(with(good, 0, 0x5145564d), "magic 0x5145564d, expected 0x11223344 at offset 0");
        assertRefused(with(good, 4, 2), "version 2, expected 1 at offset 4");
        byte[] unaligned = good.clone();
        ByteBuffer.wrap(unaligned).putLong(MultifdPacket.HEADER_BYTES + 8, 4097);
        assertRefused(unaligned, "offset 0x1001 is not page aligned at offset " + (MultifdPacket.HEADER_BYTES + 8));
        byte[] nameless = good.clone();
        nameless[64] = 0;
        assertRefused(nameless, "names no RAM block at offset 64");
    }

    @Test
    void compressionIsReadFromTheFlags() throws Exception {
        byte[] zstd = with(encode(MultifdPacket.sync(1)), 8, MultifdCompression.ZSTD.code() | MultifdPacket.SYNC);
        MultifdPacket packet = MultifdPacket.read(MigrationInput.of(zstd));
        assertEquals(MultifdCompression.ZSTD, packet.compression());
        assertTrue(packet.isSync());
        for (MultifdCompression method : MultifdCompression.values()) {
            assertEquals(method, MultifdCompression.fromCode(method.code()).orElseThrow());
        }
        assertTrue(MultifdCompression.fromCode(0x06).isEmpty());
    }

    @Test
    void aNameOf255BytesIsTheLongest() throws Exception {
        String longest = "b".repeat(255);
        assertEquals(longest, MultifdPacket.read(MigrationInput.of(encode(
                MultifdPacket.pages(longest, new long[] {0}, new long[0], 0)))).ramBlock());
        assertThrows(IllegalArgumentException.class,
                () -> MultifdPacket.pages("b".repeat(256), new long[] {0}, new long[0], 0));
        byte[] unterminated = encode(MultifdPacket.pages(longest, new long[] {0}, new long[0], 0));
        unterminated[64 + 255] = 'c'; // QEMU ends the name at byte 255 whatever was sent
        assertEquals(longest, MultifdPacket.read(MigrationInput.of(unterminated)).ramBlock());
        byte[] notUtf8 = unterminated.clone();
        Arrays.fill(notUtf8, 64, 64 + 255, (byte) 0xff); // each decodes to U+FFFD, three bytes: found by the fuzzer
        assertRefused(notUtf8, ", whose 255 bytes are not UTF-8 at offset 64");
    }

    /**
     * Every packet QEMU 7.2 and 10.0 sent in the captures decodes and encodes back to the same
     * bytes, up to its last used offset (7.2 leaves the slots after it as the packet before had them).
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"qemu-7.2/channel0.bin", "qemu-7.2/channel1.bin",
        "qemu-10.0/channel0.bin", "qemu-10.0/channel1.bin"})
    void capturedPacketsEncodeBackToTheirBytes(String file) throws Exception {
        byte[] channel = dev.vmmigrate.ram.CapturedStreams.bytes("multifd/" + file);
        MigrationInput in = MigrationInput.of(channel);
        MultifdInit init = MultifdInit.read(in);
        assertArrayEquals(Arrays.copyOf(channel, MultifdInit.BYTES), MultifdInitTest.encode(init));
        int packets = 0;
        int syncs = 0;
        while (!in.atEnd()) {
            int at = (int) in.position();
            MultifdPacket packet = MultifdPacket.read(in);
            int used = MultifdPacket.HEADER_BYTES + 8 * (packet.normalCount() + packet.zeroCount());
            assertArrayEquals(Arrays.copyOfRange(channel, at, at + used), Arrays.copyOf(encode(packet), used),
                    "packet at " + at);
            in.skip(packet.hasPages() ? packet.nextPacketSize() : 0);
            packets++;
            syncs += packet.isSync() ? 1 : 0;
        }
        assertEquals(3, syncs, "setup, one iteration and the completion each sync once");
        assertTrue(packets >= 3);
    }

    @Test
    void truncatedPacketFailsCleanly() throws Exception {
        byte[] whole = encode(MultifdPacket.pages("mem", new long[] {0, 4096}, new long[] {8192}, 1));
        Truncation.assertFailsCleanlyWhenCut(whole, MultifdPacket::read);
        for (int cut : new int[] {4, 11, 12, 35, 64, 319, 320, 1000}) {
            byte[] part = Arrays.copyOf(whole, cut);
            assertThrows(StreamFormatException.class, () -> MultifdPacket.read(MigrationInput.of(part)), "cut at " + cut);
        }
    }

    private static void assertRefused(byte[] bytes, String expected) {
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> MultifdPacket.read(MigrationInput.of(bytes)));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
    }

    private static byte[] with(byte[] bytes, int at, int be32) {
        byte[] copy = bytes.clone();
        ByteBuffer.wrap(copy).putInt(at, be32);
        return copy;
    }

    static byte[] encode(MultifdPacket packet) throws Exception {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(sink)) {
            packet.write(out);
        }
        return sink.toByteArray();
    }
}
