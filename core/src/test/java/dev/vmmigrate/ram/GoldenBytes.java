package dev.vmmigrate.ram;

import static org.junit.jupiter.api.Assertions.fail;

import dev.vmmigrate.testing.Hex;
import java.util.Arrays;

/** Compares golden bytes and, on a difference, shows only where: the offset and a few bytes around it. */
public final class GoldenBytes {
    private static final int CONTEXT = 16;

    private GoldenBytes() {
    }

    public static void assertSame(byte[] expected, byte[] actual) {
        int mismatch = Arrays.mismatch(expected, actual);
        if (mismatch < 0) {
            return;
        }
        int from = Math.max(0, mismatch - CONTEXT);
        fail("bytes differ at offset " + mismatch + " (expected " + expected.length + " bytes, got "
                + actual.length + ")\n  expected from " + from + ": " + window(expected, from)
                + "\n  actual   from " + from + ": " + window(actual, from));
    }

    private static String window(byte[] bytes, int from) {
        if (from >= bytes.length) {
            return "(end)";
        }
        return Hex.of(Arrays.copyOfRange(bytes, from, Math.min(bytes.length, from + 2 * CONTEXT + 1)));
    }
}
