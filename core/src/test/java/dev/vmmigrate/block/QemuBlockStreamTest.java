package dev.vmmigrate.block;

import static dev.vmmigrate.block.BlockStreams.MIB;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.savevm.HandlerRegistry;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.stream.MigrationInput;
import java.io.File;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A real QEMU (qemu-system-x86_64 7.2, Debian's qemu-system-x86 package) migrates a raw drive
 * {@code disk0} of machine none with {@code migrate -b} into a file, and our loader reads it into a
 * destination image that starts as garbage. Skipped when QEMU is missing or is 9.1 or later (which
 * dropped block migration).
 */
@Timeout(120)
class QemuBlockStreamTest {
    private static final String QEMU = "qemu-system-x86_64";
    private static final int SIZE = 5 * MIB + MIB / 2;

    @TempDir
    Path dir;

    @Test
    void qemusBlockMigrationStreamLoadsIntoOurDisk() throws Exception {
        requireQemuWithBlockMigration();
        byte[] content = new byte[SIZE];
        for (int i = 0; i < MIB; i++) {
            content[i] = (byte) (i * 7 + 3);
        }
        content[2 * MIB + 123] = (byte) 0xA5;   // chunk 2: one byte; chunks 1, 3, 4 zero
        content[SIZE - 1] = 0x5A;               // the short last chunk
        Path source = BlockStreams.image(dir, "src.raw", content);
        Path stream = dir.resolve("block.qemu");
        runQemu(dir.resolve("qemu.log"), List.of("-machine", "none", "-nodefaults", "-display", "none", "-S",
                        "-accel", "tcg", "-monitor", "stdio",
                        "-drive", "if=none,id=disk0,file=" + source + ",format=raw"),
                "migrate_set_capability zero-blocks on\n"
                        + "migrate -b \"exec:cat > " + stream + "\"\n"
                        + "quit\n");
        assertTrue(Files.size(stream) > 0, "QEMU wrote no stream:\n" + Files.readString(dir.resolve("qemu.log")));

        byte[] garbage = new byte[SIZE];
        Arrays.fill(garbage, (byte) 0x77);
        Path target = BlockStreams.image(dir, "dst.raw", garbage);
        try (Guest guest = Guest.builder().ramSize(1 << 20).incoming(true).build();
             Disk disk = Disk.open("disk0", target)) {
            BlockMigration block = new BlockMigration(List.of(disk));
            // QEMU registers "block" before "ram"; machine none without memory has no RAM block.
            HandlerRegistry registry = new HandlerRegistry().add(block).add(new RamHandler(List.of()));
            guest.deviceHandlers().stream().filter(h -> !h.idstr().startsWith(HandlerRegistry.OWN_PREFIX))
                    .forEach(registry::add);
            LoadVm.Result result = new LoadVm(registry, "none").load(MigrationInput.of(Files.readAllBytes(stream)));
            assertTrue(result.sections().contains("block"), result.sections().toString());
            assertEquals(3, block.stats().loadedZeroChunks.get(), "chunks 1, 3 and 4 came as ZERO_BLOCK");
            assertEquals(3, block.stats().loadedChunks.get());
            assertEquals(100, block.stats().progress.get());
        }
        assertArrayEquals(content, Files.readAllBytes(target), "our disk after QEMU's stream");
    }

    private static void requireQemuWithBlockMigration() throws Exception {
        Process version;
        try {
            version = new ProcessBuilder(QEMU, "--version").redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort(QEMU + " not installed (apt-get install qemu-system-x86)");
            return;
        }
        String text = new String(version.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        version.waitFor(30, TimeUnit.SECONDS);
        Matcher m = Pattern.compile("version (\\d+)\\.(\\d+)").matcher(text);
        Assumptions.assumeTrue(m.find(), "unknown QEMU version: " + text);
        int major = Integer.parseInt(m.group(1));
        int minor = Integer.parseInt(m.group(2));
        Assumptions.assumeTrue(major < 9 || (major == 9 && minor < 1), "QEMU " + major + "." + minor
                + " has no block migration (removed in 9.1)");
    }

    /** Runs QEMU with {@code commands} on its monitor (stdin kept open until it exits). */
    private static void runQemu(Path log, List<String> args, String commands) throws Exception {
        List<String> command = new java.util.ArrayList<>();
        command.add(QEMU);
        command.addAll(args);
        Process qemu = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile())
                .directory(new File(log.getParent().toString())).start();
        try {
            OutputStream stdin = qemu.getOutputStream();
            stdin.write(commands.getBytes(StandardCharsets.UTF_8));
            stdin.flush();
            if (!qemu.waitFor(60, TimeUnit.SECONDS)) {
                throw new AssertionError("QEMU did not quit:\n" + Files.readString(log));
            }
            stdin.close();
        } finally {
            qemu.destroyForcibly();
        }
    }
}
