package dev.vmmigrate.transport;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.Objects;

/**
 * {@code unix:PATH}, a Unix domain stream socket.
 *
 * <p>Listening replaces a socket file left at PATH (as QEMU does: a crashed receiver leaves
 * one behind, and probing it with a connect would hand a live receiver a bogus connection),
 * but refuses to touch anything else there. The socket file is removed after the one accept()
 * or on close, and only if it is still the one we created. The socket file is 0600: only the
 * receiver's user can connect.
 */
public record UnixUri(Path path) implements MigrationUri {

    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;

    public UnixUri {
        Objects.requireNonNull(path, "path");
    }

    static UnixUri parse(String uri) {
        String rest = uri.substring("unix:".length());
        if (rest.isEmpty()) throw new IllegalArgumentException("missing path in '" + uri + "' (expected unix:PATH)");
        try {
            return new UnixUri(Path.of(rest));
        } catch (InvalidPathException e) {
            throw new IllegalArgumentException("bad path '" + rest + "' in '" + uri + "': " + e.getReason());
        }
    }

    @Override
    public Connection connect() throws IOException {
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.connect(UnixDomainSocketAddress.of(path));
            return ChannelConnection.ofSocket("unix " + path, channel);
        } catch (IOException e) {
            channel.close();
            throw IoErrors.wrap("cannot connect to " + this, e);
        }
    }

    @Override
    public IncomingEndpoint listen() throws IOException {
        String where = "cannot listen on " + this;
        BasicFileAttributes existing = attributes(path);
        if (existing != null) {
            if (!isSocket(path)) throw new IOException(where + ": " + path + " exists and is not a socket");
            Files.deleteIfExists(path);
        }
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        Object ourSocket;
        try {
            bindPrivately(server);
            BasicFileAttributes created = attributes(path);
            ourSocket = created == null ? null : created.fileKey();
        } catch (IOException e) {
            server.close();
            throw IoErrors.wrap(where, e);
        }
        return new SocketEndpoint(server, toString(),
                channel -> ChannelConnection.ofSocket("unix " + path, channel),
                () -> removeIfOurs(ourSocket));
    }

    /**
     * Binds the socket file 0600, so only its owner can connect (the stream is a whole machine's
     * memory): bound in a new directory only we can enter (0700), made 0600 there, then renamed
     * to PATH, so it is never reachable with the umask's wider mode.
     */
    private void bindPrivately(ServerSocketChannel server) throws IOException {
        Path parent = path.toAbsolutePath().getParent();
        Path staging = Files.createTempDirectory(parent, ".vm-migrate-bind");
        Path socket = staging.resolve("s");
        try {
            server.bind(UnixDomainSocketAddress.of(socket), SocketEndpoint.BACKLOG);
            Files.setPosixFilePermissions(socket, PosixFilePermissions.fromString("rw-------"));
            Files.move(socket, path, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(socket);
            Files.deleteIfExists(staging);
        }
    }

    /** Deletes PATH unless someone replaced our socket file in the meantime. */
    private void removeIfOurs(Object ourSocket) throws IOException {
        BasicFileAttributes now = attributes(path);
        if (now != null && ourSocket != null && ourSocket.equals(now.fileKey()) && isSocket(path)) {
            Files.deleteIfExists(path);
        }
    }

    private static BasicFileAttributes attributes(Path path) throws IOException {
        try {
            return Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        }
    }

    private static boolean isSocket(Path path) throws IOException {
        // BasicFileAttributes.isOther() also covers FIFOs and devices; st_mode tells sockets apart.
        int mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        return (mode & S_IFMT) == S_IFSOCK;
    }

    /** The URI text, "unix:/run/vm.sock". */
    @Override
    public String toString() {
        return "unix:" + path;
    }
}
