package dev.vmmigrate.testing;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import java.util.Arrays;

/** Every decoder must fail cleanly, naming an offset, on a stream cut at 0, n-2 and n/2 bytes. */
public final class Truncation {
    @FunctionalInterface
    public interface Decoder {
        void decode(MigrationInput in) throws Exception;
    }

    private Truncation() {
    }

    public static void assertFailsCleanlyWhenCut(byte[] whole, Decoder decoder) {
        int n = whole.length;
        for (int cut : new int[] {0, Math.max(0, n - 2), n / 2}) {
            byte[] part = Arrays.copyOf(whole, cut);
            StreamFormatException e = assertThrows(StreamFormatException.class,
                    () -> decoder.decode(MigrationInput.of(part)), "cut at " + cut + " of " + n);
            assertTrue(e.offset() >= 0 && e.offset() <= cut, "offset " + e.offset() + " within the cut " + cut);
            assertTrue(e.getMessage().contains("offset"), e.getMessage());
        }
    }
}
