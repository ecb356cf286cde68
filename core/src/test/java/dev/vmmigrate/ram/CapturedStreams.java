package dev.vmmigrate.ram;

import dev.vmmigrate.stream.TargetPage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The real QEMU 7.2 captures in test resources {@code qemu-streams/} and the RAM content their
 * README describes: page {@code i < P} has byte {@code j = (i*7 + j) & 0xff}, page {@code M} is
 * zero but byte 123 = 0xA5, every other page is zero.
 */
public final class CapturedStreams {
    /** none-2m.qemu: block "mem" of 2 MiB, P = 256, M = 384. */
    public static final String NONE_2M = "none-2m.qemu";
    /** pc-16m.qemu: block "mem" of 16 MiB, P = 64, M = 3000. */
    public static final String PC_16M = "pc-16m.qemu";
    /** The same two captures made by QEMU 10.0 (a SWITCHOVER_START command before the RAM END). */
    public static final String NONE_2M_QEMU10 = "none-2m-qemu10.qemu";
    public static final String PC_16M_QEMU10 = "pc-16m-qemu10.qemu";

    private CapturedStreams() {
    }

    /** The captured file's path (resources are copied into target/test-classes). */
    public static Path path(String name) {
        URL url = CapturedStreams.class.getResource("/qemu-streams/" + name);
        if (url == null) {
            throw new IllegalStateException("test resource qemu-streams/" + name + " is missing");
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    public static byte[] bytes(String name) {
        try {
            return Files.readAllBytes(path(name));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * Channel {@code id} of a multifd capture (qemu-streams/multifd/CAPTURE, e.g. "qemu-10.0-zstd"),
     * its handshake included.
     */
    public static byte[] multifdChannel(String capture, int id) {
        return bytes("multifd/" + capture + "/channel" + id + ".bin");
    }

    /** The main stream of a multifd capture. */
    public static byte[] multifdMain(String capture) {
        return bytes("multifd/" + capture + "/main.bin");
    }

    /** The generated guest RAM of {@code bytes} bytes with {@code patterned} pattern pages and the marked page. */
    public static byte[] generatedRam(long bytes, int patterned, int marked) {
        byte[] b = new byte[Math.toIntExact(bytes)];
        for (int i = 0; i < patterned; i++) {
            for (int j = 0; j < TargetPage.SIZE; j++) {
                b[i * TargetPage.SIZE + j] = (byte) (i * 7 + j);
            }
        }
        b[marked * TargetPage.SIZE + 123] = (byte) 0xA5;
        return b;
    }

    /** The RAM of none-2m.qemu. */
    public static byte[] none2mRam() {
        return generatedRam(2L << 20, 256, 384);
    }

    /** The "mem" block of pc-16m.qemu. */
    public static byte[] pc16mRam() {
        return generatedRam(16L << 20, 64, 3000);
    }
}
