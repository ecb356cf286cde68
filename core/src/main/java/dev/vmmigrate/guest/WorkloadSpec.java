package dev.vmmigrate.guest;

import dev.vmmigrate.units.Units;
import java.util.Locale;
import java.util.Objects;

/**
 * What the guest's workload does: a write pattern, a dirty rate and (for {@code hotset}) the
 * share of RAM it writes to. Text form: {@code none}, {@code random:64M/s}, {@code sweep:1G/s},
 * {@code hotset:256M/s} or {@code hotset:256M/s:5%}; rates may be {@code unlimited}.
 *
 * @param pattern the write pattern
 * @param rate dirtied bytes per second, counted a page per step whatever the pattern writes
 *     in it; {@link Units#UNLIMITED} for as fast as possible; 0 for idle
 * @param hotsetPercent the share of RAM (from its start) {@code hotset} writes to, 1..100
 */
public record WorkloadSpec(Pattern pattern, long rate, int hotsetPercent) {
    /** The default share of RAM of {@code hotset}. */
    public static final int DEFAULT_HOTSET_PERCENT = 10;
    /** No writes. */
    public static final WorkloadSpec NONE = new WorkloadSpec(Pattern.NONE, 0, DEFAULT_HOTSET_PERCENT);

    private static final String FORMS = "valid forms: none, random:RATE, sweep:RATE, hotset:RATE[:PERCENT%], "
            + "with RATE like 64M/s, 1G/s or unlimited";

    /** The write patterns, with the code the workload device sends. */
    public enum Pattern {
        /** No writes. */
        NONE("none", 0),
        /** Each step writes a full page of pseudo-random bytes to a pseudo-random page. */
        RANDOM("random", 1),
        /** Each step increments the first byte of the next page, wrapping over RAM (QEMU's migration tests). */
        SWEEP("sweep", 2),
        /** As random, within the first hotset-percent of RAM. */
        HOTSET("hotset", 3);

        private final String text;
        private final int code;

        Pattern(String text, int code) {
            this.text = text;
            this.code = code;
        }

        /** The name in the text form. */
        public String text() {
            return text;
        }

        /** The code in the {@code vm-migrate/workload} device. */
        public int code() {
            return code;
        }

        /** The pattern with this code; IllegalArgumentException for unknown codes. */
        public static Pattern fromCode(int code) {
            for (Pattern p : values()) {
                if (p.code == code) {
                    return p;
                }
            }
            throw new IllegalArgumentException("unknown workload pattern code " + code);
        }

        static Pattern fromText(String text, String whole) {
            for (Pattern p : values()) {
                if (p.text.equals(text)) {
                    return p;
                }
            }
            throw new IllegalArgumentException("bad workload '" + whole + "': unknown pattern '" + text + "' (" + FORMS + ")");
        }
    }

    /** Normalises what a pattern ignores: none has rate 0, only hotset keeps its share. */
    public WorkloadSpec {
        Objects.requireNonNull(pattern, "pattern");
        if (pattern == Pattern.NONE) {
            rate = 0;
        }
        if (pattern != Pattern.HOTSET) {
            hotsetPercent = DEFAULT_HOTSET_PERCENT;
        }
        if (rate < 0) {
            throw new IllegalArgumentException("workload rate " + rate + " is negative");
        }
        if (hotsetPercent < 1 || hotsetPercent > 100) {
            throw new IllegalArgumentException("workload hot set " + hotsetPercent + "% is not in 1..100");
        }
    }

    /** A spec with the default hot-set share. */
    public WorkloadSpec(Pattern pattern, long rate) {
        this(pattern, rate, DEFAULT_HOTSET_PERCENT);
    }

    /** Parses the text form; IllegalArgumentException naming the value and the valid forms. */
    public static WorkloadSpec parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("missing workload (" + FORMS + ")");
        }
        String[] parts = text.strip().split(":", -1);
        Pattern pattern = Pattern.fromText(parts[0].toLowerCase(Locale.ROOT), text);
        if (pattern == Pattern.NONE) {
            if (parts.length != 1) {
                throw new IllegalArgumentException("bad workload '" + text + "': none takes no rate (" + FORMS + ")");
            }
            return NONE;
        }
        if (parts.length < 2 || parts[1].isEmpty()) {
            throw new IllegalArgumentException("bad workload '" + text + "': " + pattern.text + " needs a rate (" + FORMS + ")");
        }
        int maxParts = pattern == Pattern.HOTSET ? 3 : 2;
        if (parts.length > maxParts) {
            throw new IllegalArgumentException("bad workload '" + text + "': too many parts (" + FORMS + ")");
        }
        long rate;
        try {
            rate = Units.parseRate(parts[1]);
        } catch (IllegalArgumentException e) {
            String why = e.getMessage().contains("valid forms") ? e.getMessage() : e.getMessage() + " (" + FORMS + ")";
            throw new IllegalArgumentException("bad workload '" + text + "': " + why, e);
        }
        int percent = DEFAULT_HOTSET_PERCENT;
        if (parts.length == 3) {
            String p = parts[2].endsWith("%") ? parts[2].substring(0, parts[2].length() - 1) : parts[2];
            try {
                percent = Integer.parseInt(p);
            } catch (NumberFormatException e) {
                percent = -1;
            }
            if (percent < 1 || percent > 100) {
                throw new IllegalArgumentException("bad workload '" + text + "': hot set '" + parts[2]
                        + "' is not a percentage in 1..100 (" + FORMS + ")");
            }
        }
        return new WorkloadSpec(pattern, rate, percent);
    }

    /** Whether the workload writes nothing (pattern none or rate 0). */
    public boolean idle() {
        return pattern == Pattern.NONE || rate == 0;
    }

    /** Whether the rate is {@code unlimited}. */
    public boolean unlimited() {
        return rate == Units.UNLIMITED;
    }

    /** The text form, which {@link #parse} reads back to an equal spec. */
    @Override
    public String toString() {
        if (pattern == Pattern.NONE) {
            return "none";
        }
        String r = unlimited() ? "unlimited" : Units.formatSizeCompact(rate) + "/s";
        return pattern.text + ":" + r + (pattern == Pattern.HOTSET ? ":" + hotsetPercent + "%" : "");
    }
}
