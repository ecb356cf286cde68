package dev.vmmigrate.returnpath;

import dev.vmmigrate.stream.StreamFormatException;

/**
 * The messages a destination sends back on the return path: QEMU's enum mig_rp_message_type and
 * rp_cmd_args in migration.c, with their wire codes and payload lengths (-1: variable).
 */
public enum ReturnPathType {
    /** The destination is done: be32 status, 0 when the load succeeded. */
    SHUT(0x01, 4),
    /** The answer to a PING command: be32, the PING's value. */
    PONG(0x02, 4),
    /** Postcopy: be64 start, be32 length, then a RAM block name (u8 length, bytes): pages to send first. */
    REQ_PAGES_ID(0x03, -1),
    /** Postcopy: be64 start, be32 length in the block the last REQ_PAGES_ID named (QEMU 7.2 and 10.0). */
    REQ_PAGES(0x04, 12),
    /** Postcopy recovery: the bitmap of pages the destination holds. */
    RECV_BITMAP(0x05, -1),
    /** Postcopy recovery: the destination is ready to go on. */
    RESUME_ACK(0x06, 4),
    /** QEMU 8.1+ switchover-ack capability: the destination is ready for the switchover. */
    SWITCHOVER_ACK(0x07, 0),
    /**
     * vm-migrate's own, sent only to a vm-migrate source (one whose stream carries vm-migrate's
     * sections): why the destination refused the stream, as UTF-8 text, before its SHUT.
     */
    VM_MIGRATE_ERROR(0x7e01, -1),
    /**
     * vm-migrate's own, to a vm-migrate source whose stream offered to resume (COMMAND
     * VM_MIGRATE_RESUMABLE), when the destination runs with --reconnect: the be64 token echoed,
     * before the PONG of the source's first PING.
     */
    VM_MIGRATE_RESUMABLE(0x7e02, 8),
    /**
     * vm-migrate's own, ending a resume handshake after the RECV_BITMAPs: be64, the stream offset
     * up to which every section was read whole; what the source sent from there on is sent again.
     */
    VM_MIGRATE_RESUMED(0x7e03, 8);

    /** Longest variable payload read: QEMU's largest (a postcopy bitmap) is sent in other ways. */
    static final int MAX_PAYLOAD = 0xffff;

    private final int code;
    private final int length;

    ReturnPathType(int code, int length) {
        this.code = code;
        this.length = length;
    }

    public int code() {
        return code;
    }

    /** The payload's fixed length, or -1 when it varies. */
    public int length() {
        return length;
    }

    private static final int TLS_ALERT_RECORD = 0x1503;
    private static final int TLS_HANDSHAKE_RECORD = 0x1603;

    /** @param offset where the code was read on the return path, for the error */
    public static ReturnPathType fromCode(int code, long offset) throws StreamFormatException {
        for (ReturnPathType type : values()) {
            if (type.code == code) {
                return type;
            }
        }
        if (offset == 0 && (code == TLS_ALERT_RECORD || code == TLS_HANDSHAKE_RECORD)) {
            // A TLS record (content type 21 or 22, version 3.x) where the first message should be.
            throw new StreamFormatException(String.format("the destination uses TLS (QEMU's tls-creds) and this "
                    + "end does not: a TLS record (0x%04x) instead of a return path message", code), offset);
        }
        throw new StreamFormatException(String.format("unknown return path message 0x%04x", code), offset);
    }
}
