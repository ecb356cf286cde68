package dev.vmmigrate.savevm;

import java.util.ArrayList;
import java.util.List;

/**
 * The handlers of one machine, in registration order (which is the order of their sections).
 * An instance per machine, never a global: a test may run a sender and a receiver side by side.
 */
public final class HandlerRegistry {
    /** Id strings with this prefix are ours; QEMU does not know them. */
    public static final String OWN_PREFIX = "vm-migrate/";

    private final List<IterativeHandler> iterative = new ArrayList<>();
    private final List<DeviceHandler> devices = new ArrayList<>();

    public HandlerRegistry add(IterativeHandler handler) {
        requireUnique(handler.idstr(), handler.instanceId());
        iterative.add(handler);
        return this;
    }

    public HandlerRegistry add(DeviceHandler device) {
        requireUnique(device.idstr(), device.instanceId());
        devices.add(device);
        return this;
    }

    public List<IterativeHandler> iterative() {
        return List.copyOf(iterative);
    }

    public List<DeviceHandler> devices() {
        return List.copyOf(devices);
    }

    /** A copy without our own {@code vm-migrate/} sections, for a QEMU destination. */
    public HandlerRegistry withoutOwnSections() {
        HandlerRegistry copy = new HandlerRegistry();
        iterative.stream().filter(h -> !h.idstr().startsWith(OWN_PREFIX)).forEach(copy::add);
        devices.stream().filter(d -> !d.idstr().startsWith(OWN_PREFIX)).forEach(copy::add);
        return copy;
    }

    public IterativeHandler findIterative(String idstr, int instanceId) {
        for (IterativeHandler h : iterative) {
            if (h.idstr().equals(idstr) && h.instanceId() == instanceId) {
                return h;
            }
        }
        return null;
    }

    public DeviceHandler findDevice(String idstr, int instanceId) {
        for (DeviceHandler d : devices) {
            if (d.idstr().equals(idstr) && d.instanceId() == instanceId) {
                return d;
            }
        }
        return null;
    }

    private void requireUnique(String idstr, int instanceId) {
        if (findIterative(idstr, instanceId) != null || findDevice(idstr, instanceId) != null) {
            throw new IllegalArgumentException("handler '" + idstr + "' instance " + instanceId + " registered twice");
        }
    }
}
