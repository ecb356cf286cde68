package dev.vmmigrate.migration;

/** The states of a migration, named as QMP's query-migrate reports them. */
public enum MigrationStatus {
    NONE("none"),
    SETUP("setup"),
    ACTIVE("active"),
    /** The guest runs at the destination while its RAM still comes (QEMU's postcopy-active). */
    POSTCOPY_ACTIVE("postcopy-active"),
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
        return this == SETUP || this == ACTIVE || this == POSTCOPY_ACTIVE || this == CANCELLING;
    }

    public boolean isFinished() {
        return this == CANCELLED || this == COMPLETED || this == FAILED;
    }

    @Override
    public String toString() {
        return qmpName;
    }
}
