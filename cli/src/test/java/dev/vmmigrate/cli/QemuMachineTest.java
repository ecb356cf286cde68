package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmmigrate.cli.BootSectorGuest.Machine;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Real x86 machines ({@code -machine pc} and {@code q35}, TCG) running a tiny guest
 * ({@link BootSectorGuest}: it rewrites 512 KiB of RAM and writes a byte to COM1 on every pass),
 * migrated live, each test once per machine and {@link QemuVersion} (source and destination QEMU
 * of the same version):
 *
 * <ul>
 *   <li>QEMU → QEMU through a file, which checks the harness itself: the guest resumes in the
 *       destination where it was (its CPU in the boot sector, its serial sequence continuing).
 * </ul>
 *
 * <p>The only durations are hang guards (QEMU's, the CLI's, {@link BootSectorGuest#SERIAL_GUARD}).
 */
class QemuMachineTest {
    /** Serial bytes (guest passes) to see before migrating, and after a resume. */
    private static final int SERIAL_BYTES = 100;

    @TempDir
    Path dir;

    static Stream<Arguments> machines() {
        List<Arguments> all = new ArrayList<>();
        for (QemuVersion version : QemuVersion.values()) {
            for (Machine machine : Machine.values()) {
                all.add(Arguments.of(version, machine));
            }
        }
        return all.stream();
    }

    // ---------------------------------------------------------------------------------------
    // QEMU → QEMU: the harness
    // ---------------------------------------------------------------------------------------

    /**
     * QEMU A runs the guest and migrates it with {@code exec:cat > F}; QEMU B, the same command
     * line plus {@code -S -incoming "exec:cat F"}, loads it: its CPU is in the boot sector, not at
     * the reset vector; after {@code cont} its serial output grows, continuing A's sequence.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("machines")
    void qemuToQemuThroughAFile(QemuVersion version, Machine machine) throws Exception {
        BootSectorGuest guest = guest(version);
        Path stream = dir.resolve("orig.mig");
        Path serialA = dir.resolve("serial-a.txt");
        try (QemuProcess a = startRunning(version, guest, machine, "a", serialA)) {
            migrateTo(a, "exec:cat > " + CliProcess.shellQuote(stream.toString()));
            a.record(version + " " + machine + ": stream of " + Files.size(stream) + " bytes");
            a.quit();
        }
        resumeFromFile(version, guest, machine, stream, serialA, "QEMU's own stream");
    }

    // ---------------------------------------------------------------------------------------
    // helpers
    // ---------------------------------------------------------------------------------------

    private BootSectorGuest guest(QemuVersion version) throws Exception {
        version.require(); // before building anything
        return BootSectorGuest.build(dir);
    }

    /** Starts QEMU {@code name} running the guest and waits until it has made some passes. */
    private QemuProcess startRunning(QemuVersion version, BootSectorGuest guest, Machine machine, String name,
            Path serial) throws Exception {
        QemuProcess qemu = QemuProcess.startNamed(version, dir, name,
                guest.qemuArgs(machine, serial).toArray(String[]::new));
        try {
            BootSectorGuest.awaitSerialGrowth(qemu, serial, 0, SERIAL_BYTES);
            return qemu;
        } catch (Throwable t) {
            qemu.close();
            throw t;
        }
    }

    /** QMP migrate to {@code uri}; the migration must complete and leave the source in postmigrate. */
    private static void migrateTo(QemuProcess source, String uri) throws Exception {
        source.qmp.execute("migrate", QmpClient.args().put("uri", uri));
        JsonNode info = source.awaitMigration();
        source.record("source query-migrate at the end: " + info);
        assertEquals("completed", info.path("status").asText(), info + "\n" + source.log());
        JsonNode status = source.executeOrFail("query-status");
        assertEquals("postmigrate", status.path("status").asText(), status.toString());
    }

    /**
     * QEMU B, the guest's command line plus {@code -S -incoming "exec:cat STREAM"}: loaded and
     * paused, the CPU in the boot sector; after {@code cont} the guest runs on where it was.
     */
    private void resumeFromFile(QemuVersion version, BootSectorGuest guest, Machine machine, Path stream,
            Path serialA, String what) throws Exception {
        Path serialB = dir.resolve("serial-b-" + stream.getFileName() + ".txt");
        List<String> argsB = guest.qemuArgs(machine, serialB);
        argsB.addAll(List.of("-S", "-incoming", "exec:cat " + CliProcess.shellQuote(stream.toString())));
        String name = "b-" + stream.getFileName();
        try (QemuProcess b = QemuProcess.startNamed(version, dir, name, argsB.toArray(String[]::new))) {
            JsonNode status = b.awaitStatusOtherThan("inmigrate");
            b.record(version + " " + machine + " from " + what + ": destination " + status + ", "
                    + b.executeOrFail("query-migrate"));
            assertEquals("paused", status.path("status").asText(), "loaded with -S: " + status + "\n" + b.log());
            String cpu = BootSectorGuest.assertInGuestCode(b, "QEMU B loaded from " + what);
            b.record("  after the load: " + cpu);
            assertEquals(0, BootSectorGuest.serialSize(serialB), "QEMU B's guest wrote to COM1 before cont");
            b.executeOrFail("cont");
            assertResumedWhereItWas(b, serialA, serialB, "QEMU B loaded from " + what);
            b.quit();
        }
    }

    /**
     * The destination's guest runs on from where the source's stopped: its serial output grows,
     * its first byte is the one after the source's last (the pass counter travelled in the CPU
     * state), and its CPU is in the boot sector.
     */
    private static void assertResumedWhereItWas(QemuProcess b, Path serialA, Path serialB, String what)
            throws Exception {
        BootSectorGuest.awaitSerialGrowth(b, serialB, 0, SERIAL_BYTES);
        int last = BootSectorGuest.lastSerialByte(serialA);
        int first = BootSectorGuest.firstSerialByte(serialB);
        assertEquals(BootSectorGuest.nextSerialByte(last), first, what + ": the first serial byte after the migration "
                + "follows the source's last one ('" + (char) last + "'), as the pass counter went on");
        BootSectorGuest.assertInGuestCode(b, what + ", running");
    }
}
