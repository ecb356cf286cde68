package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * {@code send --capability multifd} into {@code receive --capability multifd}: a running guest
 * at a limited bandwidth (several passes, pages going again over other channels) and a paused
 * one, over tcp: and unix:, RAM files compared (and the stream's own digest checked by
 * receive); a channel that cannot connect or breaks fails the migration with one line naming it;
 * combinations QEMU refuses or vm-migrate cannot do are bad usage (exit 2).
 */
class MultifdSendTest {
    private static final Pattern TCP_PORT = Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)");

    @TempDir
    Path dir;

    static Stream<Arguments> transportsAndChannels() {
        return Stream.of(Arguments.of("tcp", 2), Arguments.of("tcp", 4), Arguments.of("unix", 2),
                Arguments.of("unix", 4));
    }

    @ParameterizedTest
    @MethodSource("transportsAndChannels")
    void runningGuestIntoReceive(String transport, int channels) throws IOException {
        CliProcess.Result send = roundTrip(transport, channels, "--workload", "random:16M/s", "--warmup", "200ms",
                "--max-bandwidth", "24M/s");
        assertTrue(MultifdSendQemuTest.passes(send) > 2, "pages went again in later passes: " + send.describe());
        assertSameRam(true);
    }

    @Test
    void pausedGuestIntoReceive() throws IOException {
        roundTrip("tcp", 3, "--paused", "--fill", "half_random", "--max-bandwidth", "unlimited");
        assertSameRam(true);
    }

    /**
     * zstd (as --multifd-compression zstd and as --compress) and zlib between two vm-migrate
     * processes: the receiver takes the method from the packets; a quarter of the guest is
     * compressible, so the channels write well under the pages' size.
     */
    @ParameterizedTest
    @ValueSource(strings = {"--multifd-compression=zstd", "--compress", "--multifd-compression=zlib"})
    void compressedChannelsIntoReceive(String compression) throws IOException {
        byte[] content = MultifdQemuInteropTest.content();
        Files.write(dir.resolve("src.ram"), content);
        CliProcess.Result send = roundTrip("tcp", 2, "--paused", compression);
        assertSameRam(true);
        long pages = Long.parseLong(matching(send, "\\((\\d+) normal"));
        assertTrue(multifdBytes(send) < pages * 4096 * 3 / 4, "compressed: " + send.describe());
    }

    /** The bytes the multifd channels wrote, from send's final line. */
    static long multifdBytes(CliProcess.Result send) {
        String[] written = matching(send, "multifd channels wrote ([0-9.]+ [KMG]?i?B)").split(" ");
        int shift = List.of("B", "KiB", "MiB", "GiB").indexOf(written[1]) * 10;
        assertTrue(shift >= 0, "a unit of Units.formatSize: " + written[1]);
        return (long) (Double.parseDouble(written[0]) * (1L << shift));
    }

    private static String matching(CliProcess.Result send, String regex) {
        Matcher m = Pattern.compile(regex).matcher(send.stderr());
        assertTrue(m.find(), regex + " in " + send.describe());
        return m.group(1);
    }

    /** QEMU 7.2's form (no MULTIFD_FLUSH records, a sync at every EOS): receive takes it too. */
    @Test
    void flushAfterEachSectionIntoReceive() throws IOException {
        roundTrip("tcp", 2, "--multifd-flush-after-each-section", "--workload", "random:16M/s", "--warmup", "200ms",
                "--max-bandwidth", "24M/s");
        assertSameRam(true);
    }

    /** A destination that takes the main connection, then no more: the channel cannot connect. */
    @Test
    void aChannelThatCannotConnectFailsTheMigration() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                try (Socket main = server.accept()) {
                    server.close(); // every later connect is refused
                    drain(main.getInputStream(), Long.MAX_VALUE);
                } catch (IOException ignored) {
                    // the sender gave up
                }
            });
            CliProcess.Result send = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + server.getLocalPort(), "--ram", "8M",
                    "--workload", "random:16M/s", "--capability", "multifd");
            assertFailedOnce(send, "multifd channel 0 could not connect: .*");
        }
    }

    /** A destination that reads a little of channel 1, then closes it: the migration fails naming it. */
    @Test
    void aChannelThatBreaksFailsTheMigration() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            Thread.ofVirtual().start(() -> {
                List<Socket> open = new ArrayList<>();
                try {
                    for (int connection = 0; connection < 3; connection++) {
                        Socket socket = server.accept();
                        open.add(socket);
                        long keep = connection == 2 ? 100_000 : Long.MAX_VALUE; // main, channel 0, channel 1
                        Thread.ofVirtual().start(() -> {
                            try (socket) {
                                drain(socket.getInputStream(), keep);
                                socket.setSoLinger(true, 0); // a reset, not a quiet end
                            } catch (IOException ignored) {
                                // the sender gave up
                            }
                        });
                    }
                } catch (IOException ignored) {
                    // the test ended
                }
            });
            CliProcess.Result send = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + server.getLocalPort(), "--ram", "64M",
                    "--fill", "half_random", "--capability", "multifd", "--max-bandwidth", "unlimited");
            assertFailedOnce(send, "multifd channel 1 broke: .*");
        }
    }

    /**
     * A destination that accepts every connection and reads none: the stall timeout ends the
     * migration (the channels woken too, not left blocked), with the stall's line, not a channel's.
     */
    @Test
    void aDestinationThatReadsNothingStalls() throws Exception {
        try (ServerSocket server = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            List<Socket> held = new java.util.concurrent.CopyOnWriteArrayList<>();
            Thread.ofVirtual().start(() -> {
                try {
                    while (true) {
                        held.add(server.accept());
                    }
                } catch (IOException ignored) {
                    // the test ended
                }
            });
            try {
                CliProcess.Result send = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + server.getLocalPort(),
                        "--ram", "64M", "--fill", "half_random", "--capability", "multifd", "--max-bandwidth",
                        "unlimited", "--stall-timeout", "2s");
                assertEquals(1, send.exitCode(), send.describe());
                assertTrue(send.stderrLines().getLast().matches("vm-migrate: migration failed after \\d+ ms: stalled: .*"),
                        send.describe());
            } finally {
                for (Socket socket : held) {
                    socket.close();
                }
            }
        }
    }

    /**
     * Through QMP during a throttled multifd migration: multifd and multifd-channels cannot change
     * (QEMU's wording), then migrate_cancel ends it, channels and all: exit 3, the guest runs on.
     */
    @Test
    void qmpRefusesChangesWhileActiveAndCancelEndsTheChannels() throws Exception {
        Path socket = dir.resolve("send.qmp");
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "0", "--capability",
                    "multifd");
             CliProcess send = CliProcess.start(dir, "send", "tcp:127.0.0.1:" + receive.awaitStderr(TCP_PORT), "--ram",
                     "32M", "--fill", "half_random", "--max-bandwidth", "256K/s", "--capability", "multifd", "--qmp",
                     "unix:" + socket, "--json");
             QmpClient qmp = QmpClient.connect(socket, send.process(), java.time.Duration.ofSeconds(60))) {
            QmpCliTest.awaitActive(qmp);
            assertEquals(2, qmp.execute("query-migrate-parameters").get("multifd-channels").asInt());
            IOException channels = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> qmp.execute(
                    "migrate-set-parameters", QmpClient.args().put("multifd-channels", 4)));
            assertTrue(channels.getMessage().contains("There's a migration process in progress"), channels.getMessage());
            var off = QmpClient.args().arrayNode();
            off.addObject().put("capability", "multifd").put("state", false);
            IOException capability = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> qmp.execute(
                    "migrate-set-capabilities", QmpClient.args().set("capabilities", off)));
            assertTrue(capability.getMessage().contains("There's a migration process in progress"),
                    capability.getMessage());
            qmp.execute("migrate_cancel");
            CliProcess.Result sent = send.await();
            assertEquals(ExitCode.CANCELLED, sent.exitCode(), sent.describe());
            assertTrue(sent.stderrLines().getLast().contains("\"status\":\"cancelled\""), sent.describe());
            receive.await();
        }
    }

    @Test
    void refusedCombinations() throws IOException {
        String tcp = "tcp:127.0.0.1:9";
        assertUsage("--multifd-channels needs --capability multifd", "send", tcp, "--multifd-channels", "4");
        assertUsage("--multifd-flush-after-each-section needs --capability multifd", "send", tcp,
                "--multifd-flush-after-each-section");
        assertUsage("--multifd-channels 0: must be 1 to 255", "send", tcp, "--capability", "multifd",
                "--multifd-channels", "0");
        assertUsage("--capability multifd needs a tcp: or unix: URI", "send", "file:" + dir.resolve("f"),
                "--capability", "multifd");
        assertUsage("--capability multifd needs a tcp: or unix: URI", "send", "exec:cat > /dev/null",
                "--capability", "multifd");
        assertUsage("Multifd is not compatible with xbzrle", "send", tcp, "--capability", "multifd", "--capability",
                "xbzrle");
        assertUsage("Multifd is not compatible with compress", "send", tcp, "--capability", "multifd", "--capability",
                "compress");
        assertUsage("--multifd-compression needs --capability multifd", "send", tcp, "--multifd-compression", "zstd");
        assertUsage("--multifd-compression qpl (--compress-level 1): multifd-compression qpl is not built into "
                + "vm-migrate (none, zlib and zstd are)", "send", tcp, "--capability", "multifd",
                "--multifd-compression", "qpl");
        assertUsage("--multifd-compression zlib (--compress-level 12): Parameter 'multifd_zlib_level' expects a value "
                + "between 0 and 9", "send", tcp, "--capability", "multifd", "--multifd-compression", "zlib",
                "--compress-level", "12");
        assertUsage("--multifd-compression zlib (--compress-level 1): --compress means zstd with multifd", "send", tcp,
                "--capability", "multifd", "--multifd-compression", "zlib", "--compress");
        assertUsage("capability multifd cannot go with postcopy-ram", "send", tcp, "--capability", "multifd",
                "--postcopy-after", "1");
        assertUsage("reconnect does not resume a multifd migration", "send", tcp, "--capability", "multifd",
                "--reconnect", "5s");
    }

    /** receive and send with multifd x{@code channels} over {@code transport}; both must complete. */
    private CliProcess.Result roundTrip(String transport, int channels, String... sendOptions) throws IOException {
        String[] multifd = {"--capability", "multifd", "--multifd-channels", String.valueOf(channels)};
        boolean tcp = transport.equals("tcp");
        String listen = tcp ? "tcp:127.0.0.1:0" : "unix:" + dir.resolve("mig.sock");
        List<String> receiveArgs = new ArrayList<>(List.of("receive", listen, "--ram", "16M", "--ram-file", "dst.ram",
                "--run-for", "0", "--paused"));
        receiveArgs.addAll(List.of(multifd));
        try (CliProcess receive = CliProcess.start(dir, receiveArgs.toArray(String[]::new))) {
            String uri = tcp ? "tcp:127.0.0.1:" + receive.awaitStderr(TCP_PORT)
                    : "unix:" + dir.resolve("mig.sock");
            if (!tcp) {
                receive.awaitStderr(Pattern.compile("listening on unix:"));
            }
            List<String> sendArgs = new ArrayList<>(List.of("send", uri, "--ram", "16M", "--ram-file", "src.ram"));
            sendArgs.addAll(List.of(multifd));
            sendArgs.addAll(List.of(sendOptions));
            CliProcess.Result send = CliProcess.run(dir, sendArgs.toArray(String[]::new));
            CliProcess.Result received = receive.await();
            assertEquals(0, send.exitCode(), send.describe() + "\n--- receiver: " + received.describe());
            assertEquals(0, received.exitCode(), received.describe() + "\n--- sender: " + send.describe());
            assertTrue(received.stderr().contains("migration completed"), received.describe());
            return send;
        }
    }

    private void assertSameRam(boolean mustHaveContent) throws IOException {
        byte[] source = Files.readAllBytes(dir.resolve("src.ram"));
        if (mustHaveContent) {
            assertTrue(java.util.Arrays.mismatch(source, new byte[source.length]) >= 0,
                    "the source RAM is all zero: the comparison would prove little");
        }
        QemuTestData.assertSameBytes(source, Files.readAllBytes(dir.resolve("dst.ram")),
                "receive's RAM file vs send's (multifd)");
    }

    /** Exit 1, the last line names the failure, and no other line repeats it; the guest ran on. */
    private static void assertFailedOnce(CliProcess.Result send, String failure) {
        assertEquals(1, send.exitCode(), send.describe());
        String last = send.stderrLines().getLast();
        assertTrue(last.matches("vm-migrate: migration failed after \\d+ ms: " + failure), send.describe());
        assertEquals(1, send.stderrLines().stream().filter(l -> l.contains("multifd channel")).count(),
                send.describe());
    }

    private void assertUsage(String expected, String... args) {
        CliProcess.Result result = CliProcess.run(dir, args);
        assertEquals(2, result.exitCode(), result.describe());
        assertTrue(result.stderr().contains(expected), result.describe());
    }

    /** Reads and drops up to {@code limit} bytes, or to the end. */
    private static void drain(InputStream in, long limit) throws IOException {
        byte[] buffer = new byte[64 << 10];
        long total = 0;
        int n;
        while (total < limit && (n = in.read(buffer, 0, (int) Math.min(buffer.length, limit - total))) > 0) {
            total += n;
        }
    }
}
