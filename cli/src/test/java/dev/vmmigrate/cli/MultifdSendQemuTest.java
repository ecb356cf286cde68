package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code vm-migrate send --compat qemu --capability multifd} into QEMU 7.2 and 10.0 destinations
 * ({@code -incoming defer}, multifd and multifd-channels over QMP, then migrate-incoming): RAM
 * compared byte for byte (a shared memory-backend-file on QEMU's side, --ram-file on ours). The
 * 7.2 destination gets --multifd-flush-after-each-section (it knows no MULTIFD_FLUSH record),
 * 10.0 with machine none the records; the pages only reach QEMU over the channels.
 */
class MultifdSendQemuTest {
    private static final int RAM = 16 << 20;

    @TempDir
    Path dir;

    static Stream<Arguments> versionsAndChannels() {
        return Stream.of(QemuVersion.values()).flatMap(v -> Stream.of(Arguments.of(v, 2), Arguments.of(v, 4)));
    }

    /** A paused guest with every kind of page: QEMU keeps it paused, its RAM is ours. */
    @ParameterizedTest
    @MethodSource("versionsAndChannels")
    void pausedGuestIntoQemu(QemuVersion version, int channels) throws Exception {
        Path src = Files.write(dir.resolve("src.ram"), MultifdQemuInteropTest.content());
        int port = QemuProcess.freePort();
        Loaded loaded = sendInto(version, channels, "tcp:127.0.0.1:" + port, src, "--paused");
        assertEquals("paused", loaded.status(), "globalstate 'paused': QEMU does not start the guest");
    }

    static Stream<Arguments> versionsAndMethods() {
        return Stream.of(Arguments.of(QemuVersion.V7_2, "zstd"), Arguments.of(QemuVersion.V10_0, "zstd"),
                Arguments.of(QemuVersion.V7_2, "zlib"), Arguments.of(QemuVersion.V10_0, "zlib"));
    }

    /**
     * send --multifd-compression into QEMU's destination set to the same method: QEMU refuses a
     * packet whose flags name another method, and decompresses each channel as one stream.
     */
    @ParameterizedTest
    @MethodSource("versionsAndMethods")
    void compressedChannelsIntoQemu(QemuVersion version, String method) throws Exception {
        Path src = Files.write(dir.resolve("src.ram"), MultifdQemuInteropTest.content());
        int port = QemuProcess.freePort();
        Loaded loaded = sendInto(version, 2, method, "tcp:127.0.0.1:" + port, src, "--paused");
        assertEquals("paused", loaded.status());
        assertTrue(MultifdSendTest.multifdBytes(loaded.sent()) < MultifdQemuInteropTest.content().length / 2,
                "the channels wrote compressed pages: " + loaded.sent().describe());
    }

    /** Over a unix socket: the main stream and three channels to the same path. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void pausedGuestIntoQemuOverUnix(QemuVersion version) throws Exception {
        Path src = Files.write(dir.resolve("src.ram"), MultifdQemuInteropTest.content());
        Loaded loaded = sendInto(version, 3, "unix:" + dir.resolve("incoming.sock"), src, "--paused");
        assertEquals("paused", loaded.status());
    }

    /**
     * A running guest dirtying memory at a limited bandwidth: pages go again in later passes, on
     * whichever channel is free, and an older copy still on its way must not overwrite them (the
     * sync points). QEMU's RAM must equal the source's as it stopped.
     */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void runningGuestWithAWorkloadIntoQemu(QemuVersion version) throws Exception {
        Path src = Files.write(dir.resolve("src.ram"), MultifdQemuInteropTest.content());
        int port = QemuProcess.freePort();
        Loaded loaded = sendInto(version, 4, "tcp:127.0.0.1:" + port, src, "--workload", "random:24M/s",
                "--warmup", "200ms", "--max-bandwidth", "48M/s");
        assertEquals("running", loaded.status(), "the source guest ran, so QEMU resumes it");
        assertTrue(passes(loaded.sent()) > 2, "pages went again in later passes: " + loaded.sent().describe());
    }

    /**
     * Starts QEMU with {@code -incoming defer} and multifd x{@code channels}, sends the guest in
     * {@code src} to {@code uri}, waits until QEMU leaves inmigrate, compares its RAM with the
     * source's and returns QEMU's run state.
     */
    private record Loaded(String status, CliProcess.Result sent) {
    }

    private Loaded sendInto(QemuVersion version, int channels, String uri, Path src, String... sendOptions)
            throws Exception {
        return sendInto(version, channels, "none", uri, src, sendOptions);
    }

    private Loaded sendInto(QemuVersion version, int channels, String compression, String uri, Path src,
                            String... sendOptions) throws Exception {
        version.require();
        Path dst = dir.resolve("dst.ram");
        Files.write(dst, new byte[RAM]);
        String status;
        CliProcess.Result sent;
        try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=" + (RAM >> 20) + "M,mem-path=" + dst + ",share=on",
                "-accel", "tcg", "-nodefaults", "-display", "none", "-incoming", "defer")) {
            MultifdQmp.enable(qemu, channels, compression);
            qemu.qmp.execute("migrate-incoming", QmpClient.args().put("uri", uri));
            List<String> send = new ArrayList<>(List.of("send", uri, "--compat", "qemu", "--machine", "none",
                    "--ram-id", "mem", "--ram", (RAM >> 20) + "M", "--ram-file", src.toString(),
                    "--capability", "multifd", "--multifd-channels", String.valueOf(channels),
                    "--multifd-compression", compression));
            if (version == QemuVersion.V7_2) {
                send.add("--multifd-flush-after-each-section");
            }
            send.addAll(List.of(sendOptions));
            sent = CliProcess.run(dir, send.toArray(String[]::new));
            assertEquals(0, sent.exitCode(), sent.describe() + "\nQEMU:\n" + qemu.log());
            JsonNode state = qemu.awaitStatusOtherThan("inmigrate");
            qemu.record("destination query-status after the multifd load: " + state);
            status = state.path("status").asText();
            assertTrue(List.of("running", "paused").contains(status), "QEMU loaded the stream: " + state + "\n"
                    + qemu.log());
            qemu.quit();
        }
        QemuTestData.assertSameBytes(Files.readAllBytes(src), Files.readAllBytes(dst), "QEMU's RAM vs vm-migrate's ("
                + sent.what() + ")");
        return new Loaded(status, sent);
    }

    /** The passes the send summary reports ("..., N passes"). */
    static long passes(CliProcess.Result sent) {
        Matcher m = Pattern.compile("(\\d+) passes").matcher(sent.stderr());
        return m.find() ? Long.parseLong(m.group(1)) : 0;
    }
}
