package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;

/**
 * A tiny real x86 guest for QEMU's {@code -machine pc} and {@code q35} under TCG: the boot sector
 * of test resource {@code guest/bootsector.S}, assembled at test time with binutils ({@code as
 * --32}, {@code ld -m elf_i386 -Ttext 0x7c00 --oformat binary}) into a raw disk image. SeaBIOS
 * boots it; it then rewrites 512 KiB of RAM below 640 KiB on every pass and writes one byte to
 * COM1 after each pass, so RAM keeps being dirtied and the serial output (a file) keeps growing.
 *
 * <p>The disk is a virtio-blk drive on both machines: q35's built-in AHCI with {@code if=ide}
 * boots on QEMU 7.2 but hangs QEMU 10.0's boot with Debian 12's SeaBIOS 1.16.2 (its AHCI probe
 * sends IDENTIFY PACKET first, QEMU 10.0 answers the error with TFES only and SeaBIOS waits on
 * until its 32 s request timeout).
 */
final class BootSectorGuest {
    /** Guest RAM ({@code -m}); QEMU's main RAM block is then {@value #MAIN_RAM_BLOCK} of this size. */
    static final long RAM_BYTES = 64L << 20;
    /** The main RAM block's name on both machines when no memory backend is given. */
    static final String MAIN_RAM_BLOCK = "pc.ram";
    /** The guest's code: the CPU must be in here after a load (CS base 0). */
    static final long CODE_START = 0x7c00;
    static final long CODE_END = 0x7e00;
    /** Hang guard for serial growth; never a timing assertion (a pass takes about a millisecond). */
    static final Duration SERIAL_GUARD = Duration.ofSeconds(30);
    private static final Duration POLL = Duration.ofMillis(20);
    private static final Pattern EIP = Pattern.compile("EIP=([0-9a-f]{8})");
    private static final Pattern CS = Pattern.compile("CS =([0-9a-f]{4}) ([0-9a-f]{8})");

    /** The machines the guest boots on. */
    enum Machine {
        PC("pc"),
        Q35("q35");

        private final String qemuName;

        Machine(String qemuName) {
            this.qemuName = qemuName;
        }

        /** {@code -machine NAME}. */
        String qemuName() {
            return qemuName;
        }

        /** The versioned machine type QEMU {@code version} puts in its stream for this alias. */
        String machineType(QemuVersion version) {
            return this == PC ? version.pcMachineType() : version.q35MachineType();
        }

        @Override
        public String toString() {
            return qemuName;
        }
    }

    private final Path image;

    private BootSectorGuest(Path image) {
        this.image = image;
    }

    /** Assembles the boot sector in {@code dir} and writes the disk image {@code dir/guest.img}. */
    static BootSectorGuest build(Path dir) throws IOException, InterruptedException {
        Path source = dir.resolve("bootsector.S");
        try (InputStream in = BootSectorGuest.class.getResourceAsStream("/guest/bootsector.S")) {
            if (in == null) {
                throw new IOException("test resource guest/bootsector.S not on the classpath");
            }
            Files.copy(in, source);
        }
        Path object = dir.resolve("bootsector.o");
        Path binary = dir.resolve("bootsector.bin");
        run(dir, "as", "--32", "-o", object.toString(), source.toString());
        run(dir, "ld", "-m", "elf_i386", "-Ttext", "0x7c00", "--oformat", "binary", "-o", binary.toString(),
                object.toString());
        byte[] sector = Files.readAllBytes(binary);
        assertEquals(512, sector.length, "the assembled boot sector's size");
        assertEquals(0x55, sector[510] & 0xff, "boot signature byte 510");
        assertEquals(0xaa, sector[511] & 0xff, "boot signature byte 511");
        Path image = dir.resolve("guest.img");
        Files.write(image, sector);
        try (RandomAccessFile file = new RandomAccessFile(image.toFile(), "rw")) {
            file.setLength(1 << 20); // a 1 MiB disk: the boot sector, then zeros
        }
        return new BootSectorGuest(image);
    }

    Path image() {
        return image;
    }

    /**
     * QEMU's arguments for this guest on {@code machine}, its COM1 written to {@code serial}: TCG,
     * 64 MiB, no default devices, the image as a virtio-blk disk, no display.
     */
    List<String> qemuArgs(Machine machine, Path serial) {
        return new ArrayList<>(List.of("-machine", machine.qemuName(), "-accel", "tcg", "-m", "64",
                "-nodefaults", "-display", "none",
                "-drive", "file=" + image + ",format=raw,if=virtio",
                "-serial", "file:" + serial));
    }

