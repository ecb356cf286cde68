package dev.vmmigrate.vmstate;

import dev.vmmigrate.testing.Hex;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * Facts from real QEMU 7.2 streams (core/src/test/resources/qemu-streams/FACTS.md): the descriptions of machine
 * {@code none}'s two devices, a complete 747-byte stream of {@code -machine none} without RAM,
 * and access to the captured files in test resources {@code qemu-streams/} when present.
 */
final class QemuStreams {
    private QemuStreams() {
    }

    /** QEMU's "timer" (cpus.c vmstate_timers): version 2. */
    static final VmStateDescription TIMER = new VmStateDescription("timer", 2, List.of(
            VmStateField.integer("cpu_ticks_offset", FieldType.INT64),
            VmStateField.unused(8),
            VmStateField.integer("cpu_clock_offset", FieldType.INT64)));

    /** QEMU's "globalstate" (migration/global_state.c): version 1. */
    static final VmStateDescription GLOBALSTATE = new VmStateDescription("globalstate", 1, List.of(
            VmStateField.integer("size", FieldType.UINT32),
            VmStateField.buffer("runstate", 100)));

    /** The vmdesc QEMU 7.2 wrote for machine none, verbatim (486 bytes). */
    static final String NONE_VMDESC = "{\"page_size\": 4096, \"devices\": [{\"name\": \"timer\", \"instance_id\": 0, "
            + "\"vmsd_name\": \"timer\", \"version\": 2, \"fields\": [{\"name\": \"cpu_ticks_offset\", \"type\": \"int64\", "
            + "\"size\": 8}, {\"name\": \"unused\", \"type\": \"unused_buffer\", \"size\": 8}, {\"name\": "
            + "\"cpu_clock_offset\", \"type\": \"int64\", \"size\": 8}]}, {\"name\": \"globalstate\", \"instance_id\": 0, "
            + "\"vmsd_name\": \"globalstate\", \"version\": 1, \"fields\": [{\"name\": \"size\", \"type\": \"uint32\", "
            + "\"size\": 4}, {\"name\": \"runstate\", \"type\": \"buffer\", \"size\": 100}]}]}";

    /** Everything up to and including EOF of QEMU 7.2 {@code -machine none} with no RAM, started with -S. */
    private static final String NONE_BODY = ""
            + "5145564d0000000307000000046e6f6e6501000000020372616d000000000000"
            + "0004000000000000000400000000000000107e00000002030000000200000000"
            + "000000107e0000000204000000000574696d6572000000000000000200000000"
            + "00000000000000000000000000000000000000007e0000000004000000040b67"
            + "6c6f62616c737461746500000000000000010000000a7072656c61756e636800"
            + "0000000000000000000000000000000000000000000000000000000000000000"
            + "0000000000000000000000000000000000000000000000000000000000000000"
            + "00000000000000000000000000000000000000000000000000007e0000000400";

    /** The whole 747-byte stream: body, EOF, 0x06, be32 length, vmdesc. */
    static byte[] noneWithoutRam() {
        byte[] body = Hex.bytes(NONE_BODY);
        byte[] json = NONE_VMDESC.getBytes(StandardCharsets.UTF_8);
        byte[] all = new byte[body.length + 5 + json.length];
        System.arraycopy(body, 0, all, 0, body.length);
        all[body.length] = 0x06;
        all[body.length + 1] = (byte) (json.length >>> 24);
        all[body.length + 2] = (byte) (json.length >>> 16);
        all[body.length + 3] = (byte) (json.length >>> 8);
        all[body.length + 4] = (byte) json.length;
        System.arraycopy(json, 0, all, body.length + 5, json.length);
        return all;
    }

    /**
     * A captured stream from test resources {@code qemu-streams/NAME}, or from the directory named
     * by the system property {@code vmstate.qemuStreams}; empty when absent.
     */
    static Optional<byte[]> captured(String name) {
        try {
            String dir = System.getProperty("vmstate.qemuStreams");
            if (dir != null && Files.isRegularFile(Path.of(dir, name))) {
                return Optional.of(Files.readAllBytes(Path.of(dir, name)));
            }
            URL url = QemuStreams.class.getResource("/qemu-streams/" + name);
            if (url != null) {
                return Optional.of(Files.readAllBytes(Path.of(url.toURI())));
            }
            Path source = Path.of("src/test/resources/qemu-streams", name);
            if (Files.isRegularFile(source)) {
                return Optional.of(Files.readAllBytes(source));
            }
            return Optional.empty();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
