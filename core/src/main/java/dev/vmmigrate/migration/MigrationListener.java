package dev.vmmigrate.migration;

/**
 * The seeds' notifier list: progress output, JSON events and the monitor hang off these calls.
 * Called on the migration thread or the cancelling thread; keep them quick.
 */
public interface MigrationListener {
    /** After every status change (QMP's MIGRATION event). */
    void statusChanged(MigrationStatus status, MigrationInfo info);

    /** When a new pass over dirty memory begins (QMP's MIGRATION_PASS event). */
    default void passStarted(long pass) {
    }

    /**
     * The link broke and the migration waits for a new connection ({@code up} false), or went on
     * over one ({@code up} true); only with --reconnect. {@code detail} is one line for people.
     */
    default void linkChanged(boolean up, String detail) {
    }
}
