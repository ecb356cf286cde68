package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.migration.MachineStreams;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.Hex;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13's attacks through the command line: each is refused with one clean line and the
 * documented exit code, nothing is resumed, and a --ram-file is left exactly as it was.
 */
class HostileStreamCliTest {
    /** The byte every byte of the source's first page holds, to find that page in the stream. */
    private static final byte MARK = (byte) 0xAB;
    private static final int RAM = 16 << 10;

    @TempDir
    Path dir;

    /** A 16 KiB guest saved with vm-migrate's own sections (capabilities, workload, digest). */
    private static byte[] ownStream() throws IOException {
        try (Guest guest = Guest.builder().ramSize(RAM).seed(3).build()) {
            guest.ramBlocks().getFirst().memory().asSlice(0, TargetPage.SIZE).fill(MARK);
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (MigrationOutput out = MigrationOutput.to(bytes)) {
                MachineStreams.of(guest, false).saveVm(guest).saveStopped(out);
            }
            return bytes.toByteArray();
        }
    }

    /** {@code stream} with one bit of the marked page flipped. */
    private static byte[] pageFlipped(byte[] stream) {
        byte[] page = new byte[TargetPage.SIZE];
        Arrays.fill(page, MARK);
        int at = Hex.indexOf(stream, page);
        assertTrue(at > 0, "the marked page is in the stream");
        byte[] flipped = stream.clone();
        flipped[at + 1000] ^= 0x01;
        return flipped;
    }

    /** {@code stream} without its vm-migrate/digest section (FULL header, 16 bytes of state, footer: 52 bytes). */
    private static byte[] digestRemoved(byte[] stream) {
        int name = Hex.indexOf(stream, "\u0011vm-migrate/digest".getBytes(StandardCharsets.US_ASCII));
        int start = name - 5;
        assertEquals(0x04, stream[start], "a FULL section");
        byte[] cut = new byte[stream.length - 52];
        System.arraycopy(stream, 0, cut, 0, start);
        System.arraycopy(stream, start + 52, cut, start, stream.length - start - 52);
        return cut;
    }

    private Path write(String name, byte[] bytes) throws IOException {
        return Files.write(dir.resolve(name), bytes);
    }

    private static void assertRefused(CliProcess.Result r, int exitCode, String reason) {
        assertEquals(exitCode, r.exitCode(), r.describe());
        assertEquals(1, r.stderrLines().stream().filter(l -> l.contains(reason)).count(), r.describe());
        assertFalse(r.stderr().contains("\tat ") || r.stderr().contains("internal error"), r.describe());
        assertFalse(r.stderr().contains("guest loaded") || r.stderr().contains("VM loaded"), r.describe());
    }

    @Test
    void aStreamWithoutItsDigestAndAFlippedPageIsRefused() throws Exception {
        Path file = write("nodigest.mig", pageFlipped(digestRemoved(ownStream())));
        CliProcess.Result r = CliProcess.run(dir, "receive", "file:" + file, "--run-for", "0");
        assertRefused(r, ExitCode.FAILED, "the stream announces vm-migrate's capabilities but carries no "
                + "vm-migrate/digest section: its content cannot be verified at offset ");
    }