    /** Bytes the guest has written to {@code serial} so far (0 before QEMU created it). */
    static long serialSize(Path serial) {
        try {
            return Files.exists(serial) ? Files.size(serial) : 0;
        } catch (IOException e) {
            return 0;
        }
    }

    /**
     * Waits until {@code serial} holds at least {@code bytes} more than {@code from} bytes and
     * returns its size. Hang guard {@link #SERIAL_GUARD}: fails then, or as soon as QEMU exits,
     * with QEMU's run state and output.
     */
    static long awaitSerialGrowth(QemuProcess qemu, Path serial, long from, long bytes) throws InterruptedException {
        long deadline = System.nanoTime() + SERIAL_GUARD.toNanos();
        while (true) {
            long size = serialSize(serial);
            if (size >= from + bytes) {
                return size;
            }
            if (!qemu.isAlive()) {
                fail("QEMU exited while its guest's serial output " + serial.getFileName() + " stood at " + size
                        + " bytes (waiting for " + (from + bytes) + "):\n" + qemu.log());
            }
            if (System.nanoTime() > deadline) {
                fail("the guest's serial output " + serial.getFileName() + " stayed at " + size + " bytes (waiting for "
                        + (from + bytes) + ") for the hang guard of " + SERIAL_GUARD.toSeconds() + " s; QEMU: "
                        + qemu.executeOrFail("query-status") + "\n" + qemu.log());
            }
            Thread.sleep(POLL.toMillis());
        }
    }

    /** Same, from the current size. */
    static long awaitSerialGrowth(QemuProcess qemu, Path serial, long bytes) throws InterruptedException {
        return awaitSerialGrowth(qemu, serial, serialSize(serial), bytes);
    }

    /**
     * Checks over {@code info registers} that the CPU is in the boot sector's code (CS base 0,
     * EIP in 0x7c00..0x7dff): a load that restored the CPU, not a CPU at its reset vector (CS
     * f000 base ffff0000, EIP 0000fff0). Returns the two lines, for the report.
     */
    static String assertInGuestCode(QemuProcess qemu, String what) throws InterruptedException {
        String registers = qemu.hmp("info registers");
        Matcher eip = EIP.matcher(registers);
        Matcher cs = CS.matcher(registers);
        if (!eip.find() || !cs.find()) {
            return fail(what + ": no EIP/CS in info registers:\n" + registers);
        }
        long ip = Long.parseLong(eip.group(1), 16);
        long csBase = Long.parseLong(cs.group(2), 16);
        String summary = "EIP=" + eip.group(1) + " CS=" + cs.group(1) + " base " + cs.group(2);
        if (csBase == 0xffff0000L && ip == 0xfff0) {
            fail(what + ": the CPU is at the reset vector (" + summary + "): its state was not loaded\n" + registers);
        }
        if (csBase != 0 || ip < CODE_START || ip >= CODE_END) {
            fail(what + ": the CPU is not in the boot sector's code at 0x7c00..0x7dff (" + summary + ")\n" + registers);
        }
        return summary;
    }

    /** The last byte the guest wrote to {@code serial}, or -1 if none. */
    static int lastSerialByte(Path serial) throws IOException {
        byte[] bytes = Files.exists(serial) ? Files.readAllBytes(serial) : new byte[0];
        return bytes.length == 0 ? -1 : bytes[bytes.length - 1] & 0xff;
    }

    /** The first byte the guest wrote to {@code serial}, or -1 if none. */
    static int firstSerialByte(Path serial) throws IOException {
        byte[] bytes = Files.exists(serial) ? Files.readAllBytes(serial) : new byte[0];
        return bytes.length == 0 ? -1 : bytes[0] & 0xff;
    }

    /** The byte the guest writes after {@code b}: '@' + (pass % 32), so '_' is followed by '@'. */
    static int nextSerialByte(int b) {
        return 0x40 + ((b - 0x40 + 1) & 0x1f);
    }

    /** binutils missing: skipped outside CI, a failure under CI (env CI), as for QEMU. */
    private static void run(Path dir, String... command) throws IOException, InterruptedException {
        Process process;
        try {
            process = new ProcessBuilder(command).directory(dir.toFile()).redirectErrorStream(true).start();
        } catch (IOException e) {
            String message = command[0] + " not found (binutils: apt-get install binutils): the boot sector guest "
                    + "is assembled at test time";
            if (System.getenv("CI") != null) {
                fail(message + " [env CI is set: failing instead of skipping]", e);
            }
            Assumptions.abort(message);
            return;
        }
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!process.waitFor(30, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            fail(String.join(" ", command) + " hung");
        }
        if (process.exitValue() != 0) {
            fail(String.join(" ", command) + " exited " + process.exitValue() + ":\n" + output);
        }
    }
}
