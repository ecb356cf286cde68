package dev.vmmigrate.transport;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Objects;

/**
 * {@code file:PATH}: outgoing creates or truncates the file and writes the stream into it;
 * incoming reads it back. This is how a migration stream is saved for {@code inspect}.
 */
public record FileUri(Path path) implements MigrationUri {

    public FileUri {
        Objects.requireNonNull(path, "path");
    }

    static FileUri parse(String uri) {
        String rest = uri.substring("file:".length());
        if (rest.isEmpty()) throw new IllegalArgumentException("missing path in '" + uri + "' (expected file:PATH)");
        try {
            return new FileUri(Path.of(rest));
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException("bad path '" + rest + "' in '" + uri + "': " + e.getReason());
        }
    }

    @Override
    public Connection connect() throws IOException {
        try {
            FileChannel channel = FileChannel.open(path, StandardOpenOption.WRITE, StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING);
            // Closing a FileChannel wakes threads blocked in it (a FIFO at PATH can block).
            return new ChannelConnection("file " + path, channel, false, true, channel::close);
        } catch (IOException e) {
            throw IoErrors.wrap("cannot open " + this + " for writing", e);
        }
    }

    /** Checks PATH now, so that a typo fails before anything else is set up; opens it in accept. */
    @Override
    public IncomingEndpoint listen() throws IOException {
        checkReadable();
        return new PreparedEndpoint(toString(), () -> {
            checkReadable();
            try {
                FileChannel channel = FileChannel.open(path, StandardOpenOption.READ);
                return new ChannelConnection("file " + path, channel, true, false, channel::close);
            } catch (IOException e) {
                throw IoErrors.wrap("cannot open " + this + " for reading", e);
            }
        });
    }

    private void checkReadable() throws IOException {
        String where = "cannot open " + this + " for reading: ";
        // Linux lets a directory be opened for reading; the first read would fail less clearly.
        if (Files.isDirectory(path)) throw new IOException(where + "is a directory");
        if (!Files.exists(path)) throw new IOException(where + "no such file or directory");
        if (!Files.isReadable(path)) throw new IOException(where + "permission denied");
    }

    /** The URI text, "file:/tmp/vm.mig". */
    @Override
    public String toString() {
        return "file:" + path;
    }
}
