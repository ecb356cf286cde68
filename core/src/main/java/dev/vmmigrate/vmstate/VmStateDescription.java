package dev.vmmigrate.vmstate;

import java.util.List;
import java.util.Objects;
import java.util.function.Predicate;

/**
 * A device's state layout, QEMU's VMStateDescription: a versioned list of fields followed by
 * optional subsections. One description serves save, load and the vmdesc JSON.
 *
 * @param name the vmsd name (the subsection id on the wire for subsections)
 * @param version the version this side writes
 * @param minimumVersion the oldest stream version this side can load
 * @param fields in wire order
 * @param subsections sent after the fields when their {@code needed} predicate holds
 */
public record VmStateDescription(String name, int version, int minimumVersion,
                                 List<VmStateField> fields, List<Subsection> subsections) {
    public VmStateDescription {
        Objects.requireNonNull(name, "name");
        if (minimumVersion > version) {
            throw new IllegalArgumentException(name + ": minimum version " + minimumVersion + " > version " + version);
        }
        fields = List.copyOf(fields);
        subsections = List.copyOf(subsections);
    }

    public VmStateDescription(String name, int version, List<VmStateField> fields) {
        this(name, version, version, fields, List.of());
    }

    /** Subsection: its own description, sent only when {@code needed} says so for the values at hand. */
    public record Subsection(VmStateDescription description, Predicate<FieldValues> needed) {
        public Subsection {
            Objects.requireNonNull(description, "description");
            Objects.requireNonNull(needed, "needed");
        }
    }
}
