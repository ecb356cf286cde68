package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmmigrate.cli.BootSectorGuest.Machine;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;
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
 *       destination where it was (its CPU in the boot sector, its serial sequence continuing);
 *   <li>QEMU → {@code vm-migrate receive --save} (a checkpoint) → QEMU, with the checkpoint's
 *       device sections, RAM and size checked;
 *   <li>QEMU → {@code vm-migrate relay} → QEMU, live;
 *   <li>the checkpoint → {@code vm-migrate send --load} → QEMU.
 * </ul>
 *
 * <p>The only durations are hang guards (QEMU's, the CLI's, {@link BootSectorGuest#SERIAL_GUARD}).
 */
class QemuMachineTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LISTENING = Pattern.compile("listening on (?:tcp:)?127\\.0\\.0\\.1:(\\d+)");
    private static final int PAGE = 4096;
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
    // vm-migrate receive --save: a checkpoint
    // ---------------------------------------------------------------------------------------

    /**
     * QEMU A migrates with {@code exec:tee ORIG | vm-migrate receive fd:0 --save SAVED --run-for
     * 0}. QEMU B loads SAVED ({@code -S -incoming "exec:cat SAVED"}) and resumes the guest.
     * {@code inspect --json} lists the same device sections in SAVED as in ORIG; {@code inspect
     * --extract} of SAVED gives pc.ram equal to A's {@code pmemsave} after the migration; and
     * SAVED is not much larger than its non-zero RAM, device state and vmdesc.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("machines")
    void checkpointThroughReceiveSave(QemuVersion version, Machine machine) throws Exception {
        BootSectorGuest guest = guest(version);
        Checkpoint checkpoint = checkpoint(version, guest, machine);

        resumeFromFile(version, guest, machine, checkpoint.saved(), checkpoint.serial(), "the checkpoint");

        JsonNode orig = inspectJson(checkpoint.orig());
        JsonNode saved = inspectJson(checkpoint.saved());
        assertEquals(orig.path("machine").asText(), saved.path("machine").asText(), "machine type");
        assertEquals(machine.machineType(version), saved.path("machine").asText(), "machine type");
        assertEquals(deviceSections(orig), deviceSections(saved),
                "the device (FULL) sections, name and instance id in stream order: QEMU's stream vs the checkpoint");

        Path extract = dir.resolve("extract");
        CliProcess.Result extracted = CliProcess.run(dir, "inspect", "--extract", extract.toString(),
                checkpoint.saved().toString());
        assertEquals(0, extracted.exitCode(), extracted.describe());
        Path mainRam = extract.resolve(BootSectorGuest.MAIN_RAM_BLOCK + ".ram");
        assertTrue(Files.isRegularFile(mainRam), mainRam + ": " + extracted.describe());
        Path origExtract = dir.resolve("extract-orig");
        CliProcess.Result origExtracted = CliProcess.run(dir, "inspect", "--extract", origExtract.toString(),
                checkpoint.orig().toString());
        assertEquals(0, origExtracted.exitCode(), origExtracted.describe());
        byte[] sent = Files.readAllBytes(origExtract.resolve(BootSectorGuest.MAIN_RAM_BLOCK + ".ram"));
        QemuTestData.assertSameBytes(sent, Files.readAllBytes(mainRam),
                "the RAM QEMU A sent (its stream, extracted) vs the checkpoint's " + BootSectorGuest.MAIN_RAM_BLOCK);
        // QEMU's own stream is the reference. QEMU 10.0's equals A's memory at the end. QEMU 7.2's
        // (pc and q35, every run here) carries the guest's working set several passes older than
        // A's pmemsave: a QEMU 7.2 that loads its own stream gets that older memory too (checked by
        // hand), so it is QEMU 7.2's, not ours; it is printed rather than asserted for 7.2.
        byte[] pmem = Files.readAllBytes(checkpoint.pmemsave());
        if (version == QemuVersion.V10_0) {
            QemuTestData.assertSameBytes(pmem, Files.readAllBytes(mainRam), "QEMU A's pmemsave 0.."
                    + BootSectorGuest.RAM_BYTES + " after the migration vs the checkpoint's "
                    + BootSectorGuest.MAIN_RAM_BLOCK);
        }
        System.out.printf("[vm-migrate] %s %s: QEMU A's stream %s its pmemsave after the migration%n", version,
                machine, java.util.Arrays.equals(sent, pmem) ? "equals" : "DIFFERS FROM");

        // Size: non-zero RAM pages + device state + vmdesc + 1% of RAM for the framing.
        long nonZeroPages = 0;
        try (Stream<Path> files = Files.list(extract)) {
            for (Path file : files.filter(f -> f.toString().endsWith(".ram")).toList()) {
                nonZeroPages += nonZeroPages(Files.readAllBytes(file));
            }
        }
        long deviceBytes = 0;
        for (JsonNode section : saved.path("sections")) {
            if ("FULL".equals(section.path("type").asText())) {
                deviceBytes += section.path("bytes").asLong();
            }
        }
        long totalRam = 0;
        for (JsonNode block : saved.path("ram")) {
            totalRam += block.path("length").asLong();
        }
        long vmdesc = saved.path("vmdesc-size").asLong();
        long bound = nonZeroPages * PAGE + deviceBytes + vmdesc + totalRam / 100;
        long size = Files.size(checkpoint.saved());
        System.out.printf("[vm-migrate] %s %s: QEMU's stream %d bytes, checkpoint %d bytes; bound %d = %d non-zero "
                        + "pages + %d device bytes + %d vmdesc + 1%% of %d RAM%n", version, machine,
                Files.size(checkpoint.orig()), size, bound, nonZeroPages, deviceBytes, vmdesc, totalRam);
        assertTrue(totalRam >= BootSectorGuest.RAM_BYTES, "RAM blocks in inspect --json: " + saved.path("ram"));
        assertTrue(size <= bound, "the checkpoint has " + size + " bytes, more than " + bound + " (" + nonZeroPages
                + " non-zero pages, " + deviceBytes + " bytes of device state, " + vmdesc + " of vmdesc, 1% of "
                + totalRam + " bytes of RAM)");
    }

    // ---------------------------------------------------------------------------------------
    // vm-migrate relay
    // ---------------------------------------------------------------------------------------

    /**
     * QEMU B {@code -incoming tcp:127.0.0.1:PORTB}; {@code vm-migrate relay tcp:127.0.0.1:0
     * tcp:127.0.0.1:PORTB}; QEMU A migrates to the relay: A completed, B running, the relay exits
     * 0, and B's guest goes on where A's was.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("machines")
    void liveThroughRelay(QemuVersion version, Machine machine) throws Exception {
        BootSectorGuest guest = guest(version);
        int portB = QemuProcess.freePort();
        Path serialA = dir.resolve("serial-a.txt");
        Path serialB = dir.resolve("serial-b.txt");
        List<String> argsB = guest.qemuArgs(machine, serialB);
        argsB.addAll(List.of("-incoming", "tcp:127.0.0.1:" + portB));
        try (QemuProcess b = QemuProcess.startNamed(version, dir, "b", argsB.toArray(String[]::new));
             QemuProcess a = startRunning(version, guest, machine, "a", serialA);
             CliProcess relay = CliProcess.start(dir, "relay", "tcp:127.0.0.1:0", "tcp:127.0.0.1:" + portB)) {
            String port = relay.awaitStderr(LISTENING);
            migrateTo(a, "tcp:127.0.0.1:" + port);
            JsonNode status = b.awaitStatusOtherThan("inmigrate");
            b.record(version + " " + machine + " through the relay: destination " + status + ", "
                    + b.executeOrFail("query-migrate"));
            assertEquals("running", status.path("status").asText(), status + "\n" + b.log());
            CliProcess.Result relayed = relay.await();
            assertEquals(0, relayed.exitCode(), relayed.describe());
            assertResumedWhereItWas(b, serialA, serialB, "QEMU B after the relay");
            a.quit();
            b.quit();
        }
    }

    // ---------------------------------------------------------------------------------------
    // vm-migrate send --load: a checkpoint back into QEMU
    // ---------------------------------------------------------------------------------------

    /**
     * The checkpoint of {@link #checkpointThroughReceiveSave} into QEMU B {@code -incoming tcp}
     * with {@code vm-migrate send tcp:127.0.0.1:PORTB --load SAVED} (which implies --compat qemu
     * for a machine other than none): B runs the guest from where A left it.
     */
    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("machines")
    void restoreCheckpointWithSendLoad(QemuVersion version, Machine machine) throws Exception {
        BootSectorGuest guest = guest(version);
        Checkpoint checkpoint = checkpoint(version, guest, machine);
        int portB = QemuProcess.freePort();
        Path serialB = dir.resolve("serial-b.txt");
        List<String> argsB = guest.qemuArgs(machine, serialB);
        argsB.addAll(List.of("-incoming", "tcp:127.0.0.1:" + portB));
        try (QemuProcess b = QemuProcess.startNamed(version, dir, "b", argsB.toArray(String[]::new))) {
            // QEMU listens on the -incoming address before its main loop answers QMP.
            CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + portB, "--load",
                    checkpoint.saved().toString());
            assertEquals(0, sent.exitCode(), sent.describe() + "\nQEMU B:\n" + b.log());
            JsonNode status = b.awaitStatusOtherThan("inmigrate");
            b.record(version + " " + machine + " from send --load: destination " + status + ", "
                    + b.executeOrFail("query-migrate"));
            assertEquals("running", status.path("status").asText(), status + "\n" + b.log());
            assertResumedWhereItWas(b, checkpoint.serial(), serialB, "QEMU B after send --load");
            b.quit();
        }
    }

    // ---------------------------------------------------------------------------------------
    // helpers
    // ---------------------------------------------------------------------------------------

    /** ORIG: QEMU's stream; SAVED: receive --save's checkpoint; A's pmemsave and serial output. */
    private record Checkpoint(Path orig, Path saved, Path pmemsave, Path serial) {
    }

    private BootSectorGuest guest(QemuVersion version) throws Exception {
        version.require(); // before building anything
        return BootSectorGuest.build(dir);
    }

    /**
     * QEMU A runs the guest and migrates with {@code exec:tee ORIG | vm-migrate receive fd:0
     * --save SAVED --run-for 0}; receive must exit 0. Then A (postmigrate) saves its memory with
     * {@code pmemsave} and quits.
     */
    private Checkpoint checkpoint(QemuVersion version, BootSectorGuest guest, Machine machine) throws Exception {
        Path orig = dir.resolve("orig.mig");
        Path saved = dir.resolve("saved.mig");
        Path pmem = dir.resolve("pmemsave.bin");
        Path serialA = dir.resolve("serial-a.txt");
        Path receiveLog = dir.resolve("receive.log");
        Path receiveStatus = dir.resolve("receive.status");
        String receive = CliProcess.shellCommand("receive", "fd:0", "--save", saved.toString(), "--run-for", "0");
        String statusTmp = CliProcess.shellQuote(receiveStatus + ".tmp");
        // QEMU runs this with /bin/sh -c; receive's exit status lands in receive.status once it is done.
        String uri = "exec:tee " + CliProcess.shellQuote(orig.toString()) + " | " + receive
                + " 2>" + CliProcess.shellQuote(receiveLog.toString())
                + "; echo $? >" + statusTmp + " && mv " + statusTmp + " "
                + CliProcess.shellQuote(receiveStatus.toString());
        try (QemuProcess a = startRunning(version, guest, machine, "a", serialA)) {
            a.qmp.execute("migrate", QmpClient.args().put("uri", uri));
            JsonNode info = a.awaitMigration();
            a.record("source query-migrate at the end: " + info);
            // The receiver's verdict first: when it fails, QEMU's migration fails too (broken pipe).
            String status = awaitFile(receiveStatus, a).strip();
            String printed = Files.exists(receiveLog) ? Files.readString(receiveLog, StandardCharsets.UTF_8) : "";
            System.out.println("[vm-migrate] " + version + " " + machine + ": receive --save exited " + status + ": "
                    + printed.strip().replace('\n', '|'));
            assertEquals("0", status, "vm-migrate receive fd:0 --save SAVED --run-for 0 (from " + version
                    + " " + machine + ") exited " + status + "; its stderr:\n" + printed);
            assertEquals("completed", info.path("status").asText(), info + "\n" + a.log());
            JsonNode after = a.executeOrFail("query-status");
            assertEquals("postmigrate", after.path("status").asText(), after.toString());
            a.qmp.execute("pmemsave", QmpClient.args().put("val", 0).put("size", BootSectorGuest.RAM_BYTES)
                    .put("filename", pmem.toString()));
            a.quit();
        }
        assertTrue(Files.isRegularFile(saved), "receive --save wrote no " + saved);
        return new Checkpoint(orig, saved, pmem, serialA);
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

    /** Waits (hang guard: the CLI's) until {@code file} exists and returns its content. */
    private static String awaitFile(Path file, QemuProcess qemu) throws Exception {
        long deadline = System.nanoTime() + CliProcess.HANG_GUARD.toNanos();
        while (!Files.exists(file)) {
            if (System.nanoTime() > deadline) {
                fail(file.getFileName() + " not written within the hang guard of " + CliProcess.HANG_GUARD.toSeconds()
                        + " s; QEMU:\n" + qemu.log());
            }
            TimeUnit.MILLISECONDS.sleep(50);
        }
        return Files.readString(file, StandardCharsets.UTF_8);
    }

    private JsonNode inspectJson(Path stream) throws IOException {
        CliProcess.Result r = CliProcess.run(dir, "inspect", "--json", stream.toString());
        assertEquals(0, r.exitCode(), r.describe());
        return JSON.readTree(r.stdout());
    }

    /** "name#instance-id" of each FULL section (device state), in stream order. */
    private static List<String> deviceSections(JsonNode report) {
        List<String> devices = new ArrayList<>();
        for (JsonNode section : report.path("sections")) {
            if ("FULL".equals(section.path("type").asText())) {
                devices.add(section.path("name").asText() + "#" + section.path("instance-id").asText());
            }
        }
        return devices;
    }

    private static long nonZeroPages(byte[] ram) {
        long pages = 0;
        byte[] zero = new byte[PAGE];
        for (int p = 0; p < ram.length; p += PAGE) {
            int end = Math.min(p + PAGE, ram.length);
            if (Arrays.mismatch(ram, p, end, zero, 0, end - p) >= 0) {
                pages++;
            }
        }
        return pages;
    }
}
