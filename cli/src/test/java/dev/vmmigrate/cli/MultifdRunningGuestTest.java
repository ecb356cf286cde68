package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmmigrate.cli.BootSectorGuest.Machine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.regex.Pattern;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A running QEMU guest ({@link BootSectorGuest} on {@code -machine pc}: it rewrites 512 KiB of
 * RAM on every pass) migrated with multifd x2 into {@code receive --save}: several dirty rounds,
 * so pages go again over other channels than the first time, and only the sync points keep a
 * newer copy from being overwritten by an older one. The checkpoint's RAM is compared with QEMU's
 * own memory after the migration (pmemsave).
 */
class MultifdRunningGuestTest {
    private static final int SERIAL_BYTES = 100;

    @TempDir
    Path dir;

    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void runningGuestWithMultifdIntoReceiveSave(QemuVersion version) throws Exception {
        version.require();
        BootSectorGuest guest = BootSectorGuest.build(dir);
        Path serial = dir.resolve("serial.txt");
        Path saved = dir.resolve("saved.mig");
        Path pmem = dir.resolve("pmemsave.bin");
        try (QemuProcess a = QemuProcess.startNamed(version, dir, "a",
                guest.qemuArgs(Machine.PC, serial).toArray(String[]::new));
             CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--save", saved.toString(),
                     "--run-for", "0", "--capability", "multifd", "--multifd-channels", "2")) {
            BootSectorGuest.awaitSerialGrowth(a, serial, 0, SERIAL_BYTES);
            String port = receive.awaitStderr(Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)"));
            var capabilities = QmpClient.args().arrayNode();
            capabilities.addObject().put("capability", "multifd").put("state", true);
            a.qmp.execute("migrate-set-capabilities", QmpClient.args().set("capabilities", capabilities));
            a.qmp.execute("migrate-set-parameters", QmpClient.args().put("multifd-channels", 2));
            a.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + port));
            JsonNode info = a.awaitMigration();
            a.record("running guest, multifd x2, source query-migrate: " + info);
            assertEquals("completed", info.path("status").asText(), info + "\n" + a.log() + "\nreceive:\n"
                    + receive.stderr());
            assertTrue(info.path("ram").path("dirty-sync-count").asInt() >= 2, "more than one round: " + info);
            CliProcess.Result received = receive.await();
            assertEquals(0, received.exitCode(), received.describe());
            a.qmp.execute("pmemsave", QmpClient.args().put("val", 0).put("size", BootSectorGuest.RAM_BYTES)
                    .put("filename", pmem.toString()));
            a.quit();
        }
        Path extract = dir.resolve("extract");
        CliProcess.Result extracted = CliProcess.run(dir, "inspect", "--extract", extract.toString(), saved.toString());
        assertEquals(0, extracted.exitCode(), extracted.describe());
        byte[] ram = Files.readAllBytes(extract.resolve(BootSectorGuest.MAIN_RAM_BLOCK + ".ram"));
        byte[] memory = Files.readAllBytes(pmem);
        if (version == QemuVersion.V10_0) {
            QemuTestData.assertSameBytes(memory, ram, "QEMU's memory after the migration vs the checkpoint's "
                    + BootSectorGuest.MAIN_RAM_BLOCK);
        } else {
            // QEMU 7.2's own stream carries the guest's working set a few passes older than its
            // pmemsave (QemuMachineTest says why): the guest's code, which never changes, must match.
            int from = (int) BootSectorGuest.CODE_START;
            int to = (int) BootSectorGuest.CODE_END;
            assertArrayEquals(Arrays.copyOfRange(memory, from, to), Arrays.copyOfRange(ram, from, to),
                    "the boot sector in the checkpoint");
            assertEquals(BootSectorGuest.RAM_BYTES, ram.length);
        }
    }
}
