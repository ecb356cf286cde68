package dev.vmmigrate.cli;

import dev.vmmigrate.transport.MigrationUri;

/** The check send's and receive's --reconnect share: only a socket (tcp:, unix:) can be connected to again. */
final class ReconnectUri {
    private ReconnectUri() {
    }

    /** @throws CliFailure exit 2, naming {@code uri}, when it is not a socket */
    static void require(MigrationUri uri) {
        if (!uri.isSocket()) {
            throw new CliFailure(ExitCode.USAGE, "--reconnect needs a tcp: or unix: URI (" + uri
                    + " cannot be connected to again)");
        }
    }
}
