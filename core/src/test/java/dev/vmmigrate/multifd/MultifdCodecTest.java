package dev.vmmigrate.multifd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.ram.CapturedStreams;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.Hex;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The zstd and zlib codecs of multifd channels: real QEMU 7.2 and 10.0 channels
 * (qemu-streams/multifd/qemu-*-zstd, -zlib: 2 MiB block "mem", P = 400, M = 450, each channel 0
 * with two or three compressed packets in one stream) decoded page for page, our encoder through
 * our decoder over several packets, and payloads that are cut, corrupt or longer than their pages.
 */
class MultifdCodecTest {
    private static final byte[] EXPECTED = CapturedStreams.generatedRam(2L << 20, 400, 450);
    /** The first bytes of channel 0's first payload, 7.2 and 10.0 alike: zstd's frame magic (28 b5 2f fd), then its header. */
    private static final String ZSTD_FIRST_PAYLOAD_HEAD = "28b52ffd0048640c0074100001020304";
    /** The second payload goes on in the same frame: a block header, no magic. */
    private static final String ZSTD_SECOND_PAYLOAD_HEAD = "1c0400004f680021c7df10dd12984cc0";
    /** zlib's header (78 01: deflate, level 1) starts the first payload only. */
    private static final String ZLIB_FIRST_PAYLOAD_HEAD = "7801ecdd731f9e751f87f1d946db9aed";
    private static final String ZLIB_SECOND_PAYLOAD_HEAD = "ecdd731bd8651c46f1d9f6d6dcecad55";

    /** One packet with pages of a capture and its payload. */
    record Compressed(MultifdPacket packet, byte[] payload) {
    }

    @ParameterizedTest
    @ValueSource(strings = {"qemu-7.2-zstd", "qemu-10.0-zstd", "qemu-7.2-zlib", "qemu-10.0-zlib"})
    void decodesQemusChannelsPageForPage(String capture) throws Exception {
        MultifdCompression method = capture.endsWith("zstd") ? MultifdCompression.ZSTD : MultifdCompression.ZLIB;
        int pages = 0;
        for (int channel = 0; channel < 2; channel++) {
            try (MultifdCodec codec = MultifdCodec.of(method)) { // one stream per channel, across its packets
                for (Compressed c : compressed(capture, channel)) {
                    assertEquals(method, c.packet().compression(), c.packet().toString());
                    MemorySegment decoded = codec.decode(ByteBuffer.wrap(c.payload()), c.packet().normalCount());
                    assertEquals((long) c.packet().normalCount() * TargetPage.SIZE, decoded.byteSize());
                    for (int i = 0; i < c.packet().normalCount(); i++) {
                        int offset = (int) c.packet().normalOffset(i);
                        assertArrayEquals(Arrays.copyOfRange(EXPECTED, offset, offset + TargetPage.SIZE),
                                decoded.asSlice((long) i * TargetPage.SIZE, TargetPage.SIZE).toArray(ValueLayout.JAVA_BYTE),
                                capture + " " + c.packet() + " page " + i);
                        pages++;
                    }
                }
            }
        }
        assertEquals(401, pages, "every page that is not zero: the 400 patterned ones and the marked one");
    }

