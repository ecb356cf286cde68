package dev.vmmigrate.transport;

/**
 * The one place that decides whether a listening receiver takes a new migration connection:
 * exactly one, as QEMU's -incoming (a second sender must not interleave with or replace the
 * first). Reconnecting after a broken link would admit again here.
 */
final class ConnectionAdmission {
    private boolean admitted;

    /** Whether a new connection may still become the migration (it may then be screened). */
    synchronized boolean admitsMore() {
        return !admitted;
    }

    /** Takes a screened connection as the migration; false when one was taken already. */
    synchronized boolean admit() {
        if (admitted) {
            return false;
        }
        admitted = true;
        return true;
    }
}
