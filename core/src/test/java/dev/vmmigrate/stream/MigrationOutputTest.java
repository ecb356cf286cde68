package dev.vmmigrate.stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.testing.Hex;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.channels.WritableByteChannel;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class MigrationOutputTest {
    @Test
    void writesBigEndianValuesAndCountsBytes() throws IOException {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        MigrationOutput out = MigrationOutput.to(sink);
        out.putU8(0xab);
        out.putBe16(0x0102);
        out.putBe32(0x5145564d);
        out.putBe64(0x1122334455667788L);
        out.putCountedString("ram");
        assertEquals(19, out.position());
        out.close();
        assertArrayEquals(Hex.bytes("ab 0102 5145564d 1122334455667788 03 72616d"), sink.toByteArray());
    }

    @Test
    void copiesLargeSegmentsAcrossBufferBoundaries() throws IOException {
        byte[] data = new byte[1_000_003];
        for (int i = 0; i < data.length; i++) {
            data[i] = (byte) (i * 31);
        }
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        MigrationOutput out = MigrationOutput.to(sink);
        out.putU8(7);
        out.putBytes(MemorySegment.ofArray(data), 0, data.length);
        out.close();
        byte[] written = sink.toByteArray();
        assertEquals(data.length + 1, written.length);
        assertEquals(7, written[0]);
        assertArrayEquals(data, java.util.Arrays.copyOfRange(written, 1, written.length));
    }

    @Test
    void firstErrorSticks() throws IOException {
        IOException broken = new IOException("peer went away");
        MigrationOutput out = new MigrationOutput(new WritableByteChannel() {
            @Override
            public int write(ByteBuffer src) throws IOException {
                throw broken;
            }

            @Override
            public boolean isOpen() {
                return true;
            }

            @Override
            public void close() {
            }
        }, () -> { });
        out.putBe64(1);
        assertSame(broken, assertThrows(IOException.class, out::flush));
        assertSame(broken, out.error());
        assertSame(broken, assertThrows(IOException.class, () -> out.putU8(1)));
        assertTrue(out.isRateLimited(), "a stream in error is rate limited, so loops stop sending");
    }

    @Test
    void rateLimitCountsBytesSinceReset() throws IOException {
        MigrationOutput out = MigrationOutput.to(new ByteArrayOutputStream());
        out.setRateLimit(100);
        out.resetRateLimit();
        out.putBytes(new byte[99]);
        assertFalse(out.isRateLimited());
        out.putU8(0);
        assertTrue(out.isRateLimited());
        out.resetRateLimit();
        assertFalse(out.isRateLimited());
        out.setRateLimit(Long.MAX_VALUE);
        out.putBytes(new byte[10_000]);
        assertFalse(out.isRateLimited());
    }

    @Test
    void shutdownUnblocksAWriterStuckOnAFullPipe() throws Exception {
        Pipe pipe = Pipe.open();
        MigrationOutput out = new MigrationOutput(pipe.sink(), () -> {
            try {
                pipe.sink().close();
            } catch (IOException ignored) {
                // shutting down: nothing to report
            }
        });
        CompletableFuture<Throwable> writer = CompletableFuture.supplyAsync(() -> {
            try {
                while (true) {
                    out.putBytes(new byte[64 * 1024]);
                    out.flush();
                }
            } catch (IOException e) {
                return e;
            }
        });
        Thread.sleep(200);
        assertFalse(writer.isDone(), "nobody reads the pipe, so the writer must be blocked");
        out.shutdown();
        Throwable failure = writer.get(5, TimeUnit.SECONDS);
        assertTrue(failure.getMessage().contains("shut down"), failure.getMessage());
        assertThrows(IOException.class, () -> out.putU8(1));
    }
    /**
     * A gathering channel into memory that takes at most {@code step} bytes a call, splitting
     * buffers anywhere: the partial writes a full socket gives.
     */
    private static final class TrickleChannel implements java.nio.channels.GatheringByteChannel {
        final ByteArrayOutputStream sink = new ByteArrayOutputStream();
        final int step;
        int gatheringCalls;

        TrickleChannel(int step) {
            this.step = step;
        }

        @Override
        public long write(ByteBuffer[] srcs, int offset, int length) {
            gatheringCalls++;
            long written = 0;
            for (int i = offset; i < offset + length && written < step; i++) {
                written += write(srcs[i], (int) (step - written));
            }
            return written;
        }

        @Override
        public long write(ByteBuffer[] srcs) {
            return write(srcs, 0, srcs.length);
        }

        @Override
        public int write(ByteBuffer src) {
            return write(src, step);
        }

        private int write(ByteBuffer src, int max) {
            int n = Math.min(max, src.remaining());
            byte[] bytes = new byte[n];
            src.get(bytes);
            sink.write(bytes, 0, n);
            return n;
        }

        @Override
        public boolean isOpen() {
            return true;
        }

        @Override
        public void close() {
        }
    }

    @Test
    void referencedBytesGoOutInOrderWithTheBufferedOnesThroughPartialGatheringWrites() throws IOException {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment guest = arena.allocate(300 * TargetPage.SIZE);
            for (long i = 0; i < guest.byteSize(); i++) {
                guest.set(java.lang.foreign.ValueLayout.JAVA_BYTE, i, (byte) (i * 7 + i / TargetPage.SIZE));
            }
            TrickleChannel channel = new TrickleChannel(5000);
            MigrationOutput out = new MigrationOutput(channel, () -> { });
            ByteArrayOutputStream expected = new ByteArrayOutputStream();
            for (int page = 0; page < 300; page++) { // more pages than one gathering write takes
                out.putBe64(page * TargetPage.SIZE | 0x08);
                expected.writeBytes(ByteBuffer.allocate(8).putLong(page * TargetPage.SIZE | 0x08).array());
                if (page % 3 == 0) {
                    out.putU8(page & 0xff); // bytes between references, not always
                    expected.write(page & 0xff);
                }
                out.putReferenced(guest, page * TargetPage.SIZE, TargetPage.SIZE);
                expected.writeBytes(guest.asSlice(page * TargetPage.SIZE, TargetPage.SIZE)
                        .toArray(java.lang.foreign.ValueLayout.JAVA_BYTE));
                assertEquals(expected.size(), out.position(), "position counts referenced bytes");
            }
            out.putBe64(0x10); // a tail after the last reference
            expected.writeBytes(ByteBuffer.allocate(8).putLong(0x10).array());
            out.close();
            assertArrayEquals(expected.toByteArray(), channel.sink.toByteArray());
            assertTrue(channel.gatheringCalls > 0, "the pages went out by gathering writes");
        }
    }

    @Test
    void referencedBytesAreReadAtTheFlushNotWhenPut() throws IOException {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment page = arena.allocate(TargetPage.SIZE);
            TrickleChannel channel = new TrickleChannel(1 << 20);
            MigrationOutput out = new MigrationOutput(channel, () -> { });
            out.putReferenced(page, 0, TargetPage.SIZE);
            page.set(java.lang.foreign.ValueLayout.JAVA_BYTE, 100, (byte) 0x5a); // the guest writes on
            out.flush();
            assertEquals(0x5a, channel.sink.toByteArray()[100]);
        }
    }

    @Test
    void aChannelThatCannotGatherGetsACopy() throws IOException {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        MigrationOutput out = MigrationOutput.to(sink);
        byte[] data = {1, 2, 3, 4};
        MemorySegment source = MemorySegment.ofArray(data);
        out.putReferenced(source, 1, 2);
        data[1] = 9; // a copy was taken when put
        out.close();
        assertArrayEquals(new byte[] {2, 3}, sink.toByteArray());
    }
}