    @Test
    void goldenBytesOfQemusPayloads() throws Exception {
        for (String capture : List.of("qemu-7.2-zstd", "qemu-10.0-zstd")) {
            List<Compressed> packets = compressed(capture, 0);
            assertArrayEquals(Hex.bytes(ZSTD_FIRST_PAYLOAD_HEAD), Arrays.copyOf(packets.get(0).payload(), 16), capture);
            assertArrayEquals(Hex.bytes(ZSTD_SECOND_PAYLOAD_HEAD), Arrays.copyOf(packets.get(1).payload(), 16), capture);
            assertEquals(List.of(810, 592), packets.stream().limit(2).map(c -> c.payload().length).toList(), capture);
        }
        for (String capture : List.of("qemu-7.2-zlib", "qemu-10.0-zlib")) {
            List<Compressed> packets = compressed(capture, 0);
            assertArrayEquals(Hex.bytes(ZLIB_FIRST_PAYLOAD_HEAD), Arrays.copyOf(packets.get(0).payload(), 16), capture);
            assertArrayEquals(Hex.bytes(ZLIB_SECOND_PAYLOAD_HEAD), Arrays.copyOf(packets.get(1).payload(), 16), capture);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qemu-10.0-zstd", "qemu-10.0-zlib"})
    void aPacketTakenOutOfItsChannelsStreamDoesNotDecode(String capture) throws Exception {
        Compressed second = compressed(capture, 0).get(1);
        MultifdCompression method = capture.endsWith("zstd") ? MultifdCompression.ZSTD : MultifdCompression.ZLIB;
        try (MultifdCodec fresh = MultifdCodec.of(method)) {
            assertThrows(MultifdCodec.BadPayloadException.class,
                    () -> fresh.decode(ByteBuffer.wrap(second.payload()), second.packet().normalCount()));
        }
    }

    /** The pages of each packet the round trip sends: full ones, one backwards, a repeat of the previous one's end, one page. */
    private static final int[][] PACKET_PAGES = {range(0, 128), reversed(range(768, 896)), range(256, 384), range(380, 384),
        range(128, 256), {1000}};

    @ParameterizedTest
    @EnumSource(value = MultifdCompression.class, names = {"ZSTD", "ZLIB"})
    void ourEncoderThroughOurDecoderOverSeveralPackets(MultifdCompression method) throws Exception {
        MemorySegment block = MemorySegment.ofArray(ram(1024));
        try (MultifdCodec encoder = MultifdCodec.of(method); MultifdCodec decoder = MultifdCodec.of(method)) {
            List<Integer> sizes = new ArrayList<>();
            for (int packet = 0; packet < PACKET_PAGES.length; packet++) {
                long[] offsets = Arrays.stream(PACKET_PAGES[packet]).mapToLong(page -> (long) page * TargetPage.SIZE).toArray();
                MemorySegment payload = encoder.encode(block, offsets);
                assertTrue(payload.byteSize() <= MultifdCodec.MAX_PAYLOAD);
                sizes.add((int) payload.byteSize());
                MemorySegment pages = decoder.decode(payload.asByteBuffer(), offsets.length);
                for (int i = 0; i < offsets.length; i++) {
                    assertEquals(-1, block.asSlice(offsets[i], TargetPage.SIZE)
                            .mismatch(pages.asSlice((long) i * TargetPage.SIZE, TargetPage.SIZE)), "packet " + packet + " page " + i);
                }
            }
            assertTrue(sizes.get(3) < 512, "packet 3 repeats the end of packet 2 (a random page among them): the "
                    + "stream's history makes it cheap: " + sizes);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qemu-7.2-zstd", "qemu-7.2-zlib"})
    void cutCorruptAndOverlongPayloadsAreRefused(String capture) throws Exception {
        MultifdCompression method = capture.endsWith("zstd") ? MultifdCompression.ZSTD : MultifdCompression.ZLIB;
        List<Compressed> packets = compressed(capture, 0);
        byte[] first = packets.get(0).payload();
        byte[] cut = Arrays.copyOf(first, first.length - 40);
        assertTrue(refusal(method, cut, 128).matches("its " + cut.length + " bytes (decompress to \\d+ bytes, fewer than "
                + "its 128 pages|fail at page \\d+ of 128: .*)"), refusal(method, cut, 128));

        byte[] corrupt = first.clone();
        for (int i = 20; i < corrupt.length; i += 7) {
            corrupt[i] ^= (byte) 0x5a;
        }
        assertTrue(refusal(method, corrupt, 128).startsWith("its " + corrupt.length + " bytes "), refusal(method, corrupt, 128));

        assertEquals("its " + first.length + " bytes decompress to more than its 127 pages", refusal(method, first, 127));

        byte[] twoPackets = Arrays.copyOf(first, first.length + packets.get(1).payload().length);
        System.arraycopy(packets.get(1).payload(), 0, twoPackets, first.length, packets.get(1).payload().length);
        assertTrue(refusal(method, twoPackets, 128).startsWith("its " + twoPackets.length + " bytes decompress to more "
                + "than its 128 pages"), refusal(method, twoPackets, 128));

        assertThrows(IllegalArgumentException.class, () -> MultifdCodec.of(method).decode(
                ByteBuffer.allocate(MultifdCodec.MAX_PAYLOAD + 1), 1));
    }

    @Test
    void onlyZlibAndZstdHaveACodec() {
        assertEquals(List.of(MultifdCompression.ZLIB, MultifdCompression.ZSTD),
                Arrays.stream(MultifdCompression.values()).filter(MultifdCodec::loads).toList());
        assertThrows(IllegalArgumentException.class, () -> MultifdCodec.of(MultifdCompression.QPL));
    }

    private static int[] range(int from, int to) {
        return java.util.stream.IntStream.range(from, to).toArray();
    }

    private static int[] reversed(int[] pages) {
        return java.util.stream.IntStream.range(0, pages.length).map(i -> pages[pages.length - 1 - i]).toArray();
    }

    private static String refusal(MultifdCompression method, byte[] payload, int pages) {
        try (MultifdCodec codec = MultifdCodec.of(method)) {
            return assertThrows(MultifdCodec.BadPayloadException.class,
                    () -> codec.decode(ByteBuffer.wrap(payload), pages)).getMessage();
        }
    }

    /** RAM of {@code pages} pages: random ones, patterned ones and zero ones by turns. */
    private static byte[] ram(int pages) {
        byte[] ram = new byte[pages * TargetPage.SIZE];
        Random random = new Random(20261202);
        for (int page = 0; page < pages; page++) {
            int kind = page % 3;
            for (int j = 0; j < TargetPage.SIZE && kind < 2; j++) {
                ram[page * TargetPage.SIZE + j] = kind == 0 ? (byte) random.nextInt() : (byte) (page * 7 + j);
            }
        }
        return ram;
    }

    /** The packets with normal pages on channel {@code id} of a capture, with their payloads. */
    static List<Compressed> compressed(String capture, int id) throws Exception {
        MigrationInput in = MigrationInput.of(CapturedStreams.multifdChannel(capture, id));
        MultifdInit.read(in);
        List<Compressed> packets = new ArrayList<>();
        while (!in.atEnd()) {
            MultifdPacket packet = MultifdPacket.read(in);
            if (packet.normalCount() > 0) { // 7.2 leaves a stale next_packet_size on packets without pages
                packets.add(new Compressed(packet, in.readBytes(packet.nextPacketSize())));
            }
        }
        return packets;
    }
}
