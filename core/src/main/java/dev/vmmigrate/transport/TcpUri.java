package dev.vmmigrate.transport;

import java.io.IOException;
import java.net.Inet6Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.StandardSocketOptions;
import java.net.UnknownHostException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;

/**
 * {@code tcp:HOST:PORT}. HOST is an IPv4 address, a host name, a bracketed IPv6 address
 * ({@code tcp:[::1]:4444}) or empty ({@code tcp::4444}, as in QEMU: every interface when
 * listening, loopback when connecting). {@link #host()} holds IPv6 addresses without brackets.
 *
 * <p>Socket buffer sizes are left to the kernel: setting SO_RCVBUF turns off Linux's
 * autotuning, which already grows the buffers to the path's bandwidth-delay product.
 */
public record TcpUri(String host, int port) implements MigrationUri {

    public TcpUri {
        Objects.requireNonNull(host, "host");
        if (port < 0 || port > 65535) {
            throw new IllegalArgumentException("bad port '" + port + "' in '" + text(host, port) + "' (expected 0..65535)");
        }
        if (host.chars().anyMatch(c -> c == '[' || c == ']' || c == '/' || Character.isWhitespace(c))) {
            throw new IllegalArgumentException("bad host '" + host + "' in '" + text(host, port) + "'");
        }
    }

    static TcpUri parse(String uri) {
        String rest = uri.substring("tcp:".length());
        String host;
        String portText;
        if (rest.startsWith("[")) {
            int close = rest.indexOf(']');
            if (close < 0) throw new IllegalArgumentException("missing ']' in '" + uri + "'");
            host = rest.substring(1, close);
            if (host.indexOf(':') < 0) {
                throw new IllegalArgumentException("bad IPv6 address '" + host + "' in '" + uri + "'");
            }
            String after = rest.substring(close + 1);
            if (!after.startsWith(":")) {
                throw new IllegalArgumentException("missing port in '" + uri + "' (expected tcp:[ADDRESS]:PORT)");
            }
            portText = after.substring(1);
        } else {
            int colon = rest.lastIndexOf(':');
            if (colon < 0) throw new IllegalArgumentException("missing port in '" + uri + "' (expected tcp:HOST:PORT)");
            host = rest.substring(0, colon);
            if (host.indexOf(':') >= 0) {
                throw new IllegalArgumentException("IPv6 address in '" + uri + "' must be in brackets, as in tcp:[::1]:4444");
            }
            portText = rest.substring(colon + 1);
        }
        if (portText.isEmpty()) throw new IllegalArgumentException("missing port in '" + uri + "' (expected tcp:HOST:PORT)");
        // Digits only: Integer.parseInt would accept "+80" and "٨٠".
        if (portText.length() > 5 || !portText.chars().allMatch(c -> c >= '0' && c <= '9')
                || Integer.parseInt(portText) > 65535) {
            throw new IllegalArgumentException("bad port '" + portText + "' in '" + uri + "' (expected 0..65535)");
        }
        return new TcpUri(host, Integer.parseInt(portText));
    }

    @Override
    public Connection connect() throws IOException {
        InetAddress[] candidates;
        try {
            candidates = host.isEmpty() ? new InetAddress[] {InetAddress.getLoopbackAddress()} : InetAddress.getAllByName(host);
        } catch (UnknownHostException e) {
            throw new IOException("cannot connect to " + this + ": unknown host '" + host + "'", e);
        }
        // Try every address the name resolves to (as QEMU does): "localhost" may give ::1
        // first while the receiver listens on 127.0.0.1 only.
        IOException first = null;
        for (InetAddress address : candidates) {
            SocketChannel channel = SocketChannel.open();
            try {
                channel.connect(new InetSocketAddress(address, port));
                channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
                keepAlive(channel);
                return ChannelConnection.ofSocket("tcp " + hostPort((InetSocketAddress) channel.getRemoteAddress()), channel);
            } catch (IOException e) {
                channel.close();
                if (first == null) first = e; else first.addSuppressed(e);
            }
        }
        throw IoErrors.wrap("cannot connect to " + this, first);
    }

