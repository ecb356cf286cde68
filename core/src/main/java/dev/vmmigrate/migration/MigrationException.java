package dev.vmmigrate.migration;

/** A migration request refused (already active, blocked, bad parameter) or a migration that failed: the message says why, the cause what broke. */
public final class MigrationException extends RuntimeException {
    public MigrationException(String message) {
        super(message);
    }

    /** A failure whose {@code cause} (a broken link, a refused stream) stays attached for logs and callers. */
    public MigrationException(String message, Throwable cause) {
        super(message, cause);
    }
}
