package dev.vmmigrate.transport;

import java.io.IOException;
import java.util.Objects;

/**
 * {@code exec:COMMAND}, run by {@code /bin/sh -c}. Outgoing, the stream is the command's
 * stdin ({@code exec:ssh host 'cat > vm.img'}); incoming, it is the command's stdout
 * ({@code exec:gzip -dc vm.img.gz}). Its stderr is always ours, so ssh's prompts and errors
 * reach the user.
 */
public record ExecUri(String command) implements MigrationUri {

    public ExecUri {
        Objects.requireNonNull(command, "command");
        if (command.isBlank()) throw new IllegalArgumentException("missing command in 'exec:" + command + "'");
    }

    static ExecUri parse(String uri) {
        return new ExecUri(uri.substring("exec:".length()));
    }

    @Override
    public Connection connect() throws IOException {
        return ExecConnection.spawnWriter(command);
    }

    /** Spawns nothing yet: the command starts in {@link IncomingEndpoint#accept()}. */
    @Override
    public IncomingEndpoint listen() {
        return new PreparedEndpoint(toString(), () -> ExecConnection.spawnReader(command));
    }

    /** The URI text, "exec:COMMAND". */
    @Override
    public String toString() {
        return "exec:" + command;
    }
}