    @Override
    public IncomingEndpoint listen() throws IOException {
        InetSocketAddress bindTo;
        try {
            bindTo = host.isEmpty() ? new InetSocketAddress(port) : new InetSocketAddress(InetAddress.getByName(host), port);
        } catch (UnknownHostException e) {
            throw new IOException("cannot listen on " + this + ": unknown host '" + host + "'", e);
        }
        ServerSocketChannel server = ServerSocketChannel.open();
        try {
            // A receiver restarted right after a failed attempt must not trip over TIME_WAIT.
            server.setOption(StandardSocketOptions.SO_REUSEADDR, true);
            server.bind(bindTo, SocketEndpoint.BACKLOG);
            InetSocketAddress bound = (InetSocketAddress) server.getLocalAddress();
            String boundUri = new TcpUri(format(bound.getAddress()), bound.getPort()).toString();
            return new SocketEndpoint(server, boundUri, TcpUri::wrapAccepted, () -> {});
        } catch (IOException e) {
            server.close();
            throw IoErrors.wrap("cannot listen on " + this, e);
        }
    }

    private static Connection wrapAccepted(SocketChannel channel) throws IOException {
        // The stream layer batches its own writes; Nagle would only delay small control messages.
        channel.setOption(StandardSocketOptions.TCP_NODELAY, true);
        keepAlive(channel);
        return ChannelConnection.ofSocket("tcp " + hostPort((InetSocketAddress) channel.getLocalAddress())
                + " (from " + hostPort((InetSocketAddress) channel.getRemoteAddress()) + ")", channel);
    }

    /**
     * TCP keepalive, probing after 10 s of silence every 5 s, 3 times: a peer that vanished
     * (host down, link cut without a reset) is noticed on an idle connection too. Stalls with
     * data in flight are the migration's stall timeout's to notice.
     */
    private static void keepAlive(SocketChannel channel) throws IOException {
        channel.setOption(StandardSocketOptions.SO_KEEPALIVE, true);
        channel.setOption(jdk.net.ExtendedSocketOptions.TCP_KEEPIDLE, 10);
        channel.setOption(jdk.net.ExtendedSocketOptions.TCP_KEEPINTERVAL, 5);
        channel.setOption(jdk.net.ExtendedSocketOptions.TCP_KEEPCOUNT, 3);
    }

    private static String hostPort(InetSocketAddress address) {
        String host = format(address.getAddress());
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + address.getPort();
    }

    /** Address text for users: "::1" rather than the JDK's "0:0:0:0:0:0:0:1". */
    static String format(InetAddress address) {
        String text = address.getHostAddress();
        if (!(address instanceof Inet6Address)) return text;
        int percent = text.indexOf('%');
        String scope = percent < 0 ? "" : text.substring(percent);
        List<String> groups = Arrays.asList((percent < 0 ? text : text.substring(0, percent)).split(":"));
        int bestStart = -1;
        int bestLength = 1; // RFC 5952: "::" never stands for a single group
        for (int i = 0; i < groups.size(); ) {
            int j = i;
            while (j < groups.size() && groups.get(j).equals("0")) j++;
            if (j - i > bestLength) {
                bestStart = i;
                bestLength = j - i;
            }
            i = Math.max(j, i + 1);
        }
        if (bestStart < 0) return String.join(":", groups) + scope;
        return String.join(":", groups.subList(0, bestStart)) + "::"
                + String.join(":", groups.subList(bestStart + bestLength, groups.size())) + scope;
    }

    private static String text(String host, int port) {
        return "tcp:" + (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port;
    }

    /** The URI text, "tcp:[::1]:4444". */
    @Override
    public String toString() {
        return text(host, port);
    }
}
