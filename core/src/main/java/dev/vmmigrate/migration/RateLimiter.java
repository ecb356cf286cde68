package dev.vmmigrate.migration;

import dev.vmmigrate.stream.MigrationOutput;

/**
 * The one place a migration's bandwidth limit is set on its stream: the limit the operator asks
 * for (at start and at any time during the migration, as the seeds' qmp_migrate_set_speed), the
 * new link a resumed migration goes on over, and the switchover, which sends the rest unlimited
 * (the seeds' qemu_file_set_rate_limit(INT64_MAX)) and stays unlimited whatever is asked after.
 * The stream measures the allowance per {@link PrecopyLoop#WINDOW_MILLIS} window itself.
 */
final class RateLimiter {
    private long bandwidth;
    /**
     * From the switchover on, what a round may send whatever the bandwidth: everything, or a
     * postcopy chunk; 0 before it, when the bandwidth rules.
     */
    private long afterSwitch;
    private MigrationOutput out;

    RateLimiter(long bandwidth) {
        this.bandwidth = bandwidth;
    }

    /**
     * Bytes a window may carry at {@code bandwidth} bytes per second; no limit for
     * {@link MigrationParameters#UNLIMITED} and for 0, which QEMU's qemu_file_rate_limit (7.2)
     * and migration_rate_exceeded (10.0) take as no limit.
     */
    static long windowAllowance(long bandwidth) {
        if (bandwidth == MigrationParameters.UNLIMITED || bandwidth == 0) {
            return Long.MAX_VALUE;
        }
        return Math.max(1, bandwidth / (1000 / PrecopyLoop.WINDOW_MILLIS));
    }

    /** The stream the limit applies to from now on: the first link's, or a resumed one's. */
    synchronized void attach(MigrationOutput next) {
        out = next;
        apply();
    }

    /** A new limit, in bytes per second, applied to the running stream at once. */
    synchronized void setBandwidth(long next) {
        bandwidth = next;
        apply();
    }

    /** The switchover: no limit from here on. */
    synchronized void lift() {
        afterSwitch = Long.MAX_VALUE;
        apply();
    }

    /**
     * Postcopy: no limit on the rate (QEMU's max-postcopy-bandwidth 0), but each background round
     * ends after {@code bytes}, so a page the destination's guest waits for goes next, within a
     * millisecond or two, instead of after a whole round (QEMU sends those on a channel of their
     * own, postcopy-preempt).
     */
    synchronized void chunked(long bytes) {
        afterSwitch = bytes;
        apply();
    }

    private void apply() {
        if (out != null) {
            out.setRateLimit(afterSwitch > 0 ? afterSwitch : windowAllowance(bandwidth));
        }
    }
}
