package dev.vmmigrate.migration;

import dev.vmmigrate.ownsections.Capability;
import dev.vmmigrate.ownsections.StreamCapabilities;

import java.util.EnumSet;
import java.util.Set;

/**
 * The capabilities a migration runs with and their parameters.
 *
 * @param enabled the capabilities switched on
 * @param xbzrleCacheSize bytes of XBZRLE page cache (the seeds' default: 64 MiB)
 * @param compressLevel zstd level for the compress capability
 */
public record MigrationCapabilities(Set<Capability> enabled, long xbzrleCacheSize, int compressLevel) {
    public static final long DEFAULT_XBZRLE_CACHE_SIZE = 64L << 20;
    public static final int DEFAULT_COMPRESS_LEVEL = StreamCapabilities.DEFAULT_COMPRESS_LEVEL;

    public MigrationCapabilities {
        enabled = enabled.isEmpty() ? Set.of() : Set.copyOf(EnumSet.copyOf(enabled));
        if (enabled.contains(Capability.RDMA_PIN_ALL)) {
            throw new IllegalArgumentException("capability rdma-pin-all needs the rdma: transport, "
                    + "which vm-migrate does not have");
        }
        if (compressLevel < -7 || compressLevel > 22) {
            throw new IllegalArgumentException("compress level " + compressLevel + " is outside zstd's -7..22");
        }
    }

    public static MigrationCapabilities none() {
        return new MigrationCapabilities(Set.of(), DEFAULT_XBZRLE_CACHE_SIZE, DEFAULT_COMPRESS_LEVEL);
    }

    public boolean has(Capability capability) {
        return enabled.contains(capability);
    }

    public MigrationCapabilities with(Capability capability, boolean on) {
        EnumSet<Capability> next = enabled.isEmpty() ? EnumSet.noneOf(Capability.class) : EnumSet.copyOf(enabled);
        if (on) {
            next.add(capability);
        } else {
            next.remove(capability);
        }
        return new MigrationCapabilities(next, xbzrleCacheSize, compressLevel);
    }

    public MigrationCapabilities withCacheSize(long bytes) {
        return new MigrationCapabilities(enabled, bytes, compressLevel);
    }
}
