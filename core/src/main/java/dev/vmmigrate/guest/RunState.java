package dev.vmmigrate.guest;

/** The guest's run states, named as QEMU's QAPI RunState names them (the names go on the wire in globalstate). */
public enum RunState {
    PRELAUNCH("prelaunch"),
    RUNNING("running"),
    PAUSED("paused"),
    INMIGRATE("inmigrate"),
    FINISH_MIGRATE("finish-migrate"),
    POSTMIGRATE("postmigrate"),
    INTERNAL_ERROR("internal-error");

    private final String qemuName;

    RunState(String qemuName) {
        this.qemuName = qemuName;
    }

    /** QEMU's name, e.g. {@code finish-migrate}. */
    public String qemuName() {
        return qemuName;
    }

    /** The state QEMU calls {@code name}; IllegalArgumentException for any other name. */
    public static RunState fromQemuName(String name) {
        for (RunState state : values()) {
            if (state.qemuName.equals(name)) {
                return state;
            }
        }
        throw new IllegalArgumentException("unknown run state '" + name + "' (known: prelaunch, running, paused, "
                + "inmigrate, finish-migrate, postmigrate, internal-error)");
    }
}
