package dev.vmmigrate.migration;

/** The states of a migration, named as QMP's query-migrate reports them. */
public enum MigrationStatus {
    NONE("none"),
    SETUP("setup"),
    ACTIVE("active"),
    /** The guest runs at the destination while its RAM still comes (QEMU's postcopy-active). */
    POSTCOPY_ACTIVE("postcopy-active"),
    /**
     * The link broke after the switch and both sides wait to resume (send and receive
     * --reconnect): the source keeps its stopped guest and every page, the destination runs the
     * guest, whose touches of missing pages wait (QEMU's postcopy-paused).
     */
    POSTCOPY_PAUSED("postcopy-paused"),
    /** A new link is up and the recovery handshake begins (QEMU 10.0's postcopy-recover-setup). */
    POSTCOPY_RECOVER_SETUP("postcopy-recover-setup"),
    /** The recovery handshake: received bitmaps, then POSTCOPY_RESUME and RESUME_ACK (QEMU's postcopy-recover). */
    POSTCOPY_RECOVER("postcopy-recover"),
    CANCELLING("cancelling"),
    CANCELLED("cancelled"),
    COMPLETED("completed"),
    FAILED("failed");

    private final String qmpName;

    MigrationStatus(String qmpName) {
        this.qmpName = qmpName;
    }

    public String qmpName() {
        return qmpName;
    }

    /** Setup, active or cancelling: a new migration or a capability change must be refused. */
    public boolean isActive() {
        return this == SETUP || this == ACTIVE || isPostcopy() || this == CANCELLING;
    }

    /** After the switch to postcopy and not finished: active, paused or recovering. */
    public boolean isPostcopy() {
        return this == POSTCOPY_ACTIVE || this == POSTCOPY_PAUSED || this == POSTCOPY_RECOVER_SETUP
                || this == POSTCOPY_RECOVER;
    }

    public boolean isFinished() {
        return this == CANCELLED || this == COMPLETED || this == FAILED;
    }

    @Override
    public String toString() {
        return qmpName;
    }
}
