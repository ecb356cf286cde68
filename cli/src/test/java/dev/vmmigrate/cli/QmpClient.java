package dev.vmmigrate.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

/**
 * A tiny QMP client over a unix socket: reads the greeting, negotiates capabilities, executes
 * commands one at a time and keeps the asynchronous events it reads on the way.
 */
final class QmpClient implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    private final SocketChannel channel;
    private final BufferedReader in;
    private final OutputStream out;
    private final JsonNode greeting;
    private final List<JsonNode> events = new ArrayList<>();

    private QmpClient(SocketChannel channel) throws IOException {
        this.channel = channel;
        this.in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
        this.out = Channels.newOutputStream(channel);
        this.greeting = readMessage();
        if (!greeting.has("QMP")) {
            throw new IOException("not a QMP greeting: " + greeting);
        }
        execute("qmp_capabilities");
    }

    /**
     * Connects to QEMU's {@code -qmp unix:SOCKET,server=on,wait=off}, waiting (up to
     * {@code guard}) for QEMU to create the socket; fails early if {@code qemu} died.
     */
    static QmpClient connect(Path socket, Process qemu, Duration guard) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + guard.toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            if (!qemu.isAlive()) {
                throw new IOException("QEMU exited with status " + qemu.exitValue() + " before its QMP socket was up");
            }
            if (Files.exists(socket)) {
                SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
                try {
                    channel.connect(UnixDomainSocketAddress.of(socket));
                    return new QmpClient(channel);
                } catch (IOException e) {
                    channel.close();
                    last = e;
                }
            }
            Thread.sleep(50);
        }
        throw new IOException("no QMP on " + socket + " after " + guard.toSeconds() + " s", last);
    }

    JsonNode greeting() {
        return greeting;
    }

    /** Events read so far, in order. */
    List<JsonNode> events() {
        return List.copyOf(events);
    }

    /** Executes a command without arguments and returns its "return" value. */
    JsonNode execute(String command) throws IOException {
        return execute(command, null);
    }

    /** Executes {@code command} and returns its "return" value; a QMP error becomes an IOException. */
    JsonNode execute(String command, ObjectNode arguments) throws IOException {
        ObjectNode request = JSON.createObjectNode().put("execute", command);
        if (arguments != null) {
            request.set("arguments", arguments);
        }
        out.write((request + "\n").getBytes(StandardCharsets.UTF_8));
        out.flush();
        while (true) {
            JsonNode reply = readMessage();
            if (reply.has("event")) {
                events.add(reply);
            } else if (reply.has("return")) {
                return reply.get("return");
            } else if (reply.has("error")) {
                throw new IOException("QMP " + command + " failed: " + reply.get("error"));
            } else {
                throw new IOException("unexpected QMP message: " + reply);
            }
        }
    }

    static ObjectNode args() {
        return JSON.createObjectNode();
    }

    private JsonNode readMessage() throws IOException {
        String line = in.readLine();
        if (line == null) {
            throw new IOException("QMP connection closed by QEMU");
        }
        return JSON.readTree(line);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
