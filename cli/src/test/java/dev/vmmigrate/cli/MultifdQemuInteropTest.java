package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmmigrate.multifd.MultifdCodec;
import dev.vmmigrate.multifd.MultifdCompression;
import dev.vmmigrate.multifd.MultifdInit;
import dev.vmmigrate.multifd.MultifdPacket;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * QEMU 7.2 and 10.0 with capability multifd migrate into {@code vm-migrate receive --capability
 * multifd}: the main stream and 2 or 4 channels to the same port, with multifd-compression none,
 * zstd or zlib (receive takes the method from the packets), RAM compared byte for byte (a shared
 * memory-backend-file on QEMU's side, --ram-file on ours). Strangers that connect during the load
 * are refused with a line and the load completes.
 */
class MultifdQemuInteropTest {
    private static final int RAM = 16 << 20;

    @TempDir
    Path dir;

    static Stream<Arguments> versionsChannelsAndCompression() {
        return Stream.concat(
                Stream.of(QemuVersion.values()).flatMap(v -> Stream.of(Arguments.of(v, 2, "none"), Arguments.of(v, 4, "none"),
                        Arguments.of(v, 2, "zstd"))),
                Stream.of(Arguments.of(QemuVersion.V10_0, 4, "zstd"), Arguments.of(QemuVersion.V7_2, 2, "zlib"),
                        Arguments.of(QemuVersion.V10_0, 2, "zlib")));
    }

    @ParameterizedTest(name = "{0} x{1} {2}")
    @MethodSource("versionsChannelsAndCompression")
    void qemuMultifdIntoReceive(QemuVersion version, int channels, String compression) throws Exception {
        byte[] content = content();
        Path src = Files.write(dir.resolve("src.ram"), content);
        Path dst = dir.resolve("dst.ram");
        try (QemuProcess qemu = source(version, src);
             CliProcess receive = receive(dst, channels)) {
            String port = receive.awaitStderr(Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)"));
            MultifdQmp.enable(qemu, channels, compression);
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + port));
            JsonNode info = qemu.awaitMigration();
            qemu.record("multifd x" + channels + " " + compression + " source query-migrate: " + info);
            assertEquals("completed", info.path("status").asText(), info + "\n" + qemu.log() + "\nreceive:\n"
                    + receive.stderr());
            long multifdBytes = info.path("ram").path("multifd-bytes").asLong();
            assertTrue(multifdBytes > RAM / 4, "the pages went over the channels: " + info);
            if (version == QemuVersion.V10_0) { // 7.2 counts a compressed packet's pages at their full size
                // 65% of the RAM is not zero, 40% random: only compressed packets stay well below 60%
                assertEquals(!compression.equals("none"), multifdBytes < RAM * 55L / 100, "compressed: " + info);
            }
            CliProcess.Result received = receive.await();
            assertEquals(0, received.exitCode(), received.describe());
            assertTrue(received.stderr().contains("migration completed"), received.describe());
            qemu.quit();
        }
        QemuTestData.assertSameBytes(content, Files.readAllBytes(dst), "vm-migrate's RAM file vs QEMU's (multifd x"
                + channels + ", " + compression + ")");
    }

    /** Over a unix socket: the main stream and the channels connect to the same path. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuMultifdIntoReceiveOverUnix(QemuVersion version) throws Exception {
        byte[] content = content();
        Path src = Files.write(dir.resolve("src.ram"), content);
        Path dst = dir.resolve("dst.ram");
        Path socket = dir.resolve("incoming.sock");
        try (QemuProcess qemu = source(version, src);
             CliProcess receive = CliProcess.start(dir, "receive", "unix:" + socket, "--ram-id", "mem", "--ram-file",
                     dst.toString(), "--run-for", "0", "--capability", "multifd", "--multifd-channels", "3")) {
            receive.awaitStderr(Pattern.compile("listening on unix:"));
            MultifdQmp.enable(qemu, 3, "none");
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "unix:" + socket));
            assertBothCompleted(qemu, receive);
        }
        QemuTestData.assertSameBytes(content, Files.readAllBytes(dst), "vm-migrate's RAM file vs QEMU's (unix:)");
    }

    /**
     * QEMU 10.0 as 7.2 syncs (multifd-flush-after-each-section on, the machine property QEMU's
     * 7.2 machine types set): no MULTIFD_FLUSH records, a sync at every EOS.
     */
    @org.junit.jupiter.api.Test
    void qemu10SyncingAfterEachSection() throws Exception {
        byte[] content = content();
        Path src = Files.write(dir.resolve("src.ram"), content);
        Path dst = dir.resolve("dst.ram");
        try (QemuProcess qemu = source(QemuVersion.V10_0, src, "-global", "migration.multifd-flush-after-each-section=on");
             CliProcess receive = receive(dst, 2)) {
            String port = receive.awaitStderr(Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)"));
            MultifdQmp.enable(qemu, 2, "none");
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + port));
            assertBothCompleted(qemu, receive);
        }
        QemuTestData.assertSameBytes(content, Files.readAllBytes(dst), "vm-migrate's RAM file vs QEMU's");
    }

    /**
     * The source stops before the switchover (pause-before-switchover), every channel connected:
     * a channel with another uuid, a channel id beyond the count and a second main stream connect
     * and are refused, each with a line; receive's QMP lists capability multifd on; the migration
     * then completes.
     */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void strangersDuringAMultifdLoadAreRefused(QemuVersion version) throws Exception {
        byte[] content = content();
        Path src = Files.write(dir.resolve("src.ram"), content);
        Path dst = dir.resolve("dst.ram");
        Path qmpSocket = dir.resolve("receive.qmp");
        try (QemuProcess qemu = source(version, src);
             CliProcess receive = receive(dst, 2, "--qmp", "unix:" + qmpSocket)) {
            int port = Integer.parseInt(receive.awaitStderr(Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)")));
            MultifdQmp.enable(qemu, 2, "none", "pause-before-switchover");
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + port));
            awaitStatus(qemu, "pre-switchover");
            try (QmpClient ours = QmpClient.connect(qmpSocket, receive.process(), java.time.Duration.ofSeconds(20))) {
                assertTrue(java.util.stream.StreamSupport.stream(ours.execute("query-migrate-capabilities").spliterator(), false)
                        .anyMatch(c -> c.toString().equals("{\"state\":true,\"capability\":\"multifd\"}")),
                        "receive's QMP lists multifd on");
            }

            byte[] otherUuid = new byte[16];
            Arrays.fill(otherUuid, (byte) 0x5a);
            try (Socket uuid = connect(port, handshake(otherUuid, 0));
                 Socket id = connect(port, handshake(new byte[16], 7));
                 Socket main = connect(port, new byte[] {'Q', 'E', 'V', 'M', 0, 0, 0, 3})) {
                receive.awaitStderr(Pattern.compile("refused a multifd connection \\(tcp .*?\\): multifd channel 0 "
                        + "carries uuid 5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a5a, not this migration's "
                        + "00000000-0000-0000-0000-000000000000"));
                receive.awaitStderr(Pattern.compile("refused a multifd connection \\(tcp .*?\\): multifd channel id 7, "
                        + "but this receiver takes 2 channels"));
                receive.awaitStderr(Pattern.compile("refused a connection \\(tcp .*?\\): this receiver takes one "
                        + "migration connection and has it"));
            }
            qemu.qmp.execute("migrate-continue", QmpClient.args().put("state", "pre-switchover"));
            assertBothCompleted(qemu, receive);
        }
        QemuTestData.assertSameBytes(content, Files.readAllBytes(dst), "vm-migrate's RAM file vs QEMU's");
    }

    /**
     * QEMU 10.0's captured multifd migration (core's qemu-streams/multifd) sent to receive over
     * three connections, channel 0 cut inside its pages: one error line naming the channel, exit 1,
     * and the RAM file never written.
     */
    @org.junit.jupiter.api.Test
    void aCutChannelFailsTheLoadWithOneLine() throws Exception {
        Path dst = dir.resolve("dst.ram");
        byte[] main = capture("qemu-10.0/main.bin");
        byte[] channel0 = capture("qemu-10.0/channel0.bin");
        byte[] channel1 = capture("qemu-10.0/channel1.bin");
        try (CliProcess receive = receive(dst, 2)) {
            int port = Integer.parseInt(receive.awaitStderr(Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)")));
            // Channel 0 ends after its first 10,000 bytes: shut down by the thread that wrote them
            // (a shutdown from here could come before the write, and the receiver would see no channel).
            try (Socket c0 = connect(port, Arrays.copyOf(channel0, 10_000), true);
                 Socket c1 = connect(port, channel1);
                 Socket m = connect(port, main)) {
                CliProcess.Result received = receive.await();
                assertEquals(1, received.exitCode(), received.describe());
                String error = received.stderrLines().getLast();
                assertTrue(error.matches("vm-migrate: migration failed after \\d+ ms: load of migration failed: "
                        + "multifd channel 0: truncated stream: .* at offset \\d+"), received.describe());
                assertEquals(1, received.stderrLines().stream().filter(l -> l.contains("multifd channel 0")).count(),
                        received.describe());
            }
        }
        assertFalse(Files.exists(dst), "a failed load leaves no RAM file");
    }

    /**
     * Our encoder into QEMU's destination: QEMU's own compressed capture (core's
     * qemu-streams/multifd/qemu-V-METHOD, 2 MiB block "mem", P = 400, M = 450) with every payload
     * decoded and compressed again by {@link MultifdCodec} (at level 3, so the bytes are not
     * QEMU's), one stream per channel, then sent to QEMU -incoming with multifd-compression
     * METHOD: QEMU loads it and its RAM is the source's.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("versionsAndMethods")
    void ourEncoderIntoQemu(QemuVersion version, String compression) throws Exception {
        String capture = (version == QemuVersion.V7_2 ? "qemu-7.2-" : "qemu-10.0-") + compression + "/";
        MultifdCompression method = compression.equals("zstd") ? MultifdCompression.ZSTD : MultifdCompression.ZLIB;
        byte[] channel0 = capture(capture + "channel0.bin");
        byte[] ours0 = reencode(channel0, method);
        byte[] ours1 = reencode(capture(capture + "channel1.bin"), method);
        assertFalse(Arrays.equals(channel0, ours0), "the payloads are ours, not QEMU's");
        Path dst = Files.write(dir.resolve("dst.ram"), new byte[2 << 20]);
        int port = QemuProcess.freePort();
        try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem", "-object",
                "memory-backend-file,id=mem,size=2M,mem-path=" + dst + ",share=on", "-accel", "tcg", "-nodefaults",
                "-display", "none", "-incoming", "defer")) {
            MultifdQmp.enable(qemu, 2, compression);
            qemu.qmp.execute("migrate-incoming", QmpClient.args().put("uri", "tcp:127.0.0.1:" + port));
            try (Socket main = connect(port, capture(capture + "main.bin"));
                 Socket c0 = connect(port, ours0);
                 Socket c1 = connect(port, ours1)) {
                JsonNode info = qemu.awaitMigration();
                assertEquals("completed", info.path("status").asText(), info + "\n" + qemu.log());
            }
            qemu.quit();
        }
        byte[] expected = new byte[2 << 20];
        for (int page = 0; page < 400; page++) {
            for (int j = 0; j < 4096; j++) {
                expected[page * 4096 + j] = (byte) (page * 7 + j);
            }
        }
        expected[450 * 4096 + 123] = (byte) 0xa5;
        QemuTestData.assertSameBytes(expected, Files.readAllBytes(dst), "QEMU's RAM after our " + compression + " packets");
    }

    static Stream<Arguments> versionsAndMethods() {
        return Stream.of(Arguments.of(QemuVersion.V7_2, "zstd"), Arguments.of(QemuVersion.V10_0, "zstd"),
                Arguments.of(QemuVersion.V10_0, "zlib"));
    }

    /** A captured channel with each payload decoded and compressed again by our codec (level 3), the packets' sizes to match. */
    private static byte[] reencode(byte[] channel, MultifdCompression method) throws Exception {
        MigrationInput in = MigrationInput.of(channel);
        java.io.ByteArrayOutputStream sink = new java.io.ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(sink); MultifdCodec qemus = MultifdCodec.of(method);
             MultifdCodec ours = MultifdCodec.of(method, 3)) {
            MultifdInit.read(in).write(out);
            while (!in.atEnd()) {
                MultifdPacket packet = MultifdPacket.read(in);
                if (packet.normalCount() == 0) { // no payload (7.2's next_packet_size is stale there)
                    packet.write(out);
                    continue;
                }
                MemorySegment pages = qemus.decode(ByteBuffer.wrap(in.readBytes(packet.nextPacketSize())),
                        packet.normalCount());
                long[] offsets = new long[packet.normalCount()];
                Arrays.setAll(offsets, i -> i * 4096L);
                MemorySegment payload = ours.encode(pages, offsets);
                new MultifdPacket(packet.flags(), packet.pagesAlloc(), packet.normal(), packet.zero(),
                        (int) payload.byteSize(), packet.packetNum(), packet.ramBlock()).write(out);
                out.putBytes(payload, 0, payload.byteSize());
            }
        }
        return sink.toByteArray();
    }

    /** QEMU's migration completed, then receive exited 0 (both named in a failure); QEMU quits. */
    private static void assertBothCompleted(QemuProcess qemu, CliProcess receive) throws Exception {
        JsonNode info = qemu.awaitMigration();
        assertEquals("completed", info.path("status").asText(), info + "\n" + qemu.log() + "\nreceive:\n"
                + receive.stderr());
        CliProcess.Result received = receive.await();
        assertEquals(0, received.exitCode(), received.describe());
        qemu.quit();
    }

    private QemuProcess source(QemuVersion version, Path ram, String... more) throws Exception {
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=" + (RAM >> 20) + "M,mem-path=" + ram + ",share=on",
                "-accel", "tcg", "-nodefaults", "-display", "none", "-S"));
        args.addAll(java.util.List.of(more));
        return QemuProcess.start(version, dir, args.toArray(String[]::new));
    }

    private CliProcess receive(Path dst, int channels, String... more) {
        java.util.List<String> args = new java.util.ArrayList<>(java.util.List.of("receive", "tcp:127.0.0.1:0", "--ram-id",
                "mem", "--ram-file", dst.toString(), "--run-for", "0", "--capability", "multifd", "--multifd-channels",
                String.valueOf(channels)));
        args.addAll(java.util.List.of(more));
        return CliProcess.start(dir, args.toArray(String[]::new));
    }

    private static void awaitStatus(QemuProcess qemu, String status) throws InterruptedException {
        while (true) {
            JsonNode info = qemu.executeOrFail("query-migrate");
            String now = info.path("status").asText();
            if (now.equals(status)) {
                return;
            }
            assertFalse(java.util.List.of("completed", "failed", "cancelled").contains(now), info.toString());
            Thread.sleep(50);
        }
    }

    /** Half random (some pages zero among them), then a pattern, then zeros: every kind of page. */
    static byte[] content() {
        byte[] b = new byte[RAM];
        Random random = new Random(20261202);
        for (int page = 0; page < RAM / 2 / 4096; page++) {
            if (page % 5 != 3) {
                byte[] bytes = new byte[4096];
                random.nextBytes(bytes);
                System.arraycopy(bytes, 0, b, page * 4096, 4096);
            }
        }
        for (int i = RAM / 2; i < RAM * 3 / 4; i++) {
            b[i] = (byte) (i * 7);
        }
        b[RAM - 4096 + 123] = (byte) 0xa5;
        return b;
    }

    private static byte[] handshake(byte[] uuid, int id) {
        ByteBuffer b = ByteBuffer.allocate(64);
        b.putInt(0x11223344).putInt(1).put(uuid).put((byte) id);
        return b.array();
    }

    private static Socket connect(int port, byte[] bytes) throws IOException {
        return connect(port, bytes, false);
    }

    /** Connects and writes {@code bytes} on a thread of its own; with {@code end}, then shuts the output down. */
    private static Socket connect(int port, byte[] bytes, boolean end) throws IOException {
        Socket socket = new Socket(InetAddress.getLoopbackAddress(), port);
        Thread.ofVirtual().start(() -> {
            try {
                OutputStream out = socket.getOutputStream();
                out.write(bytes);
                out.flush();
                if (end) {
                    socket.shutdownOutput();
                }
            } catch (IOException ignored) {
                // refused: the receiver closed it
            }
        });
        return socket;
    }

    /** A capture from core's test resources (the source tree: cli runs in cli/). */
    private static byte[] capture(String name) throws IOException {
        for (Path candidate : new Path[] {Path.of("../core/src/test/resources/qemu-streams/multifd", name),
                Path.of("core/src/test/resources/qemu-streams/multifd", name)}) {
            if (Files.isRegularFile(candidate)) {
                return Files.readAllBytes(candidate);
            }
        }
        throw new IOException("test data qemu-streams/multifd/" + name + " not found");
    }
}
