package dev.vmmigrate.cli;

/**
 * The exit codes scripts rely on: one per outcome, documented in --help (VmMigrate's
 * exitCodeList, keep the two in step) and vm-migrate(1).
 */
public final class ExitCode {
    /** The migration completed (send), the guest was loaded and verified (receive), the stream was read (inspect). */
    public static final int OK = 0;
    /** The migration failed: connection lost, peer failed, stream cut short, did not converge in time. */
    public static final int FAILED = 1;
    /** Bad usage or bad input: an unknown option, a malformed value, a stream that is not valid or does not fit this guest. */
    public static final int USAGE = 2;
    /** The migration was cancelled (Ctrl-C). */
    public static final int CANCELLED = 3;
    /** The received state does not match the digest the source sent: the guest was not resumed. */
    public static final int VERIFICATION = 4;
    /**
     * Receive: the guest was loaded and verified and the return path said so, but the source's
     * commit never came: the guest is held paused (the source may still run its copy).
     */
    public static final int UNCOMMITTED = 5;

    private ExitCode() {
    }
}
