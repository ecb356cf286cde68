package dev.vmmigrate.migration;

import java.time.Duration;
import java.util.Objects;

/**
 * What the operator tunes: the seeds' bandwidth limit and maximum downtime, and how long the
 * whole migration may take.
 *
 * @param maxBandwidth bytes per second on the wire while iterating; {@link #UNLIMITED} or 0 for
 *     none (QEMU's rate limiter takes 0 as no limit); a negative one is taken as 0, as the seeds'
 *     qmp_migrate_set_speed clamps it
 * @param downtimeLimit the pause the guest may take at switchover; sets the convergence threshold
 * @param timeout how long the migration may run before it is given up; null for no limit
 */
public record MigrationParameters(long maxBandwidth, Duration downtimeLimit, Duration timeout) {
    public static final long UNLIMITED = Long.MAX_VALUE;
    /** Current QEMU's default max-bandwidth: 128 MiB/s. */
    public static final long DEFAULT_MAX_BANDWIDTH = 128L << 20;
    /** The seeds' max_downtime: 300 ms. */
    public static final Duration DEFAULT_DOWNTIME_LIMIT = Duration.ofMillis(300);

    public MigrationParameters {
        maxBandwidth = Math.max(0, maxBandwidth);
        Objects.requireNonNull(downtimeLimit, "downtimeLimit");
        if (downtimeLimit.isNegative() || downtimeLimit.isZero()) {
            throw new IllegalArgumentException("downtime-limit must be positive, not " + downtimeLimit.toMillis() + " ms");
        }
        if (timeout != null && (timeout.isNegative() || timeout.isZero())) {
            throw new IllegalArgumentException("timeout must be positive, not " + timeout.toMillis() + " ms");
        }
    }

    public static MigrationParameters defaults() {
        return new MigrationParameters(DEFAULT_MAX_BANDWIDTH, DEFAULT_DOWNTIME_LIMIT, null);
    }
}
