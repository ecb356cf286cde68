package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Postcopy with QEMU 7.2 and 10.0 both ways, and between two vm-migrate processes. QEMU switches (migrate-start-postcopy) while
 * migrating into vm-migrate receive: the destination takes the discard, the PACKAGED device state,
 * LISTEN and RUN, then the rest of the RAM, and answers with SHUT. vm-migrate send
 * --postcopy-after switches while migrating into QEMU. RAM byte for byte at the end.
 */
class QemuPostcopyTest {
    private static final Pattern TCP_PORT = Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)");
    private static final int RAM = 32 << 20;

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuSwitchesToPostcopyIntoReceive(QemuVersion version) throws Exception {
        byte[] content = new byte[RAM];
        new Random(7).nextBytes(content);
        Path src = Files.write(dir.resolve("src.ram"), content);
        Path dst = dir.resolve("dst.ram");
        try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=32M,mem-path=" + src + ",share=on",
                "-accel", "tcg", "-nodefaults", "-display", "none");
             CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram-id", "mem",
                     "--ram-file", dst.toString(), "--run-for", "0")) {
            var capabilities = QmpClient.args().arrayNode();
            capabilities.addObject().put("capability", "postcopy-ram").put("state", true);
            qemu.qmp.execute("migrate-set-capabilities", QmpClient.args().set("capabilities", capabilities));
            // Slow enough that precopy is still busy when the switch is asked for (32 MiB at 4 MiB/s).
            qemu.qmp.execute("migrate-set-parameters", QmpClient.args().put("max-bandwidth", 4 << 20));
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + receive.awaitStderr(TCP_PORT)));
            JsonNode info;
            do {
                Thread.sleep(50);
                info = qemu.qmp.execute("query-migrate");
            } while (!info.path("status").asText().equals("active") || info.path("ram").path("transferred").asLong() == 0);
            qemu.qmp.execute("migrate-start-postcopy");
            boolean sawPostcopy = false;
            while (true) {
                info = qemu.qmp.execute("query-migrate");
                String status = info.path("status").asText();
                sawPostcopy |= status.equals("postcopy-active");
                if (status.equals("completed") || status.equals("failed")) {
                    break;
                }
                Thread.sleep(20);
            }
            assertEquals("completed", info.path("status").asText(), info + "\n" + qemu.log());
            assertTrue(sawPostcopy || info.path("postcopy-requests").isNumber(), "QEMU went through postcopy-active: "
                    + info);
            CliProcess.Result received = receive.await();
            assertEquals(0, received.exitCode(), received.describe());
            assertTrue(received.stderr().contains("postcopy-active"), "receive reports the switch: "
                    + received.describe());
            qemu.quit();
        }
        QemuTestData.assertSameBytes(content, Files.readAllBytes(dst), "vm-migrate's RAM file vs QEMU's");
    }

    /**
     * vm-migrate send --postcopy-after auto into QEMU (-incoming defer, postcopy-ram on): a guest
     * dirtying 16 MiB/s over an 8 MiB/s link does not converge, so after the first pass the
     * source switches; QEMU's destination (userfaultfd, so its RAM is on tmpfs) runs the guest
     * and completes, RAM byte for byte with the stopped source.
     */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void sendSwitchesToPostcopyIntoQemu(QemuVersion version) throws Exception {
        Path src = dir.resolve("src.ram");
        // QEMU's postcopy destination registers its RAM with userfaultfd: anonymous or shmem only.
        Path dst = Files.createTempFile(Path.of("/dev/shm"), "vm-migrate-postcopy-", ".ram");
        try {
            int port = QemuProcess.freePort();
            try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                    "-object", "memory-backend-file,id=mem,size=32M,mem-path=" + dst + ",share=on",
                    "-accel", "tcg", "-nodefaults", "-display", "none", "-incoming", "defer")) {
                var capabilities = QmpClient.args().arrayNode();
                capabilities.addObject().put("capability", "postcopy-ram").put("state", true);
                qemu.qmp.execute("migrate-set-capabilities", QmpClient.args().set("capabilities", capabilities));
                qemu.qmp.execute("migrate-incoming", QmpClient.args().put("uri", "tcp:127.0.0.1:" + port));
                CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + port, "--compat", "qemu",
                        "--ram-id", "mem", "--ram", "32M", "--ram-file", src.toString(), "--fill", "half_random",
                        "--workload", "random:16M/s", "--max-bandwidth", "8M/s", "--postcopy-after", "auto", "--json");
                assertEquals(0, sent.exitCode(), sent.describe() + "\n" + qemu.log());
                JsonNode last = new com.fasterxml.jackson.databind.ObjectMapper().readTree(sent.stderrLines().getLast())
                        .path("return");
                assertEquals("completed", last.path("status").asText(), last.toString());
                assertTrue(last.path("ram").path("postcopy-bytes").asLong() > 0, "it went through postcopy: " + last);
                assertTrue(sent.stderr().contains("postcopy-active"), sent.describe());
                JsonNode info = qemu.awaitMigration();
                assertEquals("completed", info.path("status").asText(), info + "\n" + qemu.log());
                assertEquals("running", qemu.qmp.execute("query-status").path("status").asText());
                QemuTestData.assertSameBytes(Files.readAllBytes(src), Files.readAllBytes(dst),
                        "QEMU's RAM vs the source's, stopped at the switch");
                qemu.quit();
            }
        } finally {
            Files.deleteIfExists(dst);
        }
    }

    /**
     * send --postcopy-after auto into receive: the guest that does not converge runs at the
     * destination from the switch on, waiting for the pages it touches; the receiver names its
     * remote faults, the sender its postcopy bytes. A bad pass count is refused.
     */
    @org.junit.jupiter.api.Test
    void postcopyBetweenVmMigrateProcesses() throws Exception {
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "1s")) {
            CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + receive.awaitStderr(TCP_PORT),
                    "--ram", "64M", "--fill", "half_random", "--workload", "random:64M/s", "--max-bandwidth", "16M/s",
                    "--postcopy-after", "auto", "--json");
            assertEquals(0, sent.exitCode(), sent.describe());
            JsonNode last = new com.fasterxml.jackson.databind.ObjectMapper().readTree(sent.stderrLines().getLast())
                    .path("return");
            assertTrue(last.path("ram").path("postcopy-bytes").asLong() > 0, last.toString());
            CliProcess.Result received = receive.await();
            assertEquals(0, received.exitCode(), received.describe());
            assertTrue(received.stderr().contains("postcopy: it ran from the switch on, with "), received.describe());
        }
        CliProcess.Result bad = CliProcess.run(dir, "send", "tcp:127.0.0.1:1", "--ram", "4M", "--postcopy-after", "0");
        assertEquals(ExitCode.USAGE, bad.exitCode(), bad.describe());
        assertTrue(bad.stderr().contains("--postcopy-after 0"), bad.describe());
    }
}
