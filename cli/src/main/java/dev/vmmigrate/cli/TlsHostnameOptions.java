package dev.vmmigrate.cli;

import dev.vmmigrate.transport.MigrationUri;
import dev.vmmigrate.transport.TcpUri;
import dev.vmmigrate.transport.TlsCredentials;
import java.net.InetAddress;
import picocli.CommandLine.Option;

/** --tls-hostname for the sending ends (send, relay's OUT): QEMU's tls-hostname parameter. */
final class TlsHostnameOptions {
    @Option(names = "--tls-hostname", paramLabel = "NAME",
            description = "With --tls-creds: the name the receiver's certificate must carry, instead of the URI's "
                    + "host (needed for unix:, whose path names no host).")
    String hostname;

    /**
     * The name to check the receiver's certificate against: --tls-hostname, else the tcp: URI's
     * host (an IP address matches an IP subjectAltName; tcp::PORT is loopback); null without TLS.
     */
    String peerName(MigrationUri target, TlsCredentials creds) {
        if (creds == null) {
            if (hostname != null) {
                throw new CliFailure(ExitCode.USAGE, "--tls-hostname " + hostname + " is used only with --tls-creds");
            }
            return null;
        }
        if (hostname != null) {
            return hostname;
        }
        if (target instanceof TcpUri tcp) {
            return tcp.host().isEmpty() ? InetAddress.getLoopbackAddress().getHostAddress() : tcp.host();
        }
        // As QEMU's migration_tls_channel_connect: "No hostname available for TLS".
        throw new CliFailure(ExitCode.USAGE, "--tls-creds over " + target + " needs --tls-hostname NAME: the name in "
                + "the receiver's certificate (a socket path names no host)");
    }
}
