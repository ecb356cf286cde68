package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.StreamFormatException;

/**
 * The commands a COMMAND section (0x08) carries: QEMU's enum qemu_vm_cmd and mig_cmd_args in
 * savevm.c, with their wire codes and payload lengths (-1: variable, bounded by the be16 length).
 * Only SWITCHOVER_START (QEMU 10's precopy streams) needs nothing; a destination with a return
 * path also answers OPEN_RETURN_PATH and PING and takes QEMU's postcopy (ADVISE, RAM_DISCARD,
 * LISTEN, PACKAGED, RUN) and, after a break with --reconnect, its recovery (RECV_BITMAP,
 * POSTCOPY_RESUME); {@link #refusal()} names what is missing for the rest.
 */
public enum MigrationCommand {
    OPEN_RETURN_PATH(0x01, 0, "QEMU's return-path capability needs a transport with a back channel (tcp: or unix:)"),
    PING(0x02, 4, "QEMU's PING command needs the return path (tcp: or unix:)"),
    POSTCOPY_ADVISE(0x03, -1, "QEMU's postcopy-ram capability needs a return path (tcp: or unix:)"),
    POSTCOPY_LISTEN(0x04, 0, Refusals.SWITCH_TO_POSTCOPY),
    POSTCOPY_RUN(0x05, 0, Refusals.SWITCH_TO_POSTCOPY),
    POSTCOPY_RAM_DISCARD(0x06, -1, Refusals.SWITCH_TO_POSTCOPY),
    PACKAGED(0x07, 4, Refusals.SWITCH_TO_POSTCOPY),
    ENABLE_COLO(0x08, 0, "QEMU's x-colo capability is not supported"),
    /** Postcopy recovery: the source resumes sending; the destination answers RESUME_ACK. */
    POSTCOPY_RESUME(0x09, 0, Refusals.POSTCOPY_RECOVERY),
    /** Postcopy recovery: u8 length, a RAM block name; the destination answers with its RECV_BITMAP. */
    RECV_BITMAP(0x0a, -1, Refusals.POSTCOPY_RECOVERY),
    /** QEMU 10: the source is about to stop the guest; a precopy destination only notes it. */
    SWITCHOVER_START(0x0b, 0, null),
    /**
     * vm-migrate's own, sent only to a vm-migrate destination (send --reconnect), after
     * OPEN_RETURN_PATH: be64 token, which a new connection presents to resume this migration
     * after the link broke. A destination that resumes (receive --reconnect) echoes it on the
     * return path before its first PONG; any other takes it as news and ignores it.
     */
    VM_MIGRATE_RESUMABLE(0x7e01, 8, "vm-migrate's resumable migration (send --reconnect) needs the return path "
            + "(tcp: or unix:)");

    private final int code;
    private final int length;
    private final String refusal;

    /** Texts the constants share (a nested class: enum constants cannot read the enum's own statics). */
    private static final class Refusals {
        /** Why LISTEN, RUN, RAM_DISCARD and PACKAGED are refused where the load cannot ask for pages. */
        static final String SWITCH_TO_POSTCOPY = "QEMU's switch to postcopy needs the return path (tcp: or unix:), "
                + "on which the destination asks for the pages its guest touches";
        /** Why RECV_BITMAP and POSTCOPY_RESUME are refused where no postcopy migration is paused. */
        static final String POSTCOPY_RECOVERY = "QEMU's postcopy recovery comes only on the new link of a postcopy "
                + "migration that broke after the switch, to a destination started with receive --reconnect";
    }

    MigrationCommand(int code, int length, String refusal) {
        this.code = code;
        this.length = length;
        this.refusal = refusal;
    }

    public int code() {
        return code;
    }

    /** The payload's fixed length, or -1 when it varies. */
    public int length() {
        return length;
    }

    /** Why a loader cannot act on this command, or null when it can (SWITCHOVER_START). */
    public String refusal() {
        return refusal;
    }

    /** @param offset where the code was read, for the error */
    public static MigrationCommand fromCode(int code, long offset) throws StreamFormatException {
        for (MigrationCommand command : values()) {
            if (command.code == code) {
                return command;
            }
        }
        throw new StreamFormatException(String.format("unknown COMMAND 0x%04x", code), offset);
    }
}
