package dev.vmmigrate.migration;

import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.savevm.DeviceHandler;
import dev.vmmigrate.vmstate.FieldType;
import dev.vmmigrate.vmstate.FieldValues;
import dev.vmmigrate.vmstate.VmStateDescription;
import dev.vmmigrate.vmstate.VmStateField;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * The {@code vm-migrate/capabilities} section, sent at setup before any RAM: tells the receiver
 * which capabilities the sender uses, so it reads zstd pages without a flag of its own.
 */
public final class StreamCapabilities {
    public static final String IDSTR = "vm-migrate/capabilities";
    private static final VmStateDescription DESCRIPTION = new VmStateDescription(IDSTR, 1, List.of(
            VmStateField.integer("capabilities", FieldType.UINT32),
            VmStateField.integer("compress_level", FieldType.INT32)));

    private final RamHandler ram;
    private volatile MigrationCapabilities current = MigrationCapabilities.none();
    private volatile Set<Capability> received = Set.of();

    StreamCapabilities(RamHandler ram) {
        this.ram = ram;
    }

    /** The capabilities a section's "capabilities" field announces (for readers without a guest: inspect). */
    public static Set<Capability> announced(long bits) {
        Set<Capability> announced = EnumSet.noneOf(Capability.class);
        for (Capability capability : Capability.values()) {
            if ((bits & (1L << capability.ordinal())) != 0) {
                announced.add(capability);
            }
        }
        return announced;
    }

    void use(MigrationCapabilities capabilities) {
        current = capabilities;
    }

    /** What the last loaded stream announced. */
    Set<Capability> received() {
        return received;
    }

    DeviceHandler handler() {
        return new DeviceHandler(IDSTR, 0, DESCRIPTION, this::save, this::load, true);
    }

    private FieldValues save() {
        long bits = 0;
        for (Capability capability : current.enabled()) {
            bits |= 1L << capability.ordinal();
        }
        return new FieldValues().put("capabilities", bits).put("compress_level", (long) current.compressLevel());
    }

    private void load(FieldValues values) {
        long bits = values.getLong("capabilities");
        Set<Capability> announced = announced(bits);
        if ((bits >>> Capability.values().length) != 0) {
            throw new IllegalArgumentException(String.format("unknown capability bits 0x%x", bits));
        }
        received = Set.copyOf(announced);
        if (announced.contains(Capability.COMPRESS)) {
            ram.expectCompressedPages();
        }
    }
}
