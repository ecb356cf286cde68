package dev.vmmigrate.qmp;

/**
 * A command's failure as QMP reports it: {"error": {"class": ..., "desc": ...}}, with QEMU's
 * error classes.
 */
public final class QmpException extends Exception {
    /** QEMU's ErrorClass names (qapi/error.json). */
    public enum ErrorClass {
        GENERIC_ERROR("GenericError"),
        COMMAND_NOT_FOUND("CommandNotFound");

        final String wireName;

        ErrorClass(String wireName) {
            this.wireName = wireName;
        }

        /** The name on the wire: "GenericError", "CommandNotFound". */
        public String wireName() {
            return wireName;
        }
    }

    private final ErrorClass errorClass;

    QmpException(ErrorClass errorClass, String desc) {
        super(desc);
        this.errorClass = errorClass;
    }

    static QmpException generic(String desc) {
        return new QmpException(ErrorClass.GENERIC_ERROR, desc);
    }

    public ErrorClass errorClass() {
        return errorClass;
    }
}
