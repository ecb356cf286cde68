package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * More interoperability with a real QEMU (7.2 and 10.0: each test once per {@link QemuVersion}),
 * driven over QMP: a RUNNING QEMU guest into {@code vm-migrate receive}; the cases QEMU refuses
 * (machine type, RAM block name, RAM block length) refused by vm-migrate with a clear message,
 * and the same cases sent by {@code vm-migrate send --compat qemu} refused by QEMU; and
 * {@code inspect --extract} of a live
 * QEMU's stream against the memory QEMU had (its backend file and {@code pmemsave}).
 *
 * <p>What QEMU said is printed as {@code [QEMU] ...} lines (the test report's stdout). The only
 * durations are hang guards: QEMU is killed after {@link QemuProcess#GUARD} whatever happens.
 */
class QemuInteropMoreTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern LISTENING = Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)");

    @TempDir
    Path dir;

    // ---------------------------------------------------------------------------------------
    // 1. A running QEMU guest into vm-migrate receive
    // ---------------------------------------------------------------------------------------

    /**
     * QEMU's guest RUNNING ({@code cont}; machine none has no CPU but its run state is running,
     * so globalstate carries "running") into {@code receive --run-for 0 --json}: exit 0, the RAM
     * file equals QEMU's, the JSON says the guest was loaded. Then, to show what globalstate
     * carried, QEMU is continued and migrated once more to a file that {@code inspect --json}
     * decodes.
     */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void runningQemuGuestIntoReceive(QemuVersion version) throws Exception {
        JsonNode loaded = runningQemuInto(version, "--run-for", "0", "--json");
        // --run-for 0 loads the guest without resuming it (the workload would change RAM).
        assertTrue(loaded.path("data").path("message").asText().endsWith("paused"), loaded.toString());
    }

    /** The same into {@code receive --paused --run-for 0}. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void runningQemuGuestIntoReceivePaused(QemuVersion version) throws Exception {
        JsonNode loaded = runningQemuInto(version, "--paused", "--run-for", "0", "--json");
        assertTrue(loaded.path("data").path("message").asText().endsWith("paused"), loaded.toString());
    }

    /** Returns the receiver's LOADED event. */
    private JsonNode runningQemuInto(QemuVersion version, String... receiveOptions) throws Exception {
        version.require();
        byte[] content = random(2 << 20, 11);
        Path src = Files.write(dir.resolve("src.ram"), content);
        Path dst = dir.resolve("dst.ram");
        Path again = dir.resolve("again.mig");
        List<String> receiveArgs = new ArrayList<>(List.of("receive", "tcp:127.0.0.1:0", "--ram-id", "mem",
                "--ram-file", dst.toString()));
        receiveArgs.addAll(List.of(receiveOptions));
        CliProcess.Result received;
        try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=2M,mem-path=" + src + ",share=on",
                "-accel", "tcg", "-nodefaults", "-display", "none");
             CliProcess receive = CliProcess.start(dir, receiveArgs.toArray(String[]::new))) {
            qemu.qmp.execute("cont");
            JsonNode before = qemu.qmp.execute("query-status");
            qemu.record("source query-status before migrate: " + before);
            assertEquals("running", before.path("status").asText(), before.toString());
            assertTrue(before.path("running").asBoolean(), before.toString());

            String port = receive.awaitStderr(LISTENING);
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + port));
            JsonNode info = qemu.awaitMigration();
            qemu.record("source query-migrate at the end: " + info);
            assertEquals("completed", info.path("status").asText(), info + "\n" + qemu.log());
            JsonNode after = qemu.qmp.execute("query-status");
            qemu.record("source query-status after migrate: " + after);
            assertEquals("postmigrate", after.path("status").asText(), after.toString());

            received = receive.await();
            assertEquals(0, received.exitCode(), received.describe() + "\nQEMU:\n" + qemu.log());

            // What the stream carried: continue QEMU and migrate it, running, to a file.
            qemu.qmp.execute("cont");
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "exec:cat > " + CliProcess.shellQuote(again.toString())));
            JsonNode second = qemu.awaitMigration();
            assertEquals("completed", second.path("status").asText(), second + "\n" + qemu.log());
            qemu.quit();
        }
        QemuTestData.assertSameBytes(content, Files.readAllBytes(src), "QEMU's RAM file (machine none never writes it)");
        QemuTestData.assertSameBytes(content, Files.readAllBytes(dst), "vm-migrate's RAM file vs QEMU's");

        List<JsonNode> events = jsonLines(received);
        JsonNode loaded = events.stream().filter(e -> "LOADED".equals(e.path("event").asText())).findFirst()
                .orElseGet(() -> fail("no LOADED event: " + received.describe()));
        String message = loaded.path("data").path("message").asText();
        System.out.println("[vm-migrate] receive " + String.join(" ", receiveOptions) + ": " + message);
        assertTrue(message.startsWith("guest loaded"), received.describe());
        JsonNode summary = events.getLast();
        assertEquals("completed", summary.path("return").path("status").asText(), received.describe());
        assertTrue(events.stream().anyMatch(e -> "MIGRATION".equals(e.path("event").asText())
                && "completed".equals(e.path("data").path("status").asText())), received.describe());

        CliProcess.Result inspected = CliProcess.run(dir, "inspect", "--json", again.toString());
        assertEquals(0, inspected.exitCode(), inspected.describe());
        assertEquals("running", globalstateRunstate(JSON.readTree(inspected.stdout())),
                "a running QEMU guest's globalstate");
        return loaded;
    }

    /**
     * A PAUSED QEMU guest (globalstate "paused") into {@code receive --run-for 1s} (resume
     * allowed): like QEMU as a destination (pausedGuestStaysPausedInQemu), vm-migrate keeps it paused.
     */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void pausedQemuGuestStaysPausedInReceive(QemuVersion version) throws Exception {
        Path src = Files.write(dir.resolve("src.ram"), random(2 << 20, 12));
        Path dst = dir.resolve("dst.ram");
        CliProcess.Result received;
        try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=2M,mem-path=" + src + ",share=on",
                "-accel", "tcg", "-nodefaults", "-display", "none");
             CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--ram-id", "mem",
                     "--ram-file", dst.toString(), "--run-for", "1s", "--json")) {
            qemu.qmp.execute("stop");
            String port = receive.awaitStderr(LISTENING);
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + port));
            assertEquals("completed", qemu.awaitMigration().path("status").asText(), qemu.log());
            received = receive.await();
            qemu.quit();
        }
        assertEquals(0, received.exitCode(), received.describe());
        JsonNode loaded = jsonLines(received).stream().filter(e -> "LOADED".equals(e.path("event").asText()))
                .findFirst().orElseGet(() -> fail(received.describe()));
        assertTrue(loaded.path("data").path("message").asText().endsWith("paused"),
                "globalstate 'paused': the receiver does not start the guest: " + loaded);
    }

    // ---------------------------------------------------------------------------------------
    // 2. QEMU as the source: vm-migrate receive refuses what QEMU would refuse
    // ---------------------------------------------------------------------------------------

    /** (a) QEMU {@code -machine pc} (pc-i440fx-7.2 or -10.0) into {@code receive --machine none}. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void receiveRefusesAnotherMachineTypeFromLiveQemu(QemuVersion version) throws Exception {
        CliProcess.Result r = qemuSourceInto(version, List.of("-machine", "pc,memory-backend=mem", "-m", "16M",
                        "-object", "memory-backend-ram,id=mem,size=16M"),
                "--machine", "none", "--ram-id", "mem");
        String error = assertOneLineFailure(r, version.pcMachineType());
        assertTrue(error.contains("'none'"), "names both machine types: " + r.describe());
    }

    /** (b) QEMU's block "mem" into {@code receive --ram-id ram --ram 2M}. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void receiveRefusesAnUnknownRamBlockFromLiveQemu(QemuVersion version) throws Exception {
        CliProcess.Result r = qemuSourceInto(version, List.of("-machine", "none,memory-backend=mem",
                        "-object", "memory-backend-ram,id=mem,size=2M"),
                "--ram-id", "ram", "--ram", "2M");
        assertOneLineFailure(r, "'mem'");
    }

    /** (c) QEMU's 2 MiB block "mem" into {@code receive --ram-id mem --ram 4M}. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void receiveRefusesAnotherRamLengthFromLiveQemu(QemuVersion version) throws Exception {
        CliProcess.Result r = qemuSourceInto(version, List.of("-machine", "none,memory-backend=mem",
                        "-object", "memory-backend-ram,id=mem,size=2M"),
                "--ram-id", "mem", "--ram", "4M");
        String error = assertOneLineFailure(r, "2097152");
        assertTrue(error.contains("4194304"), "names both lengths: " + r.describe());
    }

    /**
     * Runs QEMU with {@code machineArgs}, {@code cont}, migrates it to {@code vm-migrate receive
     * tcp:127.0.0.1:0 RECEIVE_ARGS --ram-file F --run-for 0} and returns the receiver's result.
     * QEMU's end of the migration is recorded, not asserted: without a return path it may say
     * "completed" (the whole stream fit in the socket buffers) or "failed" (the receiver closed).
     */
    private CliProcess.Result qemuSourceInto(QemuVersion version, List<String> machineArgs, String... receiveArgs)
            throws Exception {
        version.require();
        List<String> qemuArgs = new ArrayList<>(machineArgs);
        qemuArgs.addAll(List.of("-accel", "tcg", "-nodefaults", "-display", "none"));
        List<String> receive = new ArrayList<>(List.of("receive", "tcp:127.0.0.1:0"));
        receive.addAll(List.of(receiveArgs));
        receive.addAll(List.of("--ram-file", dir.resolve("dst.ram").toString(), "--run-for", "0"));
        try (QemuProcess qemu = QemuProcess.start(version, dir, qemuArgs.toArray(String[]::new));
             CliProcess receiver = CliProcess.start(dir, receive.toArray(String[]::new))) {
            qemu.qmp.execute("cont");
            String port = receiver.awaitStderr(LISTENING);
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "tcp:127.0.0.1:" + port));
            CliProcess.Result r = receiver.await();
            JsonNode info = qemu.awaitMigration();
            JsonNode status = qemu.qmp.execute("query-status");
            qemu.record("source " + String.join(" ", machineArgs) + " into vm-migrate " + String.join(" ", receiveArgs)
                    + ": query-migrate " + info + "; query-status " + status
                    + (qemu.log().isBlank() ? "" : "; QEMU printed: " + qemu.log().strip().replace('\n', '|')));
            assertTrue(List.of("completed", "failed").contains(info.path("status").asText()), info.toString());
            System.out.println("[vm-migrate] receive exit " + r.exitCode() + ": " + r.stderrLines().getLast());
            qemu.quit();
            return r;
        }
    }

    /**
     * Exit 1 (the load failed), no stack trace, and exactly one stderr line, the last, says why,
     * naming {@code mentions}; the guest was never reported loaded. Returns that line.
     */
    private static String assertOneLineFailure(CliProcess.Result r, String mentions) {
        assertEquals(ExitCode.FAILED, r.exitCode(), r.describe());
        String all = r.stderr() + r.stdoutText();
        assertFalse(all.contains("Exception") || all.contains("\tat "), "no stack trace: " + r.describe());
        assertFalse(r.stderr().contains("guest loaded"), r.describe());
        List<String> naming = r.stderrLines().stream().filter(l -> l.contains(mentions)).toList();
        assertEquals(1, naming.size(), "one error line naming " + mentions + ": " + r.describe());
        String error = r.stderrLines().getLast();
        assertEquals(naming.getFirst(), error, "the error is the last line: " + r.describe());
        assertTrue(error.startsWith("vm-migrate") && error.contains("failed"), r.describe());
        return error;
    }

    // ---------------------------------------------------------------------------------------
    // 3. QEMU as the destination of vm-migrate send --compat qemu: QEMU refuses
    // ---------------------------------------------------------------------------------------

    /** Sending machine type pc-i440fx-7.2 (10.0: pc-i440fx-10.0) into QEMU {@code -machine none}. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuRefusesAnotherMachineType(QemuVersion version) throws Exception {
        // Only a saved VM can be of another machine type: QEMU's own pc capture of that version.
        String machine = version.pcMachineType();
        Path pc = (version == QemuVersion.V7_2 ? QemuTestData.PC_16M : QemuTestData.PC_16M_QEMU10).copyTo(dir);
        String log = sendIntoRefusingQemu(version, 2 << 20, "--load", pc.toString());
        assertTrue(log.contains("Machine type received is '" + machine + "' and local is 'none'"), log);
    }

    /** Sending a 4 MiB block "mem" into QEMU whose "mem" has 2 MiB. */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuRefusesAnotherRamLength(QemuVersion version) throws Exception {
        String log = sendIntoRefusingQemu(version, 2 << 20, "--machine", "none", "--ram-id", "mem", "--ram", "4M");
        // QEMU 7.2 and 10.0 ram_load: "Size mismatch: %s: 0x%lx != 0x%lx" (stream's length first).
        assertTrue(log.contains("Size mismatch: mem: 0x400000 != 0x200000"), log);
    }

    /** Sending block "ram" into QEMU whose block is "mem". */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void qemuRefusesAnUnknownRamBlock(QemuVersion version) throws Exception {
        String log = sendIntoRefusingQemu(version, 2 << 20, "--machine", "none", "--ram-id", "ram", "--ram", "2M");
        assertTrue(log.contains("Unknown ramblock \"ram\", cannot accept migration"), log);
    }

    /**
     * Starts QEMU {@code -machine none} with a {@code qemuRam}-byte file backend "mem" and
     * {@code -incoming tcp}, sends a half-random guest with {@code vm-migrate send --compat qemu
     * SEND_ARGS}, and checks QEMU did not end up running our RAM: it exits (7.2 exits 1 when an
     * incoming load fails) or leaves "inmigrate" for a state that is not running, and its RAM file
     * is not ours. Returns what QEMU printed (its stderr).
     */
    private String sendIntoRefusingQemu(QemuVersion version, int qemuRam, String... sendArgs) throws Exception {
        version.require();
        Path src = dir.resolve("src.ram");
        Path dst = dir.resolve("dst.ram");
        try (RandomAccessFile zero = new RandomAccessFile(dst.toFile(), "rw")) {
            zero.setLength(qemuRam);
        }
        int port = QemuProcess.freePort();
        List<String> send = new ArrayList<>(List.of("send", "tcp:127.0.0.1:" + port, "--compat", "qemu"));
        send.addAll(List.of(sendArgs));
        if (!send.contains("--load")) {
            send.addAll(List.of("--ram-file", src.toString(), "--fill", "half_random"));
        }
        String log;
        try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=" + qemuRam + ",mem-path=" + dst + ",share=on",
                "-accel", "tcg", "-nodefaults", "-display", "none", "-incoming", "tcp:127.0.0.1:" + port)) {
            // QEMU listens on the -incoming address before its main loop answers QMP.
            CliProcess.Result sent = CliProcess.run(dir, send.toArray(String[]::new));
            System.out.println("[vm-migrate] send " + String.join(" ", sendArgs) + " into a refusing QEMU: exit "
                    + sent.exitCode() + ", " + (sent.stderrLines().isEmpty() ? "" : sent.stderrLines().getLast()));
            // No return path: the sender may see the refusal as a broken pipe (1) or have written
            // the whole stream before QEMU closed the connection (0).
            assertTrue(List.of(ExitCode.OK, ExitCode.FAILED).contains(sent.exitCode()), sent.describe());
            assertFalse(sent.stderr().contains("\tat "), "no stack trace: " + sent.describe());

            JsonNode status = qemu.awaitStatusOtherThanOrExit("inmigrate");
            log = qemu.log();
            if (status == null) {
                int exit = qemu.exitValue();
                qemu.record("destination exited with status " + exit + " after vm-migrate send "
                        + String.join(" ", sendArgs) + "; stderr: " + log.strip().replace('\n', '|'));
                assertNotEquals(0, exit, "QEMU's exit status after a refused load:\n" + log);
            } else {
                JsonNode migrate = qemu.qmp.execute("query-migrate");
                qemu.record("destination query-status " + status + ", query-migrate " + migrate
                        + " after vm-migrate send " + String.join(" ", sendArgs) + "; stderr: " + log.strip());
                assertNotEquals("running", status.path("status").asText(), status + "\n" + log);
                assertEquals("failed", migrate.path("status").asText(), migrate + "\n" + log);
            }
            assertTrue(log.contains("load of migration failed"), log);
        }
        if (Files.exists(src)) { // a guest of ours (not a --load of QEMU's capture)
            byte[] ours = Files.readAllBytes(src);
            assertTrue(Arrays.mismatch(ours, new byte[ours.length]) >= 0, "our RAM is not all zero");
            assertFalse(Arrays.equals(ours, Files.readAllBytes(dst)), "QEMU's RAM must not be ours");
        }
        return log;
    }

    // ---------------------------------------------------------------------------------------
    // 4. inspect --extract of a live QEMU's stream
    // ---------------------------------------------------------------------------------------

    /**
     * A 4 MiB random backend file; QMP {@code migrate "exec:cat > F"}; {@code inspect F --extract
     * DIR}: DIR/mem.ram equals the backend file, and equals QMP {@code pmemsave} of guest-physical
     * 0..4M (machine none maps the backend at 0: {@code info mtree} shows
     * {@code 0000000000000000-00000000003fffff (prio 0, ram): mem}).
     */
    @ParameterizedTest
    @EnumSource(QemuVersion.class)
    void inspectExtractOfALiveQemuStreamIsItsMemory(QemuVersion version) throws Exception {
        int size = 4 << 20;
        byte[] content = random(size, 4);
        Path src = Files.write(dir.resolve("src.ram"), content);
        Path stream = dir.resolve("live.mig");
        Path pmem = dir.resolve("pmemsave.bin");
        try (QemuProcess qemu = QemuProcess.start(version, dir, "-machine", "none,memory-backend=mem",
                "-object", "memory-backend-file,id=mem,size=4M,mem-path=" + src + ",share=on",
                "-accel", "tcg", "-nodefaults", "-display", "none")) {
            JsonNode mtree = qemu.qmp.execute("human-monitor-command",
                    QmpClient.args().put("command-line", "info mtree"));
            qemu.record("info mtree: " + mtree.asText().replace("\r", "").strip().replace('\n', '|'));
            qemu.qmp.execute("migrate", QmpClient.args().put("uri", "exec:cat > " + CliProcess.shellQuote(stream.toString())));
            JsonNode info = qemu.awaitMigration();
            qemu.record("query-migrate after exec:cat: " + info);
            assertEquals("completed", info.path("status").asText(), info + "\n" + qemu.log());
            assertEquals(size, info.path("ram").path("total").asLong(), info.toString());
            qemu.qmp.execute("pmemsave", QmpClient.args().put("val", 0).put("size", size)
                    .put("filename", pmem.toString()));
            qemu.quit();
        }
        Path out = dir.resolve("extract");
        CliProcess.Result r = CliProcess.run(dir, "inspect", stream.toString(), "--extract", out.toString());
        assertEquals(0, r.exitCode(), r.describe());
        Path mem = out.resolve("mem.ram");
        assertTrue(Files.isRegularFile(mem), "mem.ram in " + out + ": " + r.describe());
        byte[] extracted = Files.readAllBytes(mem);
        QemuTestData.assertSameBytes(Files.readAllBytes(src), extracted, "extracted mem.ram vs QEMU's backend file");
        QemuTestData.assertSameBytes(content, extracted, "extracted mem.ram vs the content written");
        QemuTestData.assertSameBytes(Files.readAllBytes(pmem), extracted, "extracted mem.ram vs QEMU's pmemsave 0..4M");
    }

    // ---------------------------------------------------------------------------------------
    // helpers
    // ---------------------------------------------------------------------------------------

    private static byte[] random(int size, long seed) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** The receiver's --json stderr, one JSON value per line. */
    private static List<JsonNode> jsonLines(CliProcess.Result r) throws IOException {
        List<JsonNode> lines = new ArrayList<>();
        for (String line : r.stderrLines()) {
            try {
                lines.add(JSON.readTree(line));
            } catch (IOException e) {
                fail("not a JSON line: " + line + "\n" + r.describe());
            }
        }
        return lines;
    }

    /** globalstate's runstate from {@code inspect --json} (a hex buffer, NUL-padded). */
    private static String globalstateRunstate(JsonNode report) {
        for (JsonNode section : report.path("sections")) {
            if ("globalstate".equals(section.path("name").asText())) {
                String hex = section.path("fields").path("runstate").asText();
                assertNotNull(hex, section.toString());
                byte[] bytes = HexFormat.of().parseHex(hex);
                int end = 0;
                while (end < bytes.length && bytes[end] != 0) {
                    end++;
                }
                return new String(bytes, 0, end, StandardCharsets.ISO_8859_1);
            }
        }
        return fail("no globalstate section in " + report);
    }
}
