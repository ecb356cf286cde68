package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * QEMU's return path with QEMU 7.2 and 10.0, both ways: QEMU with return-path (or postcopy-ram,
 * which opens the return path and advises postcopy) migrates into vm-migrate receive, which
 * answers its PING and SHUTs; a refusal by receive fails QEMU's migration and QEMU's guest runs
 * on; vm-migrate send --capability return-path completes only on QEMU's SHUT.
 */
class QemuReturnPathTest {
    private static final Pattern TCP_PORT = Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)");

    @TempDir
    Path dir;

    private QemuProcess source(QemuVersion version, Path ram) throws Exception {
        return QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=2M,mem-path=" + ram + ",share=on",
                "-accel", "tcg", "-nodefaults", "-display", "none");
    }

    private static void enable(QemuProcess qemu, String... capabilities) throws Exception {
        var list = QmpClient.args().arrayNode();
        for (String capability : capabilities) {
            list.addObject().put("capability", capability).put("state", true);
        }
        qemu.qmp.execute("migrate-set-capabilities", QmpClient.args().set("capabilities", list));
    }

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuWithReturnPathIntoReceive(QemuVersion version) throws Exception {
        migrateIntoReceive(version, "return-path");
    }

    /** postcopy-ram opens the return path and sends POSTCOPY_ADVISE; never switched, it is precopy. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuWithPostcopyRamEnabledIntoReceive(QemuVersion version) throws Exception {
        migrateIntoReceive(version, "postcopy-ram");
    }

    private void migrateIntoReceive(QemuVersion version, String capability) throws Exception {
        byte[] content = QemuTestData.NONE_2M.ram();
        Path src = Files.write(dir.resolve("src.ram"), content);
        Path dst = dir.resolve("dst.ram");
        try (QemuProcess qemu = source(version, src);
             CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram-id", "mem",
                     "--ram-file", dst.toString(), "--run-for", "0")) {
            enable(qemu, capability);
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + receive.awaitStderr(TCP_PORT)));
            JsonNode info = qemu.awaitMigration();
            assertEquals("completed", info.path("status").asText(), info + "\n" + qemu.log());
            assertEquals("postmigrate", qemu.qmp.execute("query-status").path("status").asText());
            CliProcess.Result received = receive.await();
            assertEquals(0, received.exitCode(), received.describe());
            qemu.quit();
        }
        QemuTestData.assertSameBytes(content, Files.readAllBytes(dst), "vm-migrate's RAM file vs QEMU's");
    }

    /** receive refuses (its RAM is smaller): QEMU's migration fails on the SHUT and its guest runs on. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void receiveRefusalFailsQemusMigration(QemuVersion version) throws Exception {
        Path src = Files.write(dir.resolve("src.ram"), QemuTestData.NONE_2M.ram());
        try (QemuProcess qemu = source(version, src);
             CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram-id", "mem",
                     "--ram", "1M", "--run-for", "0")) {
            enable(qemu, "return-path");
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + receive.awaitStderr(TCP_PORT)));
            JsonNode info = qemu.awaitMigration();
            assertEquals("failed", info.path("status").asText(), info + "\n" + qemu.log());
            assertEquals("running", qemu.qmp.execute("query-status").path("status").asText(),
                    "QEMU's guest runs on after the destination refused it");
            CliProcess.Result received = receive.await();
            assertEquals(ExitCode.FAILED, received.exitCode(), received.describe());
            qemu.quit();
        }
    }

    /** vm-migrate send with return-path into QEMU: completed on QEMU's SHUT; refused: failed, guest runs on. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void sendWithReturnPathIntoQemu(QemuVersion version) throws Exception {
        for (String size : List.of("2M", "1M")) {
            Path dst = dir.resolve("dst-" + size + ".ram");
            int port = QemuProcess.freePort();
            try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                    "-object", "memory-backend-file,id=mem,size=" + size + ",mem-path=" + dst + ",share=on",
                    "-accel", "tcg", "-nodefaults", "-display", "none", "-incoming", "tcp:127.0.0.1:" + port)) {
                CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + port, "--compat", "qemu",
                        "--ram-id", "mem", "--ram", "2M", "--fill", "half_random", "--workload", "random:1M/s",
                        "--capability", "return-path", "--json");
                if (size.equals("2M")) {
                    assertEquals(0, sent.exitCode(), sent.describe() + "\n" + qemu.log());
                    assertTrue(!sent.stderr().contains("verdict is unknown"), sent.describe());
                } else {
                    assertNotEquals(0, sent.exitCode(), sent.describe());
                    String last = sent.stderrLines().getLast();
                    // QEMU ends on a failed load without a SHUT: the source names the destination going away.
                    assertTrue(last.contains("\"status\":\"failed\"") && last.contains("the destination"), last);
                }
            }
        }
    }
}
