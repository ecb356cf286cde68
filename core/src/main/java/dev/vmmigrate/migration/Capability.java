package dev.vmmigrate.migration;

import java.util.Arrays;
import java.util.stream.Collectors;

/** The seeds' migration capabilities, named as QMP names them. */
public enum Capability {
    /** Send re-dirtied pages as XBZRLE deltas against a cache of what was sent. */
    XBZRLE("xbzrle"),
    /** Throttle the guest when it dirties memory faster than the link drains it. */
    AUTO_CONVERGE("auto-converge"),
    /** Send all-zero disk blocks without their data. */
    ZERO_BLOCKS("zero-blocks"),
    /** Compress pages with zstd (vm-migrate's own; QEMU's receiver cannot read it). */
    COMPRESS("compress"),
    /** Pin all guest RAM for RDMA: recognised, but there is no rdma: transport. */
    RDMA_PIN_ALL("rdma-pin-all");

    private final String qmpName;

    Capability(String qmpName) {
        this.qmpName = qmpName;
    }

    public String qmpName() {
        return qmpName;
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
