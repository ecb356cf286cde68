package dev.vmmigrate.qmp;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmmigrate.transport.Connection;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;

/**
 * One QMP client: the greeting, then requests read as a sequence of JSON objects (QEMU does not
 * need them on lines of their own), each answered with its "id", and the events once the client
 * left capabilities negotiation. Replies and events are written whole, one at a time.
 */
final class QmpSession {
    private final Connection connection;
    private final ObjectMapper json;
    private final Qmp qmp;
    private final ObjectNode greeting;
    private final Consumer<QmpSession> onClose;
    private final OutputStream out;
    private volatile boolean negotiated;

    QmpSession(Connection connection, Qmp qmp, ObjectNode greeting, Consumer<QmpSession> onClose) {
        this.connection = connection;
        this.json = qmp.json();
        this.qmp = qmp;
        this.greeting = greeting;
        this.onClose = onClose;
        this.out = Channels.newOutputStream(connection.output());
    }

    void serve() {
        try (InputStream in = Channels.newInputStream(connection.input())) {
            send(greeting); // first: opening the reader below already waits for the client's first bytes
            MappingIterator<JsonNode> requests = json.readerFor(JsonNode.class).readValues(in);
            while (requests.hasNextValue()) {
                JsonNode request = requests.nextValue();
                ObjectNode reply = answer(request);
                send(reply);
                if (reply.has("return") && request.path("execute").isTextual()) {
                    qmp.quitIf(request.get("execute").asText());
                }
            }
        } catch (JsonProcessingException e) {
            // QEMU answers a broken request and goes on; a stream parser cannot: say why and hang up.
            trySend(error(null, QmpException.generic("JSON parse error, " + e.getOriginalMessage())));
        } catch (IOException | RuntimeException e) {
            // the client went away
        } finally {
            close();
        }
    }

    private ObjectNode answer(JsonNode request) {
        JsonNode id = request.get("id");
        if (!request.isObject()) {
            return error(id, QmpException.generic("QMP input must be a JSON object"));
        }
        JsonNode execute = request.get("execute");
        if (execute == null) {
            return error(id, QmpException.generic("QMP input lacks member 'execute'"));
        }
        if (!execute.isTextual()) {
            return error(id, QmpException.generic("QMP input member 'execute' must be a string"));
        }
        String name = execute.asText();
        try {
            JsonNode result;
            if (name.equals("qmp_capabilities")) {
                result = negotiate(request);
            } else if (!negotiated) {
                throw new QmpException(QmpException.ErrorClass.COMMAND_NOT_FOUND,
                        "Expecting capabilities negotiation with 'qmp_capabilities'");
            } else {
                result = qmp.execute(name, request);
            }
            ObjectNode reply = json.createObjectNode();
            reply.set("return", result);
            if (id != null) {
                reply.set("id", id);
            }
            return reply;
        } catch (QmpException e) {
            return error(id, e);
        }
    }

    private JsonNode negotiate(JsonNode request) throws QmpException {
        if (negotiated) {
            throw new QmpException(QmpException.ErrorClass.COMMAND_NOT_FOUND,
                    "Capabilities negotiation is already complete, command ignored");
        }
        QmpArguments arguments = QmpArguments.of(request, java.util.Set.of("enable"));
        if (arguments.has("enable") && !arguments.node("enable").isEmpty()) {
            throw QmpException.generic("This monitor does not support Out-Of-Band (OOB)");
        }
        negotiated = true;
        return json.createObjectNode();
    }

    private ObjectNode error(JsonNode id, QmpException e) {
        ObjectNode reply = json.createObjectNode();
        reply.putObject("error").put("class", e.errorClass().wireName).put("desc", e.getMessage());
        if (id != null) {
            reply.set("id", id);
        }
        return reply;
    }

    /** An event, to a client past negotiation, with QEMU's timestamp. */
    void event(String name, ObjectNode data) {
        if (!negotiated) {
            return;
        }
        long micros = System.currentTimeMillis() * 1000;
        ObjectNode event = json.createObjectNode();
        event.putObject("timestamp").put("seconds", micros / 1_000_000).put("microseconds", micros % 1_000_000);
        event.put("event", name);
        if (data != null) {
            event.set("data", data);
        }
        trySend(event);
    }

    private void trySend(ObjectNode message) {
        try {
            send(message);
        } catch (IOException ignored) {
            close(); // a client that cannot be written to is gone
        }
    }

    private void send(ObjectNode message) throws IOException {
        byte[] bytes = (json.writeValueAsString(message) + "\r\n").getBytes(StandardCharsets.UTF_8);
        synchronized (out) {
            out.write(bytes);
            out.flush();
        }
    }

    void close() {
        onClose.accept(this);
        connection.shutdown();
        try {
            connection.close();
        } catch (IOException ignored) {
            // the session is over either way
        }
    }
}
