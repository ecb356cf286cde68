package dev.vmmigrate.block;

import java.util.Locale;

/**
 * What the bulk phase copies, as the seeds' {@code migrate -b} (blk) and {@code migrate -i} (inc).
 * Either way the chunks the guest writes during the migration follow in the dirty phase.
 */
public enum CopyMode {
    /** Every chunk of every disk (the seeds' {@code blk}; {@code --copy-storage all}). */
    ALL("all"),
    /**
     * Only the chunks that differ from a base image both sides share (the seeds' {@code inc},
     * "shared base"; {@code --copy-storage inc}): the destination's disk starts as a copy of the
     * base, and the source compares each chunk with the same chunk of its copy of the base.
     */
    INC("inc");

    private final String text;

    CopyMode(String text) {
        this.text = text;
    }

    /** The name on the command line. */
    public String text() {
        return text;
    }

    /** Parses {@code all} or {@code inc}; IllegalArgumentException naming the value otherwise. */
    public static CopyMode fromText(String text) {
        for (CopyMode mode : values()) {
            if (mode.text.equals(text == null ? null : text.strip().toLowerCase(Locale.ROOT))) {
                return mode;
            }
        }
        throw new IllegalArgumentException("unknown copy-storage mode '" + text + "' (valid: all, inc)");
    }

    @Override
    public String toString() {
        return text;
    }
}
