package dev.vmmigrate.testing;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;

/**
 * Deterministic mutations of a valid stream, as a fuzzer makes them: flipped bits, lengths and
 * counts set to boundary values, bytes inserted, removed or repeated.
 */
public final class Mutations {
    private static final long[] BOUNDARY_64 = {0, 1, 0x1000, 0x7fffffffffffffffL, 0x8000000000000000L, -1,
            (1L << 62) | 0x04, (1L << 40) | 0x04, 0xfffffffffffff002L, 0x0000000100000008L};
    private static final int[] BOUNDARY_32 = {0, 1, 0x7f, 0xff, 0x100, 0x7fffffff, 0x80000000, -1, 0x10000};

    private Mutations() {
    }

    /** One mutant of {@code seed}; the same random state gives the same mutant. */
    public static byte[] mutate(byte[] seed, Random random) {
        if (seed.length < 16) {
            return seed.clone();
        }
        byte[] bytes = seed.clone();
        int at = random.nextInt(bytes.length - 8);
        switch (random.nextInt(7)) {
            case 0 -> bytes[at] ^= (byte) (1 << random.nextInt(8));
            case 1 -> bytes[at] = (byte) random.nextInt(256);
            case 2 -> ByteBuffer.wrap(bytes).putInt(at, BOUNDARY_32[random.nextInt(BOUNDARY_32.length)]);
            case 3 -> ByteBuffer.wrap(bytes).putLong(at, BOUNDARY_64[random.nextInt(BOUNDARY_64.length)]);
            case 4 -> { // remove a run
                int length = 1 + random.nextInt(Math.min(64, bytes.length - at));
                byte[] shorter = new byte[bytes.length - length];
                System.arraycopy(bytes, 0, shorter, 0, at);
                System.arraycopy(bytes, at + length, shorter, at, bytes.length - at - length);
                return shorter;
            }
            case 5 -> { // repeat a run
                int length = 1 + random.nextInt(Math.min(64, bytes.length - at));
                byte[] longer = Arrays.copyOf(bytes, bytes.length + length);
                System.arraycopy(bytes, at, longer, at + length, bytes.length - at);
                return longer;
            }
            default -> bytes[at] = (byte) 0xff; // a counted string's length, a section type, a flag byte
        }
        return bytes;
    }
}
