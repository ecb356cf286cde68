package dev.vmmigrate.transport;

import dev.vmmigrate.os.Libc;
import java.io.IOException;

/**
 * {@code fd:N}: a descriptor the parent process handed us, e.g. {@code 5>out.mig} or one end
 * of a socketpair. It may be a pipe, a regular file or a socket; the descriptor's access mode
 * decides which directions the connection offers, and is checked up front so that sending on
 * a read-only descriptor fails with a clear message rather than EBADF mid-stream.
 * Descriptors 1 and 2 work too; keeping System.out off them is the caller's business.
 */
public record FdUri(int fd) implements MigrationUri {

    public FdUri {
        if (fd < 0) throw new IllegalArgumentException("bad descriptor '" + fd + "' in 'fd:" + fd + "' (expected a number >= 0)");
    }

    static FdUri parse(String uri) {
        String rest = uri.substring("fd:".length());
        // Digits only, at most 10 of them, and within int: "fd:+3", "fd:3x" and "fd:-1" are typos.
        if (rest.isEmpty() || rest.length() > 10 || !rest.chars().allMatch(c -> c >= '0' && c <= '9')
                || Long.parseLong(rest) > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("bad descriptor '" + rest + "' in '" + uri + "' (expected a number >= 0)");
        }
        return new FdUri(Integer.parseInt(rest));
    }

    @Override
    public Connection connect() throws IOException {
        return open(true);
    }

    /** Checks the descriptor now (a wrong number should fail before anything else starts). */
    @Override
    public IncomingEndpoint listen() throws IOException {
        checkMode(false);
        return new PreparedEndpoint(toString(), () -> open(false));
    }

    private Connection open(boolean sending) throws IOException {
        int mode = checkMode(sending);
        FdChannel channel = new FdChannel(fd);
        return new ChannelConnection("fd " + fd, channel, mode != Libc.O_WRONLY, mode != Libc.O_RDONLY, channel::shutdown);
    }

    private int checkMode(boolean sending) throws IOException {
        int mode = FdChannel.accessMode(fd);
        if (sending && mode == Libc.O_RDONLY) throw new IOException("fd " + fd + " is open read-only; cannot send on it");
        if (!sending && mode == Libc.O_WRONLY) throw new IOException("fd " + fd + " is open write-only; cannot receive from it");
        return mode;
    }

    /** The URI text, "fd:5". */
    @Override
    public String toString() {
        return "fd:" + fd;
    }
}
