package dev.vmmigrate.ram;

import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import java.util.List;

/**
 * Where the receiver puts a block the stream announces: the guest's own block (checked against
 * the stream's name and length), a new one for a held VM, or for {@code inspect --extract} a new
 * file. Every resolver says how much RAM it takes in all, so a stream's claim is refused before
 * anything is mapped.
 */
@FunctionalInterface
public interface RamBlockResolver {
    /**
     * @return the block to load into, or null to only count the block's pages (inspect)
     * @param offset stream offset of the announcement, for errors
     * @throws StreamFormatException when this side has no such block or its length differs
     */
    RamBlock resolve(String id, long length, long offset) throws StreamFormatException;

    /**
     * Refuses a MEM_SIZE claim of {@code total} bytes, on top of {@code announced} bytes already
     * taken, before any block of it is resolved (QEMU's ram_load_precopy checks each block
     * against its own RAMBlock; a receiver that makes its blocks needs a ceiling).
     */
    default void checkTotal(long announced, long total, long offset) throws StreamFormatException {
    }

    /**
     * Resolves against a guest's fixed blocks: name and length must match, as QEMU demands (so
     * nothing the stream claims is allocated: no ceiling needed).
     */
    static RamBlockResolver of(List<RamBlock> blocks) {
        return new RamBlockResolver() {
            @Override
            public RamBlock resolve(String id, long length, long offset) throws StreamFormatException {
                for (RamBlock block : blocks) {
                    if (block.id().equals(id)) {
                        if (block.length() != length) {
                            throw new StreamFormatException("RAM block " + StreamText.quote(id) + " has " + length
                                    + " bytes in the stream but " + block.length() + " in this guest", offset);
                        }
                        return block;
                    }
                }
                throw new StreamFormatException("RAM block " + StreamText.quote(id) + " is not in this guest (it has: "
                        + String.join(", ", blocks.stream().map(RamBlock::id).toList()) + ")", offset);
            }
        };
    }

    /**
     * A resolver that makes blocks with {@code maker}, at most {@code maxBytes} in all.
     *
     * @param limitName what sets the limit, for the error ("--max-ram")
     */
    static RamBlockResolver limited(long maxBytes, String limitName, RamBlockResolver maker) {
        return new RamBlockResolver() {
            @Override
            public RamBlock resolve(String id, long length, long offset) throws StreamFormatException {
                return maker.resolve(id, length, offset);
            }

            @Override
            public void checkTotal(long announced, long total, long offset) throws StreamFormatException {
                if (total < 0 || total > maxBytes - announced) {
                    throw new StreamFormatException("the stream announces " + Long.toUnsignedString(total)
                            + " bytes of RAM (MEM_SIZE), more than the " + maxBytes + " bytes this receiver takes ("
                            + limitName + ")", offset);
                }
            }
        };
    }
}
