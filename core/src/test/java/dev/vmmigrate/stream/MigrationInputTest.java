package dev.vmmigrate.stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.testing.Hex;
import dev.vmmigrate.testing.Truncation;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.ScatteringByteChannel;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(30)
class MigrationInputTest {
    private static final byte[] VALUES = Hex.bytes("ab 0102 5145564d 1122334455667788 03 72616d");

    private static void readAll(MigrationInput in) throws IOException {
        assertEquals(0xab, in.readU8());
        assertEquals(0x0102, in.readBe16());
        assertEquals(0x5145564d, in.readBe32());
        assertEquals(0x1122334455667788L, in.readBe64());
        assertEquals("ram", in.readCountedString());
    }

    @Test
    void readsBigEndianValuesAndTracksPosition() throws IOException {
        MigrationInput in = MigrationInput.of(VALUES);
        assertEquals(0xab, in.peekU8());
        readAll(in);
        assertEquals(VALUES.length, in.position());
        assertTrue(in.atEnd());
        assertEquals(-1, in.peekU8());
    }

    @Test
    void truncatedValuesFailWithTheirOffset() {
        Truncation.assertFailsCleanlyWhenCut(VALUES, MigrationInputTest::readAll);
        StreamFormatException e = assertThrows(StreamFormatException.class,
                () -> MigrationInput.of(Hex.bytes("00 01 02")).readBe32());
        assertEquals(0, e.offset());
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }

    @Test
    void readsIntoSegmentsAcrossBufferRefills() throws IOException {
        byte[] data = new byte[700_001];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 13 + 1);
        }
        MigrationInput in = MigrationInput.of(data);
        in.skip(1);
        byte[] target = new byte[data.length - 1];
        in.readInto(MemorySegment.ofArray(target), 0, target.length);
        assertArrayEquals(java.util.Arrays.copyOfRange(data, 1, data.length), target);
        assertEquals(data.length, in.position());
        StreamFormatException e = assertThrows(StreamFormatException.class, () -> in.skip(1));
        assertEquals(data.length, e.offset());
    }

    /** A channel that hands out {@code data} in reads of the given sizes, in turn, then ends or fails. */
    private static class PiecewiseChannel implements ReadableByteChannel {
        private final byte[] data;
        private final int[] sizes;
        private final IOException failure;
        private int offset;
        private int turn;
        private boolean open = true;

        PiecewiseChannel(byte[] data, IOException failure, int... sizes) {
            this.data = data;
            this.sizes = sizes;
            this.failure = failure;
        }

        @Override
        public int read(ByteBuffer dst) throws IOException {
            if (offset == data.length) {
                if (failure != null) {
                    throw failure;
                }
                return -1;
            }
            int n = Math.min(Math.min(sizes[turn++ % sizes.length], dst.remaining()), data.length - offset);
            dst.put(data, offset, n);
            offset += n;
            return n;
        }

        @Override
        public boolean isOpen() {
            return open;
        }

        @Override
        public void close() {
            open = false;
        }
    }

    /** A {@link PiecewiseChannel} that also scatters, each read across as many targets as its size reaches. */
    private static final class ScatteringPiecewiseChannel extends PiecewiseChannel implements ScatteringByteChannel {
        long scatteredBytes;

        ScatteringPiecewiseChannel(byte[] data, int... sizes) {
            super(data, null, sizes);
        }

        @Override
        public long read(ByteBuffer[] dsts, int offset, int length) throws IOException {
            long total = 0;
            for (int i = offset; i < offset + length; i++) {
                if (!dsts[i].hasRemaining()) {
                    continue;
                }
                int n = read(dsts[i]);
                if (n < 0) {
                    return total > 0 ? total : -1;
                }
                total += n;
                if (dsts[i].hasRemaining()) {
                    break; // this turn's size ran out
                }
            }
            scatteredBytes += total;
            return total;
        }

        @Override
        public long read(ByteBuffer[] dsts) throws IOException {
            return read(dsts, 0, dsts.length);
        }
    }

    private static ByteBuffer[] pageTargets(int... sizes) {
        return Arrays.stream(sizes).mapToObj(ByteBuffer::allocateDirect).toArray(ByteBuffer[]::new);
    }

    private static void assertTargetsHold(byte[] data, int from, ByteBuffer[] targets) {
        int at = from;
        for (ByteBuffer target : targets) {
            assertEquals(target.limit(), target.position(), "a target is filled to its limit");
            byte[] got = new byte[target.limit()];
            target.get(0, got);
            assertArrayEquals(Arrays.copyOfRange(data, at, at + got.length), got);
            at += got.length;
        }
    }

    @Test
    void readFullyOnTheCallersThreadReadsPastTheBufferStraightIntoItsTargets() throws IOException {
        byte[] data = pattern(64 + 4096 + 8192 + 100);
        ScatteringPiecewiseChannel channel = new ScatteringPiecewiseChannel(data, 1000, 3000, 7, 5000);
        try (MigrationInput in = MigrationInput.readOnCallerThread(channel, 64)) {
            assertArrayEquals(Arrays.copyOf(data, 64), in.readBytes(64)); // a "header" of one read step
            ByteBuffer[] targets = pageTargets(4096, 8192, 100);
            in.readFully(targets);
            assertTargetsHold(data, 64, targets);
            assertEquals(4096 + 8192 + 100, channel.scatteredBytes, "no byte of the targets went through the buffer");
            assertEquals(data.length, in.position());
            assertTrue(in.atEnd());
        }
    }

    @Test
    void readFullyTakesBufferedBytesFirstAndWorksOverAnyChannel() throws IOException {
        byte[] data = pattern(10 + 4096 + 4096 + 3);
        for (boolean readAhead : new boolean[] {true, false}) {
            PiecewiseChannel channel = new PiecewiseChannel(data, null, 3000, 1, 4000);
            try (MigrationInput in = readAhead ? new MigrationInput(channel) : MigrationInput.readOnCallerThread(channel, 5000)) {
                assertEquals(pattern(1)[0], (byte) in.readU8()); // leaves buffered bytes behind
                in.skip(9);
                ByteBuffer[] targets = pageTargets(4096, 0, 4096, 3);
                in.readFully(targets);
                assertTargetsHold(data, 10, targets);
                assertEquals(data.length, in.position());
                assertTrue(in.atEnd());
            }
        }
    }

    @Test
    void readFullyCutShortNamesTheOffsetWhereItsReadBegan() throws IOException {
        byte[] data = pattern(64 + 4096 + 10);
        for (ReadableByteChannel channel : new ReadableByteChannel[] {
                new ScatteringPiecewiseChannel(data, 700), new PiecewiseChannel(data, null, 700)}) {
            try (MigrationInput in = MigrationInput.readOnCallerThread(channel, 64)) {
                in.skip(64);
                StreamFormatException e = assertThrows(StreamFormatException.class,
                        () -> in.readFully(pageTargets(4096, 4096)));
                assertEquals(64, e.offset(), channel.getClass().getSimpleName());
                assertTrue(e.getMessage().contains("8192-byte read"), e.getMessage());
            }
        }
    }

    private static byte[] pattern(int length) {
        byte[] data = new byte[length];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 31 + 7);
        }
        return data;
    }

    @Test
    void valuesSplitOverManySmallReadsArriveWholeFromAChannel() throws IOException {
        byte[] data = new byte[VALUES.length * 200];
        for (int i = 0; i < 200; i++) {
            System.arraycopy(VALUES, 0, data, i * VALUES.length, VALUES.length);
        }
        try (MigrationInput in = new MigrationInput(new PiecewiseChannel(data, null, 1, 3, 2, 7, 5))) {
            for (int i = 0; i < 200; i++) {
                readAll(in);
                assertEquals((long) (i + 1) * VALUES.length, in.position());
            }
            assertTrue(in.atEnd());
        }
    }

    @Test
    void readIntoSpansSeveralChunksOfAChannel() throws IOException {
        byte[] data = pattern(5_000_003);
        try (MigrationInput in = new MigrationInput(new PiecewiseChannel(data, null, 1 << 20, 3, 70_000))) {
            assertEquals(data[0] & 0xff, in.readU8());
            byte[] target = new byte[data.length - 1];
            in.readInto(MemorySegment.ofArray(target), 0, target.length);
            assertArrayEquals(Arrays.copyOfRange(data, 1, data.length), target);
            StreamFormatException e = assertThrows(StreamFormatException.class, () -> in.readBe64());
            assertEquals(data.length, e.offset());
        }
    }

    @Test
    void peekGathersWhatItAsksForOverManyReadsWithoutConsumingIt() throws IOException {
        int wanted = 64 * 1024; // what a receiver peeks at to learn the RAM layout
        byte[] data = pattern(3 * wanted);
        try (MigrationInput in = new MigrationInput(new PiecewiseChannel(data, null, 1000, 1))) {
            in.skip(5);
            assertArrayEquals(Arrays.copyOfRange(data, 5, 5 + wanted), in.peekBytes(wanted));
            assertEquals(5, in.position());
            assertEquals(data[5] & 0xff, in.readU8());
        }
    }

    @Test
    void truncationThroughAChannelNamesTheOffsetOfTheCutValue() throws IOException {
        try (MigrationInput in = new MigrationInput(new PiecewiseChannel(Hex.bytes("01 02 03 04 05"), null, 2))) {
            assertEquals(0x01, in.readU8());
            StreamFormatException e = assertThrows(StreamFormatException.class, in::readBe64);
            assertEquals(1, e.offset());
        }
    }

    @Test
    void aFailedReadReachesTheReaderAsItsOwnException() throws IOException {
        IOException reset = new IOException("Connection reset by peer");
        try (MigrationInput in = new MigrationInput(new PiecewiseChannel(Hex.bytes("0102"), reset, 1))) {
            assertEquals(0x0102, in.readBe16());
            IOException e = assertThrows(IOException.class, in::readU8);
            assertSame(reset, e);
        }
    }
}
