package dev.vmmigrate.vmstate;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The values of a device's fields by name, in wire order: {@code Long} for integers,
 * {@code Boolean}, {@code byte[]} for buffers, nested {@code FieldValues} for structs and for
 * loaded subsections (keyed by subsection name). Devices convert their state to and from this;
 * the codec and inspect never need to know the device.
 */
public final class FieldValues {
    private final Map<String, Object> values = new LinkedHashMap<>();

    public FieldValues put(String name, Object value) {
        values.put(name, value);
        return this;
    }

    public long getLong(String name) {
        return (Long) require(name);
    }

    public boolean getBoolean(String name) {
        return (Boolean) require(name);
    }

    public byte[] getBytes(String name) {
        return (byte[]) require(name);
    }

    public FieldValues getStruct(String name) {
        return (FieldValues) require(name);
    }

    public boolean has(String name) {
        return values.containsKey(name);
    }

    public Object get(String name) {
        return values.get(name);
    }

    public Map<String, Object> asMap() {
        return Collections.unmodifiableMap(values);
    }

    private Object require(String name) {
        Object value = values.get(name);
        if (value == null) {
            throw new IllegalArgumentException("no value for field '" + name + "'");
        }
        return value;
    }
}
