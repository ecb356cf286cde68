package dev.vmmigrate.ram;

import dev.vmmigrate.stream.StreamFormatException;

/**
 * Where the receiver puts a block the stream announces: the guest's own block (checked against
 * the stream's name and length), or for {@code inspect --extract} a new file.
 */
@FunctionalInterface
public interface RamBlockResolver {
    /**
     * @return the block to load into, or null to only count the block's pages (inspect)
     * @param offset stream offset of the announcement, for errors
     * @throws StreamFormatException when this side has no such block or its length differs
     */
    RamBlock resolve(String id, long length, long offset) throws StreamFormatException;

    /** Resolves against a guest's fixed blocks: name and length must match, as QEMU demands. */
    static RamBlockResolver of(java.util.List<RamBlock> blocks) {
        return (id, length, offset) -> {
            for (RamBlock block : blocks) {
                if (block.id().equals(id)) {
                    if (block.length() != length) {
                        throw new StreamFormatException("RAM block '" + id + "' has " + length
                                + " bytes in the stream but " + block.length() + " in this guest", offset);
                    }
                    return block;
                }
            }
            throw new StreamFormatException("RAM block '" + id + "' is not in this guest (it has: "
                    + String.join(", ", blocks.stream().map(RamBlock::id).toList()) + ")", offset);
        };
    }
}
