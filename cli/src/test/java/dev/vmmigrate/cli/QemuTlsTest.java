package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmmigrate.testing.TestPki;
import dev.vmmigrate.testing.TestPki.KeyFormat;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.regex.Pattern;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Mutual TLS with QEMU 7.2 and 10.0 (gnutls), both ways, with one tls-creds-x509 directory made at
 * test time (PKCS#1 RSA keys, as certtool and openssl genrsa -traditional write them): QEMU with
 * {@code -object tls-creds-x509,endpoint=client} and {@code migrate-set-parameters tls-creds}
 * migrates into {@code receive --tls-creds}; {@code send --tls-creds} migrates into QEMU
 * {@code -incoming defer} with {@code endpoint=server,verify-peer=on}; RAM byte for byte. QEMU
 * refuses a client of another CA, and send says why.
 */
class QemuTlsTest {
    private static final Pattern TCP_PORT = Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)");
    private static final TestPki CA = TestPki.newCa("vm-migrate QEMU interop CA");

    @TempDir
    Path dir;

    private static void useTls(QemuProcess qemu) throws Exception {
        qemu.qmp.execute("migrate-set-parameters", QmpClient.args().put("tls-creds", "tls0"));
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuIntoReceiveOverTls(QemuVersion version) throws Exception {
        Path creds = CA.creds(dir.resolve("creds")).keys(KeyFormat.PKCS1).write();
        byte[] content = QemuTestData.NONE_2M.ram();
        Path src = Files.write(dir.resolve("src.ram"), content);
        Path dst = dir.resolve("dst.ram");
        try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=2M,mem-path=" + src + ",share=on",
                "-object", "tls-creds-x509,id=tls0,dir=" + creds + ",endpoint=client",
                "-accel", "tcg", "-nodefaults", "-display", "none", "-S");
             CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram-id", "mem",
                     "--ram-file", dst.toString(), "--run-for", "0", "--tls-creds", creds.toString())) {
            useTls(qemu);
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + receive.awaitStderr(TCP_PORT)));
            JsonNode info = qemu.awaitMigration();
            assertEquals("completed", info.path("status").asText(), info + "\n" + qemu.log());
            CliProcess.Result received = receive.await();
            assertEquals(0, received.exitCode(), received.describe());
            qemu.quit();
        }
        QemuTestData.assertSameBytes(content, Files.readAllBytes(dst), "vm-migrate's RAM file vs QEMU's (over TLS)");
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void sendIntoQemuOverTls(QemuVersion version) throws Exception {
        Path creds = CA.creds(dir.resolve("creds")).keys(KeyFormat.PKCS1).write();
        Path src = dir.resolve("src.ram");
        Path dst = dir.resolve("dst.ram");
        try (RandomAccessFile zero = new RandomAccessFile(dst.toFile(), "rw")) {
            zero.setLength(8 << 20);
        }
        int port = QemuProcess.freePort();
        try (QemuProcess qemu = incomingQemu(version, creds, dst, port)) {
            CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + port, "--compat", "qemu",
                    "--ram-id", "mem", "--ram", "8M", "--ram-file", src.toString(), "--workload", "random:8M/s",
                    "--warmup", "200ms", "--tls-creds", creds.toString());
            assertEquals(0, sent.exitCode(), sent.describe() + "\nQEMU:\n" + qemu.log());
            JsonNode status = qemu.awaitStatusOtherThan("inmigrate");
            assertEquals("running", status.path("status").asText(), status + "\n" + qemu.log());
            qemu.quit();
        }
        byte[] source = Files.readAllBytes(src);
        assertTrue(java.util.Arrays.mismatch(source, new byte[source.length]) >= 0, "the source RAM is all zero");
        QemuTestData.assertSameBytes(source, Files.readAllBytes(dst), "QEMU's RAM file vs vm-migrate's (over TLS)");
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuRefusesAClientOfAnotherCa(QemuVersion version) throws Exception {
        Path creds = CA.creds(dir.resolve("creds")).write();
        Path other = TestPki.newCa("another CA").creds(dir.resolve("other")).write();
        Files.copy(creds.resolve("ca-cert.pem"), other.resolve("ca-cert.pem"), StandardCopyOption.REPLACE_EXISTING);
        Path dst = dir.resolve("dst.ram");
        try (RandomAccessFile zero = new RandomAccessFile(dst.toFile(), "rw")) {
            zero.setLength(8 << 20);
        }
        int port = QemuProcess.freePort();
        try (QemuProcess qemu = incomingQemu(version, creds, dst, port)) {
            CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + port, "--compat", "qemu",
                    "--ram-id", "mem", "--ram", "8M", "--fill", "half_random", "--capability", "return-path",
                    "--tls-creds", other.toString());
            assertEquals(ExitCode.FAILED, sent.exitCode(), sent.describe());
            String last = sent.stderrLines().getLast();
            // TLS 1.3: QEMU checks our certificate after the handshake and closes without an alert
            // (the return path makes send wait for QEMU's answer, which never comes).
            assertTrue(last.contains("TLS session with 127.0.0.1 failed: the peer closed the connection right after "
                    + "the handshake (it may have refused our certificate " + other.resolve("client-cert.pem") + ")"),
                    sent.describe() + "\nQEMU:\n" + qemu.log());
            assertTrue(qemu.log().contains("The certificate hasn't got a known issuer"), qemu.log());
            assertEquals("inmigrate", qemu.qmp.execute("query-status").path("status").asText(), "nothing loaded");
        }
    }

    /** QEMU {@code -incoming defer}, server credentials with verify-peer=on, then migrate-incoming on PORT. */
    private QemuProcess incomingQemu(QemuVersion version, Path creds, Path ram, int port) throws Exception {
        QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=8M,mem-path=" + ram + ",share=on",
                "-object", "tls-creds-x509,id=tls0,dir=" + creds + ",endpoint=server,verify-peer=on",
                "-accel", "tcg", "-nodefaults", "-display", "none", "-incoming", "defer");
        useTls(qemu);
        qemu.qmp.execute("migrate-incoming", QmpClient.args().put("uri", "tcp:127.0.0.1:" + port));
        return qemu;
    }
}
