package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * vm-migrate and a real QEMU (qemu-system-x86_64: Debian 12's 7.2 and 10.0, each test once per
 * {@link QemuVersion}) migrate to each other, driven over QMP: QEMU → {@code vm-migrate receive}
 * over tcp, and {@code vm-migrate send --compat qemu} → QEMU {@code -incoming} over tcp, unix and
 * exec. The RAM is a shared memory-backend-file on
 * the QEMU side and {@code --ram-file} on ours, so both sides' memory can be compared as files.
 */
class QemuInteropTest {
    @TempDir
    Path dir;

    /** (a) QEMU's {@code migrate} to {@code vm-migrate receive tcp:127.0.0.1:0}. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuToVmMigrateOverTcp(QemuVersion version) throws Exception {
        byte[] content = QemuTestData.NONE_2M.ram();
        Path src = Files.write(dir.resolve("src.ram"), content);
        Path dst = dir.resolve("dst.ram");
        try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=2M,mem-path=" + src + ",share=on",
                "-accel", "tcg", "-nodefaults", "-display", "none", "-S");
             CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram-id", "mem",
                     "--ram-file", dst.toString(), "--run-for", "0")) {
            String port = receive.awaitStderr(Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)"));
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + port));
            JsonNode info = qemu.awaitMigration();
            qemu.record("source query-migrate at the end: " + info);
            assertEquals("completed", info.path("status").asText(), info + "\n" + qemu.log());
            assertEquals(2 << 20, info.path("ram").path("total").asLong(), info.toString());
            JsonNode status = qemu.qmp.execute("query-status");
            qemu.record("source query-status after migration: " + status);
            assertEquals("postmigrate", status.path("status").asText(), status.toString());

            CliProcess.Result received = receive.await();
            assertEquals(0, received.exitCode(), received.describe());
            assertTrue(received.stderr().contains("migration completed"), received.describe());
            qemu.quit();
        }
        QemuTestData.assertSameBytes(content, Files.readAllBytes(src), "QEMU's RAM file (the guest never ran)");
        QemuTestData.assertSameBytes(content, Files.readAllBytes(dst), "vm-migrate's RAM file vs QEMU's");
    }

    /** (b) {@code vm-migrate send --compat qemu tcp:...} to QEMU {@code -incoming tcp:127.0.0.1:PORT}. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void vmMigrateToQemuOverTcp(QemuVersion version) throws Exception {
        int port = QemuProcess.freePort();
        String status = sendToQemu(version, "tcp:127.0.0.1:" + port, "tcp:127.0.0.1:" + port, false);
        assertEquals("running", status, "the source guest ran, so QEMU resumes it");
    }

    /** (b) over a unix socket: QEMU {@code -incoming unix:PATH}. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void vmMigrateToQemuOverUnix(QemuVersion version) throws Exception {
        Path socket = dir.resolve("incoming.sock");
        String status = sendToQemu(version, "unix:" + socket, "unix:" + socket, false);
        assertEquals("running", status, "the source guest ran, so QEMU resumes it");
    }

    /** (b) through a file: {@code vm-migrate send file:F}, then QEMU {@code -incoming "exec:cat F"}. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void vmMigrateToQemuThroughExecCat(QemuVersion version) throws Exception {
        Path stream = dir.resolve("stream.mig");
        String status = sendToQemu(version, "file:" + stream, "exec:cat " + stream, true);
        assertEquals("running", status, "the source guest ran, so QEMU resumes it");
    }

    /** A paused source guest (globalstate "paused") stays paused in QEMU after the load. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void pausedGuestStaysPausedInQemu(QemuVersion version) throws Exception {
        int port = QemuProcess.freePort();
        String status = sendToQemu(version, "tcp:127.0.0.1:" + port, "tcp:127.0.0.1:" + port, false, "--paused",
                "--fill", "half_random");
        assertEquals("paused", status, "globalstate 'paused': QEMU does not start the guest");
    }

    /**
     * Sends an 8 MiB guest with a workload to a QEMU {@code -incoming INCOMING} (before QEMU is
     * started when {@code sendFirst}, as for a file), waits until QEMU leaves "inmigrate", quits
     * QEMU and compares its RAM file with ours. Returns QEMU's run state after the load.
     */
    private String sendToQemu(QemuVersion version, String sendUri, String incoming, boolean sendFirst,
            String... sendOptions) throws Exception {
        version.require();
        Path src = dir.resolve("src.ram");
        Path dst = dir.resolve("dst.ram");
        try (RandomAccessFile zero = new RandomAccessFile(dst.toFile(), "rw")) {
            zero.setLength(8 << 20);
        }
        List<String> send = new ArrayList<>(List.of("send", sendUri, "--compat", "qemu", "--machine", "none",
                "--ram-id", "mem", "--ram", "8M", "--ram-file", src.toString(), "--workload", "random:8M/s",
                "--warmup", "200ms"));
        send.addAll(List.of(sendOptions));

        CliProcess.Result sent = null;
        if (sendFirst) {
            sent = CliProcess.run(dir, send.toArray(String[]::new));
            assertEquals(0, sent.exitCode(), sent.describe());
        }
        String finalStatus;
        try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=8M,mem-path=" + dst + ",share=on",
                "-accel", "tcg", "-nodefaults", "-display", "none", "-incoming", incoming)) {
            if (!sendFirst) {
                // QEMU listens on the -incoming address before its main loop answers QMP.
                sent = CliProcess.run(dir, send.toArray(String[]::new));
                assertEquals(0, sent.exitCode(), sent.describe() + "\nQEMU:\n" + qemu.log());
            }
            JsonNode status = qemu.awaitStatusOtherThan("inmigrate");
            qemu.record("destination query-status after the load (" + incoming + "): " + status);
            JsonNode migrate = qemu.qmp.execute("query-migrate");
            qemu.record("destination query-migrate: " + migrate);
            finalStatus = status.path("status").asText();
            assertTrue(List.of("running", "paused", "postmigrate", "prelaunch").contains(finalStatus),
                    "QEMU loaded the stream: " + status + "\n" + qemu.log());
            qemu.quit();
        }
        byte[] source = Files.readAllBytes(src);
        assertTrue(java.util.Arrays.mismatch(source, new byte[source.length]) >= 0,
                "the source RAM is all zero: the comparison would prove little");
        QemuTestData.assertSameBytes(source, Files.readAllBytes(dst), "QEMU's RAM file vs vm-migrate's (" + sent.what() + ")");
        return finalStatus;
    }
}
