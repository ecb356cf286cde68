package dev.vmmigrate.units;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Duration;
import java.util.Locale;

/**
 * Parsing and formatting of the command line's sizes, rates and durations.
 *
 * <p>Sizes take an optional K, M, G, T or P suffix (powers of two, case-insensitive, optionally
 * followed by {@code B} or {@code iB}); a fraction is allowed when it gives whole bytes
 * ({@code 1.5G}). Rates are a size per second ({@code 512M/s}), a bare size, or
 * {@code unlimited}. Durations take ms, s, m or h; a bare number only as {@code 0}.
 */
public final class Units {
    /** Returned by {@link #parseRate} for {@code unlimited}. */
    public static final long UNLIMITED = Long.MAX_VALUE;

    private static final String SIZE_FORMS = "valid forms: 4096, 64K, 512M, 4G, 1T, 1.5G";
    private static final String RATE_FORMS = "valid forms: 512M/s, 100M, 1G/s, 0, unlimited";
    private static final String DURATION_FORMS = "valid forms: 300ms, 5s, 1.5s, 2m, 1h, 0";
    private static final String[] UNIT_NAMES = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

    private Units() {
    }

    /** Parses a byte count such as {@code 4G}, {@code 512M}, {@code 64K}, {@code 1T} or {@code 4096}. */
    public static long parseSize(String text) {
        if (text == null) {
            throw new IllegalArgumentException("missing size (" + SIZE_FORMS + ")");
        }
        String s = text.strip();
        String lower = s.toLowerCase(Locale.ROOT);
        if (lower.endsWith("ib")) {
            lower = lower.substring(0, lower.length() - 2);
        } else if (lower.endsWith("b")) {
            lower = lower.substring(0, lower.length() - 1);
        }
        int shift = 0;
        if (!lower.isEmpty()) {
            int idx = "kmgtp".indexOf(lower.charAt(lower.length() - 1));
            if (idx >= 0) {
                shift = 10 * (idx + 1);
                lower = lower.substring(0, lower.length() - 1);
            }
        }
        BigDecimal number = parseNumber(lower, "size", text, SIZE_FORMS);
        BigDecimal bytes = number.multiply(BigDecimal.valueOf(2).pow(shift));
        if (bytes.signum() < 0) {
            throw new IllegalArgumentException("size '" + text + "' is negative");
        }
        if (bytes.stripTrailingZeros().scale() > 0) {
            throw new IllegalArgumentException("size '" + text + "' is not a whole number of bytes");
        }
        if (bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            throw new IllegalArgumentException("size '" + text + "' is too large (limit " + Long.MAX_VALUE + " bytes)");
        }
        return bytes.longValueExact();
    }

    /** Parses a rate in bytes per second: {@code 512M/s}, {@code 100M}, {@code 0}, or {@code unlimited} ({@link #UNLIMITED}). */
    public static long parseRate(String text) {
        if (text == null) {
            throw new IllegalArgumentException("missing rate (" + RATE_FORMS + ")");
        }
        String s = text.strip();
        if (s.equalsIgnoreCase("unlimited")) {
            return UNLIMITED;
        }
        String size = s;
        if (s.toLowerCase(Locale.ROOT).endsWith("/s")) {
            size = s.substring(0, s.length() - 2);
        }
        long rate;
        try {
            rate = parseSize(size);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bad rate '" + text + "': " + e.getMessage().replace(SIZE_FORMS, RATE_FORMS), e);
        }
        if (rate == UNLIMITED) {
            throw new IllegalArgumentException("rate '" + text + "' is too large (use unlimited)");
        }
        return rate;
    }

    /** Parses a duration: {@code 300ms}, {@code 5s}, {@code 2m}, {@code 1h}, or {@code 0}. */
    public static Duration parseDuration(String text) {
        if (text == null) {
            throw new IllegalArgumentException("missing duration (" + DURATION_FORMS + ")");
        }
        String s = text.strip().toLowerCase(Locale.ROOT);
        long nanosPerUnit;
        String number;
        if (s.endsWith("ms")) {
            nanosPerUnit = 1_000_000L;
            number = s.substring(0, s.length() - 2);
        } else if (s.endsWith("s")) {
            nanosPerUnit = 1_000_000_000L;
            number = s.substring(0, s.length() - 1);
        } else if (s.endsWith("m")) {
            nanosPerUnit = 60_000_000_000L;
            number = s.substring(0, s.length() - 1);
        } else if (s.endsWith("h")) {
            nanosPerUnit = 3_600_000_000_000L;
            number = s.substring(0, s.length() - 1);
        } else {
            BigDecimal n = parseNumber(s, "duration", text, DURATION_FORMS);
            if (n.signum() == 0) {
                return Duration.ZERO;
            }
            throw new IllegalArgumentException("duration '" + text + "' needs a unit (" + DURATION_FORMS + ")");
        }
        BigDecimal n = parseNumber(number, "duration", text, DURATION_FORMS);
        if (n.signum() < 0) {
            throw new IllegalArgumentException("duration '" + text + "' is negative");
        }
        BigDecimal nanos = n.multiply(BigDecimal.valueOf(nanosPerUnit)).setScale(0, RoundingMode.HALF_UP);
        if (nanos.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) {
            throw new IllegalArgumentException("duration '" + text + "' is too long");
        }
        return Duration.ofNanos(nanos.longValueExact());
    }

    /** Formats a byte count for people: {@code 512 B}, {@code 4 KiB}, {@code 1.5 GiB}. */
    public static String formatSize(long bytes) {
        if (bytes == Long.MIN_VALUE) {
            return "-8 EiB";
        }
        if (bytes < 0) {
            return "-" + formatSize(-bytes);
        }
        int unit = 0;
        while (unit < UNIT_NAMES.length - 1 && bytes >= (1L << (10 * (unit + 1)))) {
            unit++;
        }
        if (unit == 0) {
            return bytes + " B";
        }
        BigDecimal value = BigDecimal.valueOf(bytes)
                .divide(BigDecimal.valueOf(1L << (10 * unit)))
                .setScale(1, RoundingMode.HALF_UP)
                .stripTrailingZeros();
        return value.toPlainString() + " " + UNIT_NAMES[unit];
    }

    /** Formats a rate for people: {@code 64 MiB/s}, or {@code unlimited}. */
    public static String formatRate(long bytesPerSecond) {
        return bytesPerSecond == UNLIMITED ? "unlimited" : formatSize(bytesPerSecond) + "/s";
    }

    /**
     * Formats a byte count in the compact form {@link #parseSize} reads back exactly:
     * the largest suffix that divides it ({@code 256M}, {@code 4G}, {@code 12345}).
     */
    public static String formatSizeCompact(long bytes) {
        if (bytes == 0) {
            return "0";
        }
        String suffixes = "KMGTP";
        for (int i = suffixes.length(); i >= 1; i--) {
            long unit = 1L << (10 * i);
            if (bytes % unit == 0) {
                return (bytes / unit) + suffixes.substring(i - 1, i);
            }
        }
        return Long.toString(bytes);
    }

    private static BigDecimal parseNumber(String number, String what, String text, String forms) {
        if (number.isEmpty() || !number.matches("[+-]?(\\d+(\\.\\d*)?|\\.\\d+)")) {
            throw bad(what, text, forms);
        }
        try {
            return new BigDecimal(number);
        } catch (NumberFormatException e) {
            throw bad(what, text, forms);
        }
    }

    private static IllegalArgumentException bad(String what, String text, String forms) {
        return new IllegalArgumentException("bad " + what + " '" + text + "' (" + forms + ")");
    }
}
