package dev.vmmigrate.cli;

import dev.vmmigrate.os.Libc;
import dev.vmmigrate.transport.FdUri;
import dev.vmmigrate.transport.MigrationUri;
import java.util.function.IntPredicate;

/** A migration stream is binary: it never goes to a terminal (send fd:1 typed without a redirect). */
final class TerminalGuard {
    private TerminalGuard() {
    }

    /** Refuses (exit 2) an {@code fd:N} whose descriptor is a terminal. */
    static void refuseTerminal(MigrationUri target) {
        refuseTerminal(target, TerminalGuard::isatty);
    }

    /** Same, with the test for a terminal given (tests decide without one). */
    static void refuseTerminal(MigrationUri target, IntPredicate isTerminal) {
        if (target instanceof FdUri(int fd) && isTerminal.test(fd)) {
            throw new CliFailure(ExitCode.USAGE, target + " is a terminal: refusing to write a binary migration "
                    + "stream to it (redirect descriptor " + fd + " to a file or a pipe)");
        }
    }

    private static boolean isatty(int fd) {
        try {
            return Libc.isatty(fd) == 1;
        } catch (RuntimeException e) {
            return false; // no answer: not known to be a terminal, so the stream may go there
        }
    }
}
