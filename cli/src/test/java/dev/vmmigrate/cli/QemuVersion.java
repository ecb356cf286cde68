package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;

/**
 * The QEMU versions the interoperability tests run against, each with the way to start it:
 * Debian 12's QEMU 7.2 ({@code qemu-system-x86_64} on the PATH) and QEMU 10.0 unpacked beside it
 * by {@code scripts/fetch-qemu10} (env {@code VM_MIGRATE_QEMU10}, else that script's default
 * cache), which needs {@code -L DIR/usr/share/qemu} for its firmware.
 *
 * <p>A missing QEMU skips the test on a developer machine and fails it in CI (env {@code CI}
 * set): CI must never pass by skipping.
 */
enum QemuVersion {
    V7_2(7, 2),
    V10_0(10, 0);

    private static final String BINARY = "qemu-system-x86_64";

    private final int major;
    private final int minor;

    QemuVersion(int major, int minor) {
        this.major = major;
        this.minor = minor;
    }

    int major() {
        return major;
    }

    int minor() {
        return minor;
    }

    /** "7.2", "10.0". */
    String label() {
        return major + "." + minor;
    }

    /** The i440fx machine type this version's {@code -machine pc} stands for, e.g. pc-i440fx-7.2. */
    String pcMachineType() {
        return "pc-i440fx-" + label();
    }

    /** The q35 machine type this version's {@code -machine q35} stands for, e.g. pc-q35-10.0. */
    String q35MachineType() {
        return "pc-q35-" + label();
    }

    @Override
    public String toString() {
        return "QEMU " + label();
    }

    /**
     * The command that starts this QEMU, before any machine arguments: the binary and, for 10.0,
     * its {@code -L} firmware folder. Skips the test when it is missing (fails it under CI).
     */
    List<String> command() {
        Path binary = binary().orElseGet(() -> missing());
        List<String> command = new ArrayList<>(List.of(binary.toString()));
        if (this == V10_0) {
            command.addAll(List.of("-L", firmwareDir(binary).toString()));
        }
        return command;
    }

    /** Skips (outside CI) or fails (CI) the calling test unless this QEMU is there. */
    void require() {
        command();
    }

    /** Where this version's binary is, if it is there. */
    Optional<Path> binary() {
        return switch (this) {
            case V7_2 -> onPath(BINARY);
            case V10_0 -> executable(qemu10Binary());
        };
    }

    /** What to do to get this QEMU, for the skip or failure message. */
    String howToGet() {
        return switch (this) {
            case V7_2 -> "QEMU 7.2 (" + BINARY + " on the PATH) not found: install Debian 12's qemu-system-x86 package "
                    + "(apt-get install qemu-system-x86), or run bash .ci/run, which installs it";
            case V10_0 -> "QEMU 10.0 not found at " + qemu10Binary() + (System.getenv("VM_MIGRATE_QEMU10") != null
                    ? " (env VM_MIGRATE_QEMU10)" : "") + ": run scripts/fetch-qemu10 (unpacks it into "
                    + "~/.cache/vm-migrate/qemu10; .ci/run does this and exports VM_MIGRATE_QEMU10)";
        };
    }

    private <T> T missing() {
        String message = howToGet();
        if (System.getenv("CI") != null) {
            return fail(message + " [env CI is set: a missing QEMU fails instead of skipping]");
        }
        Assumptions.abort(message);
        throw new AssertionError("unreachable");
    }

    /** QEMU 10.0's binary: env VM_MIGRATE_QEMU10, else scripts/fetch-qemu10's default cache. */
    private static Path qemu10Binary() {
        String env = System.getenv("VM_MIGRATE_QEMU10");
        if (env != null && !env.isBlank()) {
            return Path.of(env);
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path cache = xdg != null && !xdg.isBlank() ? Path.of(xdg)
                : Path.of(System.getProperty("user.home"), ".cache");
        return cache.resolve("vm-migrate/qemu10/usr/bin/" + BINARY);
    }

    /** DIR/usr/bin/qemu-system-x86_64 → DIR/usr/share/qemu (fetch-qemu10's layout). */
    private static Path firmwareDir(Path binary) {
        Path usr = binary.toAbsolutePath().getParent().getParent();
        return usr.resolve("share/qemu");
    }

    private static Optional<Path> executable(Path candidate) {
        return Files.isRegularFile(candidate) && Files.isExecutable(candidate) ? Optional.of(candidate)
                : Optional.empty();
    }

    private static Optional<Path> onPath(String program) {
        String path = System.getenv("PATH");
        if (path == null) {
            return Optional.empty();
        }
        for (String entry : path.split(File.pathSeparator)) {
            Optional<Path> found = executable(Path.of(entry.isEmpty() ? "." : entry, program));
            if (found.isPresent()) {
                return found;
            }
        }
        return Optional.empty();
    }
}
