package dev.vmmigrate.transport;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.ByteArrayOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.concurrent.Future;
import java.util.concurrent.FutureTask;

/** Test helpers: pseudo-random payloads and channel copies that exercise every buffer kind. */
final class Streams {
    private Streams() {}

    static final int PAYLOAD = 4 * 1024 * 1024;

    static byte[] random(int size, long seed) {
        byte[] bytes = new byte[size];
        new SplittableRandom(seed).nextBytes(bytes);
        return bytes;
    }

    /**
     * Writes {@code data} in chunks of odd sizes, alternating heap buffers with a non-zero
     * array offset and direct buffers, since transports copy the two differently.
     */
    static void writeAll(WritableByteChannel out, byte[] data) throws IOException {
        int[] sizes = {1, 7, 4096, 65_536, 100_003, 300_000};
        ByteBuffer direct = ByteBuffer.allocateDirect(300_000);
        int position = 0;
        for (int i = 0; position < data.length; i++) {
            int n = Math.min(sizes[i % sizes.length], data.length - position);
            ByteBuffer buffer;
            if (i % 2 == 0) {
                buffer = ByteBuffer.wrap(data).slice(position, n);
            } else {
                direct.clear();
                direct.put(data, position, n).flip();
                buffer = direct;
            }
            while (buffer.hasRemaining()) out.write(buffer);
            position += n;
        }
    }

    /** Reads to end of stream, alternating heap and direct buffers. */
    static byte[] readAll(ReadableByteChannel in) throws IOException {
        ByteArrayOutputStream all = new ByteArrayOutputStream();
        ByteBuffer heap = ByteBuffer.allocate(50_000);
        ByteBuffer direct = ByteBuffer.allocateDirect(131_072);
        for (int i = 0; ; i++) {
            ByteBuffer buffer = i % 2 == 0 ? heap : direct;
            buffer.clear();
            int n = in.read(buffer);
            if (n < 0) return all.toByteArray();
            buffer.flip();
            byte[] chunk = new byte[buffer.remaining()];
            buffer.get(chunk);
            all.write(chunk);
        }
    }

    /** Reads exactly {@code size} bytes (for connections that stay open afterwards). */
    static byte[] readExactly(ReadableByteChannel in, int size) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(size);
        while (buffer.hasRemaining()) {
            if (in.read(buffer) < 0) throw new EOFException("end of stream after " + buffer.position() + " of " + size + " bytes");
        }
        return buffer.array();
    }

    static void assertSameBytes(byte[] expected, byte[] actual) {
        int mismatch = Arrays.mismatch(expected, actual);
        if (mismatch >= 0) {
            fail("streams differ at offset " + mismatch + " (sent " + expected.length + " bytes, received " + actual.length + ")");
        }
    }

    /** Runs {@code task} on a daemon thread, so a hung transport cannot hang the test JVM. */
    static <T> Future<T> async(Callable<T> task) {
        FutureTask<T> future = new FutureTask<>(task);
        Thread.ofPlatform().daemon().name("transport-test").start(future);
        return future;
    }
}
