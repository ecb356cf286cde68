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
 * QEMU 7.2 and 10.0 switch to postcopy (migrate-start-postcopy) while migrating into vm-migrate
 * receive: the destination takes the discard, the PACKAGED device state, LISTEN and RUN, then the
 * rest of the RAM, and answers with SHUT; RAM byte for byte at the end.
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
}
