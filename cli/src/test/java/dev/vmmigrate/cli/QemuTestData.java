package dev.vmmigrate.cli;

import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/**
 * The QEMU 7.2 captures in core's test resources {@code qemu-streams/} and the RAM content they
 * were made from (README there): page {@code i < P} has byte {@code j = (i*7 + j) & 0xff}, page
 * {@code M} is zero except byte 123 = 0xA5, every other page is zero.
 */
final class QemuTestData {
    static final int PAGE = TargetPage.SIZE;

    /** none-2m.qemu: {@code -machine none}, backend "mem" of 2 MiB. */
    static final Capture NONE_2M = new Capture("none-2m.qemu", 2 << 20, 256, 384);
    /** pc-16m.qemu: {@code -machine pc} (pc-i440fx-7.2), backend "mem" of 16 MiB. */
    static final Capture PC_16M = new Capture("pc-16m.qemu", 16 << 20, 64, 3000);
    /** The same pc capture made by QEMU 10.0 (machine pc-i440fx-10.0). */
    static final Capture PC_16M_QEMU10 = new Capture("pc-16m-qemu10.qemu", 16 << 20, 64, 3000);

    private QemuTestData() {
    }

    record Capture(String file, int ramBytes, int patternedPages, int markedPage) {
        /** The guest RAM the capture was made from. */
        byte[] ram() {
            return generate(ramBytes, patternedPages, markedPage);
        }

        /** Copies the capture into {@code dir} and returns its path. */
        Path copyTo(Path dir) throws IOException {
            Path target = dir.resolve(file);
            try (InputStream in = QemuTestData.class.getResourceAsStream("/qemu-streams/" + file)) {
                if (in != null) {
                    Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
                    return target;
                }
            }
            // Not on the classpath (core's test-jar without resources): the source tree, from cli/.
            for (Path candidate : new Path[] {Path.of("../core/src/test/resources/qemu-streams", file),
                    Path.of("core/src/test/resources/qemu-streams", file)}) {
                if (Files.isRegularFile(candidate)) {
                    return Files.copy(candidate, target, StandardCopyOption.REPLACE_EXISTING);
                }
            }
            throw new IOException("test data qemu-streams/" + file + " not found (classpath or core/src/test/resources)");
        }
    }

    /** The README's generator. */
    static byte[] generate(int bytes, int patternedPages, int markedPage) {
        byte[] b = new byte[bytes];
        for (int i = 0; i < patternedPages; i++) {
            for (int j = 0; j < PAGE; j++) {
                b[i * PAGE + j] = (byte) (i * 7 + j);
            }
        }
        b[markedPage * PAGE + 123] = (byte) 0xA5;
        return b;
    }

    /** Fails unless the two are equal, saying where they first differ and how many pages differ. */
    static void assertSameBytes(byte[] expected, byte[] actual, String what) {
        if (!java.util.Arrays.equals(expected, actual)) {
            org.junit.jupiter.api.Assertions.fail(what + ": " + firstDifference(expected, actual));
        }
    }

    /** Where two arrays differ, for messages. */
    static String firstDifference(byte[] expected, byte[] actual) {
        int at = java.util.Arrays.mismatch(expected, actual);
        if (at < 0) {
            return "equal";
        }
        if (at >= Math.min(expected.length, actual.length)) {
            return "lengths differ: expected " + expected.length + " bytes, got " + actual.length;
        }
        long pages = 0;
        int n = Math.min(expected.length, actual.length);
        for (int p = 0; p < n; p += PAGE) {
            if (java.util.Arrays.mismatch(expected, p, Math.min(p + PAGE, n), actual, p, Math.min(p + PAGE, n)) >= 0) {
                pages++;
            }
        }
        return String.format("first difference at byte %d (page %d): expected 0x%02x, got 0x%02x; %d of %d pages differ",
                at, at / PAGE, expected[at] & 0xff, actual[at] & 0xff, pages, (n + PAGE - 1) / PAGE);
    }
}
