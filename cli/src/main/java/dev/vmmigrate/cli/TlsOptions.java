package dev.vmmigrate.cli;

import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import dev.vmmigrate.transport.TcpUri;
import dev.vmmigrate.transport.TlsCredentials;
import dev.vmmigrate.transport.TlsRole;
import dev.vmmigrate.transport.UnixUri;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import picocli.CommandLine.Option;

/**
 * --tls-creds, shared by send, receive and relay: QEMU's tls-creds-x509 object with
 * migrate-set-parameters tls-creds. QEMU does TLS on sockets only, and so does vm-migrate.
 */
final class TlsOptions {
    @Option(names = "--tls-creds", paramLabel = "DIR",
            description = "Mutual TLS with the credentials in DIR, laid out as QEMU's tls-creds-x509 (e.g. "
                    + "/etc/pki/qemu): ca-cert.pem, server-cert.pem and server-key.pem (receiving end), "
                    + "client-cert.pem and client-key.pem (sending end), optional ca-crl.pem. The receiving end "
                    + "requires a client certificate signed by the CA; the sending end checks the receiver's "
                    + "certificate and name. tcp: and unix: only.")
    Path credsDir;

    /**
     * The credentials of {@code role} for {@code uri}, or null without --tls-creds.
     *
     * @throws CliFailure exit 2: a transport without a socket, or credentials that do not load
     */
    TlsCredentials load(MigrationUri uri, TlsRole role) {
        if (credsDir == null) {
            return null;
        }
        if (!(uri instanceof TcpUri || uri instanceof UnixUri)) {
            throw new CliFailure(ExitCode.USAGE, "--tls-creds " + credsDir + ": TLS needs a socket (tcp: or unix:), "
                    + "and " + uri + " is not one");
        }
        try {
            return TlsCredentials.load(credsDir, role);
        } catch (IOException e) {
            throw new CliFailure(ExitCode.USAGE, "--tls-creds: " + e.getMessage(), e);
        }
    }

    /**
     * Listens on {@code source}; with credentials, its connection comes after the TLS handshake,
     * which must end within {@code timeout} (and ends at once when the endpoint is closed).
     */
    static IncomingEndpoint listen(MigrationUri source, TlsCredentials creds, Duration timeout) throws IOException {
        IncomingEndpoint plain = source.listen();
        return creds == null ? plain : creds.serve(plain, timeout);
    }

    /** {@code plain} itself without credentials, else the connection after the TLS handshake. */
    static Connection secure(Connection plain, TlsCredentials creds, String peerName, Duration timeout)
            throws IOException {
        return creds == null ? plain : creds.handshake(plain, peerName, timeout);
    }
}
