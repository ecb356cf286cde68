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
