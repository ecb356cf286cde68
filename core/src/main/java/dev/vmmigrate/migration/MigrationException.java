package dev.vmmigrate.migration;

/** A migration request refused (already active, blocked, bad parameter): the message says why. */
public final class MigrationException extends RuntimeException {
    public MigrationException(String message) {
        super(message);
    }
}
