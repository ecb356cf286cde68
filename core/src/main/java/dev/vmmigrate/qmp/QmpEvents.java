package dev.vmmigrate.qmp;

import com.fasterxml.jackson.databind.node.ObjectNode;

/** Where a QMP event goes: every QMP client past capabilities negotiation, the monitor. */
@FunctionalInterface
public interface QmpEvents {
    /** {@code data} null for an event without data (STOP, RESUME). */
    void emit(String event, ObjectNode data);
}
