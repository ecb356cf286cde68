package dev.vmmigrate.savevm;

import dev.vmmigrate.vmstate.FieldValues;
import dev.vmmigrate.vmstate.VmStateDescription;
import java.util.Objects;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A device whose state goes in one FULL section after the guest stops, described by a VMState
 * description (which also gives its vmdesc entry).
 *
 * @param idstr the section id string ({@code timer}, {@code globalstate}, {@code vm-migrate/workload})
 * @param instanceId QEMU's instance id
 * @param description the field layout and version
 * @param saver reads the device's state at save time
 * @param loader applies loaded state; it may refuse with IllegalArgumentException
 * @param earlySetup sent at setup, before any RAM, and applied as soon as it is loaded (QEMU's
 *     vmsd early_setup): for state the rest of the stream depends on
 */
public record DeviceHandler(String idstr, int instanceId, VmStateDescription description,
                            Supplier<FieldValues> saver, Consumer<FieldValues> loader, boolean earlySetup) {
    public DeviceHandler {
        Objects.requireNonNull(idstr, "idstr");
        Objects.requireNonNull(description, "description");
        Objects.requireNonNull(saver, "saver");
        Objects.requireNonNull(loader, "loader");
    }

    /** A device saved with the others once the guest has stopped. */
    public DeviceHandler(String idstr, int instanceId, VmStateDescription description,
                         Supplier<FieldValues> saver, Consumer<FieldValues> loader) {
        this(idstr, instanceId, description, saver, loader, false);
    }

    public int version() {
        return description.version();
    }
}
