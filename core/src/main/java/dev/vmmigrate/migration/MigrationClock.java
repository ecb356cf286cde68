package dev.vmmigrate.migration;

/**
 * The timing figures of one migration (the seeds' total_time, setup_time, downtime, mbps,
 * expected_downtime, dirty_pages_rate). The migration thread writes, anyone reads.
 */
final class MigrationClock {
    private volatile long startMillis;
    private volatile long endMillis = -1;
    private volatile long setupMillis = -1;
    private volatile long downtimeMillis = -1;
    private volatile long expectedDowntimeMillis;
    private volatile double mbps = -1;
    private volatile long dirtyPagesRate;
    private volatile long pagesPerSecond;
    /** RAM bytes sent before the guest stopped for the switchover (QEMU's precopy-bytes); -1 before it. */
    private volatile long precopyBytes = -1;

    /**
     * A migration begins; {@code downtimeLimitMillis} is the first expected downtime, as the
     * seeds' migrate_fd_connect sets it ("a best 1st approximation").
     */
    void start(long downtimeLimitMillis) {
        startMillis = System.currentTimeMillis();
        expectedDowntimeMillis = downtimeLimitMillis;
        endMillis = -1;
        setupMillis = -1;
        downtimeMillis = -1;
        mbps = -1;
        dirtyPagesRate = 0;
        pagesPerSecond = 0;
        precopyBytes = -1;
    }

    /** Pages sent per second over the last window (QEMU's pages-per-second). */
    void pagesPerSecond(long value) {
        pagesPerSecond = value;
    }

    long pagesPerSecond() {
        return pagesPerSecond;
    }

    /** The guest stops for the switchover after {@code ramBytes} of RAM went out. */
    void switchover(long ramBytes) {
        precopyBytes = ramBytes;
    }

    /** RAM bytes sent before the switchover, or -1 while none has begun. */
    long precopyBytes() {
        return precopyBytes;
    }

    void setupDone(long millis) {
        setupMillis = millis;
    }

    void expectedDowntime(long millis) {
        expectedDowntimeMillis = millis;
    }

    void mbps(double value) {
        mbps = value;
    }

    void dirtyPagesRate(long pagesPerSecond) {
        dirtyPagesRate = pagesPerSecond;
    }

    void finished(long downtime) {
        endMillis = System.currentTimeMillis();
        downtimeMillis = downtime;
    }

    void ended() {
        if (endMillis < 0) {
            endMillis = System.currentTimeMillis();
        }
    }

    long totalTimeMillis() {
        long end = endMillis;
        return (end < 0 ? System.currentTimeMillis() : end) - startMillis;
    }

    Long setupTimeMillis() {
        long setup = setupMillis;
        return setup < 0 ? null : setup;
    }

    long downtimeMillis() {
        return downtimeMillis;
    }

    long expectedDowntimeMillis() {
        return expectedDowntimeMillis;
    }

    double mbps() {
        return mbps;
    }

    long dirtyPagesRate() {
        return dirtyPagesRate;
    }
}
