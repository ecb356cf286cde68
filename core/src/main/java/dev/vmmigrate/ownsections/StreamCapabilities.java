package dev.vmmigrate.ownsections;

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
    /** zstd's level when none is chosen; announced even without compress. */
    public static final int DEFAULT_COMPRESS_LEVEL = 1;
    private static final VmStateDescription DESCRIPTION = new VmStateDescription(IDSTR, 1, List.of(
            VmStateField.integer("capabilities", FieldType.UINT32),
            VmStateField.integer("compress_level", FieldType.INT32)));

    /** Every capability's bit; any other bit set on the wire is refused. */
    private static final long KNOWN_BITS = knownBits();

    private final RamHandler ram;
    private volatile Set<Capability> enabled = Set.of();
    private volatile int compressLevel = DEFAULT_COMPRESS_LEVEL;
    private volatile Set<Capability> received = Set.of();

    public StreamCapabilities(RamHandler ram) {
        this.ram = ram;
    }

    /**
     * The capabilities a section's "capabilities" field announces (for readers without a guest:
     * inspect); bits no capability has are ignored here, {@link #load} refuses them.
     */
    public static Set<Capability> announced(long bits) {
        Set<Capability> announced = EnumSet.noneOf(Capability.class);
        for (long rest = bits & KNOWN_BITS; rest != 0; rest &= rest - 1) {
            announced.add(Capability.fromWireBit(Long.numberOfTrailingZeros(rest)));
        }
        return announced;
    }

    private static long knownBits() {
        long bits = 0;
        for (Capability capability : Capability.values()) {
            bits |= capability.wireMask();
        }
        return bits;
    }

    /** What the next save announces: the capabilities in use and the zstd level. */
    public void use(Set<Capability> capabilities, int level) {
        enabled = Set.copyOf(capabilities);
        compressLevel = level;
    }

    /** What the last loaded stream announced. */
    public Set<Capability> received() {
        return received;
    }

    /** The section, sent at setup before any RAM (early setup: the pages depend on it). */
    public DeviceHandler handler() {
        return new DeviceHandler(IDSTR, 0, DESCRIPTION, this::save, this::load, true);
    }

    private FieldValues save() {
        long bits = 0;
        for (Capability capability : enabled) {
            bits |= capability.wireMask();
        }
        return new FieldValues().put("capabilities", bits).put("compress_level", (long) compressLevel);
    }

    private void load(FieldValues values) {
        long bits = values.getLong("capabilities");
        if ((bits & ~KNOWN_BITS) != 0) {
            throw new IllegalArgumentException(String.format("unknown capability bits 0x%x", bits));
        }
        Set<Capability> announced = announced(bits);
        received = Set.copyOf(announced);
        if (announced.contains(Capability.COMPRESS)) {
            ram.expectCompressedPages();
        }
        if (announced.contains(Capability.MULTIFD) && !ram.takesSideChannels()) {
            throw new IllegalArgumentException("the source sends its pages over multifd channels: receive with "
                    + "--capability multifd and the source's --multifd-channels");
        }
    }
}
