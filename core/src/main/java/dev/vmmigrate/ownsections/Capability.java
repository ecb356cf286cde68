package dev.vmmigrate.ownsections;

import java.util.Arrays;
import java.util.stream.Collectors;

/**
 * The seeds' migration capabilities, named as QMP names them. Each has a fixed bit in the
 * {@code vm-migrate/capabilities} section; it is spelled out, not the ordinal, so reordering the
 * constants cannot change the wire.
 */
public enum Capability {
    /** Send re-dirtied pages as XBZRLE deltas against a cache of what was sent. */
    XBZRLE("xbzrle", 0),
    /** Throttle the guest when it dirties memory faster than the link drains it. */
    AUTO_CONVERGE("auto-converge", 1),
    /** Send all-zero disk blocks without their data. */
    ZERO_BLOCKS("zero-blocks", 2),
    /** Compress pages with zstd (vm-migrate's own; QEMU's receiver cannot read it). */
    COMPRESS("compress", 3),
    /** Pin all guest RAM for RDMA: recognised, but there is no rdma: transport. */
    RDMA_PIN_ALL("rdma-pin-all", 4),
    /**
     * The destination answers on the same connection (QEMU's return-path): the source reports
     * completed only once the destination said it loaded the VM. Needs tcp: or unix:.
     */
    RETURN_PATH("return-path", 5),
    /**
     * QEMU's postcopy-ram: the source may switch to postcopy (migrate-start-postcopy, send
     * --postcopy-after), after which the destination runs the guest and asks for the pages it
     * touches. Opens the return path.
     */
    POSTCOPY_RAM("postcopy-ram", 6),
    /**
     * QEMU's multifd: the whole pages go over more connections to the same URI (multifd-channels
     * of them), beside the main stream. Announced so a vm-migrate receiver without its multifd
     * channels refuses the stream instead of missing the pages.
     */
    MULTIFD("multifd", 7);

    private final String qmpName;
    private final int wireBit;

    Capability(String qmpName, int wireBit) {
        this.qmpName = qmpName;
        this.wireBit = wireBit;
    }

    public String qmpName() {
        return qmpName;
    }

    /** This capability's bit number in the section's "capabilities" field. */
    public int wireBit() {
        return wireBit;
    }

    /** {@code 1L << wireBit()}. */
    public long wireMask() {
        return 1L << wireBit;
    }

    /** @throws IllegalArgumentException when no capability has that bit */
    public static Capability fromWireBit(int bit) {
        for (Capability capability : values()) {
            if (capability.wireBit == bit) {
                return capability;
            }
        }
        throw new IllegalArgumentException("unknown capability bit " + bit);
    }

    /** @throws IllegalArgumentException naming the value and listing the valid names */
    public static Capability fromName(String name) {
        for (Capability capability : values()) {
            if (capability.qmpName.equals(name)) {
                return capability;
            }
        }
        throw new IllegalArgumentException("unknown capability '" + name + "' (valid: "
                + Arrays.stream(values()).map(Capability::qmpName).collect(Collectors.joining(", ")) + ")");
    }

    @Override
    public String toString() {
        return qmpName;
    }
}
