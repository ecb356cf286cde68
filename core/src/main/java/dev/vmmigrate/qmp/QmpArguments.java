package dev.vmmigrate.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Iterator;
import java.util.Set;

/**
 * A command's "arguments" object, checked as QEMU's QAPI visitors check them: a member the
 * command does not take, a missing one, or one of the wrong type is an error in QEMU's words.
 */
final class QmpArguments {
    private final ObjectNode arguments;

    private QmpArguments(ObjectNode arguments) {
        this.arguments = arguments;
    }

    /** The arguments of a request, none when absent; only the members in {@code accepted} may appear. */
    static QmpArguments of(JsonNode request, Set<String> accepted) throws QmpException {
        JsonNode node = request.get("arguments");
        if (node == null || node.isNull()) {
            node = com.fasterxml.jackson.databind.node.JsonNodeFactory.instance.objectNode();
        }
        if (!(node instanceof ObjectNode object)) {
            throw QmpException.generic("QMP input member 'arguments' must be an object");
        }
        for (Iterator<String> names = object.fieldNames(); names.hasNext(); ) {
            String name = names.next();
            if (!accepted.contains(name)) {
                throw QmpException.generic("Parameter '" + name + "' is unexpected");
            }
        }
        return new QmpArguments(object);
    }

    boolean has(String name) {
        return arguments.has(name);
    }

    JsonNode node(String name) throws QmpException {
        JsonNode value = arguments.get(name);
        if (value == null) {
            throw QmpException.generic("Parameter '" + name + "' is missing");
        }
        return value;
    }

    String string(String name) throws QmpException {
        JsonNode value = node(name);
        if (!value.isTextual()) {
            throw QmpException.generic("Invalid parameter type for '" + name + "', expected: string");
        }
        return value.asText();
    }

    long integer(String name) throws QmpException {
        JsonNode value = node(name);
        if (!value.isIntegralNumber() || !value.canConvertToLong()) {
            throw QmpException.generic("Invalid parameter type for '" + name + "', expected: integer");
        }
        return value.asLong();
    }

    boolean bool(String name, boolean absent) throws QmpException {
        if (!has(name)) {
            return absent;
        }
        JsonNode value = node(name);
        if (!value.isBoolean()) {
            throw QmpException.generic("Invalid parameter type for '" + name + "', expected: boolean");
        }
        return value.asBoolean();
    }
}