    /** Header, configuration (none), EOF: 18 bytes that used to load as a running guest. */
    @Test
    void an18ByteStreamOverTcpIsRefused() throws Exception {
        byte[] stream = Hex.bytes("5145564d 00000003 07 00000004 6e6f6e65 00");
        assertEquals(18, stream.length);
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "0")) {
            String port = receive.awaitStderr(Pattern.compile("listening on tcp:127\\.0\\.0\\.1:(\\d+)"));
            try (Socket socket = new Socket("127.0.0.1", Integer.parseInt(port))) {
                OutputStream out = socket.getOutputStream();
                out.write(stream);
                out.flush();
                socket.shutdownOutput();
                socket.getInputStream().readAllBytes(); // until the receiver closes
            }
            assertRefused(receive.await(), ExitCode.FAILED,
                    "the stream ended without section 'ram', 'timer', 'globalstate' of this guest");
        }
    }

    /** A 255-byte block name with terminal escapes and a forged line is printed escaped and cut. */
    @Test
    void aBlockNameOfTerminalEscapesIsPrintedEscaped() throws Exception {
        byte[] forged = "\u001b]0;pwned\u0007\u001b[31m\nvm-migrate: migration completed\n".getBytes(StandardCharsets.US_ASCII);
        byte[] name = Arrays.copyOf(forged, 255);
        Arrays.fill(name, forged.length, 255, (byte) 'A');
        ByteArrayOutputStream stream = new ByteArrayOutputStream();
        stream.writeBytes(Hex.bytes("5145564d 00000003 07 00000004 6e6f6e65 01 00000002 03 72616d 00000000 00000004"
                + " 0000000000001004 ff"));
        stream.writeBytes(name);
        stream.writeBytes(Hex.bytes("0000000000001000 0000000000000010 7e00000002 00"));
        Path file = write("escapes.mig", stream.toByteArray());
        CliProcess.Result r = CliProcess.run(dir, "receive", "file:" + file, "--run-for", "0");
        // a block this guest does not have: bad input (2), named escaped and cut
        assertRefused(r, ExitCode.USAGE, "'\\x1b]0;pwned\\x07\\x1b[31m\\x0avm-migrate: migration completed\\x0a");
        assertFalse(r.stderr().chars().anyMatch(c -> c == 0x1b || c == 0x07), r.describe());
        assertFalse(r.stderrLines().stream().anyMatch(l -> l.startsWith("vm-migrate: migration completed")), r.describe());

        CliProcess.Result inspect = CliProcess.run(dir, "inspect", file.toString());
        assertFalse((inspect.stderr() + inspect.stdoutText()).chars().anyMatch(c -> c == 0x1b || c == 0x07),
                inspect.describe());
    }

    /** MEM_SIZE and a block of 2^62 bytes: refused at the claim, and a --ram-file that was absent stays absent. */
    @Test
    void a2To62ByteClaimIsRefusedAndLeavesNoRamFile() throws Exception {
        Path file = write("huge.mig", Hex.bytes("5145564d 00000003 07 00000004 6e6f6e65 01 00000002 03 72616d 00000000"
                + " 00000004 4000000000000004 03 72616d 4000000000000000 0000000000000010 7e00000002 00"));
        Path ramFile = dir.resolve("guest.ram");
        CliProcess.Result r = CliProcess.run(dir, "receive", "file:" + file, "--run-for", "0", "--ram-file",
                ramFile.toString(), "--max-ram", "64M");
        assertRefused(r, ExitCode.FAILED,
                "the stream announces 4611686018427387904 bytes of RAM (MEM_SIZE), more than the 67108864 bytes");
        assertTrue(Files.notExists(ramFile), "the RAM file stays absent");
        try (var left = Files.list(dir)) {
            assertEquals(0, left.filter(p -> p.getFileName().toString().contains("partial")).count());
        }
        Path extract = dir.resolve("extract");
        CliProcess.Result inspect = CliProcess.run(dir, "inspect", file.toString(), "--extract", extract.toString(),
                "--max-ram", "64M");
        assertRefused(inspect, ExitCode.USAGE, "bytes of RAM (MEM_SIZE), more than the 67108864 bytes");
        try (var extracted = Files.list(extract)) {
            assertEquals(0, extracted.count(), "inspect --extract wrote nothing");
        }
    }

    /** A receive that fails part way leaves --ram-file byte for byte as it was; one that loads replaces it. */
    @Test
    void aFailedReceiveLeavesTheRamFileUntouched() throws Exception {
        byte[] stream = ownStream();
        byte[] before = new byte[RAM];
        new Random(7).nextBytes(before);
        Path ramFile = write("guest.ram", before);
        Path cut = write("cut.mig", Arrays.copyOf(stream, stream.length * 3 / 4));
        CliProcess.Result failed = CliProcess.run(dir, "receive", "file:" + cut, "--run-for", "0",
                "--ram-file", ramFile.toString());
        assertRefused(failed, ExitCode.FAILED, "truncated stream");
        assertArrayEquals(before, Files.readAllBytes(ramFile), "the RAM file is as it was");

        Path flipped = write("flipped.mig", pageFlipped(stream));
        CliProcess.Result mismatch = CliProcess.run(dir, "receive", "file:" + flipped, "--run-for", "0",
                "--ram-file", ramFile.toString());
        assertRefused(mismatch, ExitCode.VERIFICATION, "RAM digest mismatch");
        assertArrayEquals(before, Files.readAllBytes(ramFile), "the RAM file is as it was after a digest mismatch");

        Path absent = dir.resolve("absent.ram");
        CliProcess.Result none = CliProcess.run(dir, "receive", "file:" + cut, "--run-for", "0",
                "--ram-file", absent.toString());
        assertEquals(ExitCode.FAILED, none.exitCode(), none.describe());
        assertTrue(Files.notExists(absent), "an absent RAM file stays absent");
        try (var left = Files.list(dir)) {
            assertEquals(0, left.filter(p -> p.getFileName().toString().contains("partial")).count());
        }

        Path whole = write("whole.mig", stream);
        CliProcess.Result loaded = CliProcess.run(dir, "receive", "file:" + whole, "--run-for", "0",
                "--ram-file", ramFile.toString());
        assertEquals(ExitCode.OK, loaded.exitCode(), loaded.describe());
        byte[] after = Files.readAllBytes(ramFile);
        byte[] page = new byte[TargetPage.SIZE];
        Arrays.fill(page, MARK);
        assertArrayEquals(page, Arrays.copyOf(after, TargetPage.SIZE), "the received RAM replaced the file");
    }

    @Test
    void inspectChecksTheDigest() throws Exception {
        byte[] stream = ownStream();
        CliProcess.Result good = CliProcess.run(dir, "inspect", write("good.mig", stream).toString());
        assertEquals(ExitCode.OK, good.exitCode(), good.describe());
        assertTrue(good.stdoutText().contains("digest: verified (vm-migrate/digest)"), good.describe());

        CliProcess.Result bad = CliProcess.run(dir, "inspect", write("bad.mig", pageFlipped(stream)).toString());
        assertRefused(bad, ExitCode.VERIFICATION, "verification failed: RAM digest mismatch: source crc32c ");
    }

    @Test
    void inspectGivesTheVmdescsRealFault() throws Exception {
        byte[] stream = ownStream();
        int vmdesc = stream.length - 1;
        while (!(stream[vmdesc] == 0x06 && stream[vmdesc + 5] == '{' && stream[vmdesc - 1] == 0x00)) {
            vmdesc--;
        }
        byte[] bad = Arrays.copyOf(stream, vmdesc + 5 + 16);
        bad[vmdesc + 1] = 0x7f;
        bad[vmdesc + 2] = (byte) 0xff;
        bad[vmdesc + 3] = (byte) 0xff;
        bad[vmdesc + 4] = (byte) 0xff;
        CliProcess.Result r = CliProcess.run(dir, "inspect", write("vmdesc.mig", bad).toString());
        assertRefused(r, ExitCode.USAGE, "vmdesc of 2147483647 bytes (at most 16777216) at offset " + (vmdesc + 1));
    }
}
