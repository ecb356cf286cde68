package dev.vmmigrate.ram;

import java.lang.management.ManagementFactory;

/**
 * The most RAM a receiver that sizes itself from the stream (a held VM, {@code inspect
 * --extract}, a guest sized by the stream) takes: a stream claims any size it likes, and without
 * a ceiling a 2^62-byte claim is tried (and a 1 TiB sparse file left behind). The default is the
 * host's physical memory: more than that cannot be held in anonymous memory anyway.
 */
public final class RamLimit {
    private RamLimit() {
    }

    /** The host's physical memory in bytes ({@code MemTotal}). */
    public static long hostMemory() {
        if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
            return os.getTotalMemorySize();
        }
        return Long.MAX_VALUE; // no way to tell: only the stream's own checks apply
    }
}
