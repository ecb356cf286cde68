package dev.vmmigrate.cli;

import java.util.Locale;

/**
 * The unit progress shows rates in: the binary prefix the operator gave --max-bandwidth with
 * ({@code 128M/s} reads in MiB/s, {@code 1G/s} in GiB/s). Rates on the command line are bytes per
 * second with binary prefixes only, so that is the whole family. A limit without a prefix (a bare
 * byte count, {@code 0}) or {@code unlimited} says nothing about scale: MiB/s then.
 */
enum RateUnit {
    B_PER_S("B/s", 0), KIB_PER_S("KiB/s", 10), MIB_PER_S("MiB/s", 20), GIB_PER_S("GiB/s", 30),
    TIB_PER_S("TiB/s", 40), PIB_PER_S("PiB/s", 50);

    private final String symbol;
    private final int shift;

    RateUnit(String symbol, int shift) {
        this.symbol = symbol;
        this.shift = shift;
    }

    /** The unit of a rate as typed ({@code 512M/s}, {@code 2GiB/s}, {@code unlimited}); MiB/s when it names none. */
    static RateUnit of(String rate) {
        if (rate == null) {
            return MIB_PER_S;
        }
        String s = rate.strip().toLowerCase(Locale.ROOT);
        if (s.endsWith("/s")) {
            s = s.substring(0, s.length() - 2);
        }
        if (s.endsWith("ib")) {
            s = s.substring(0, s.length() - 2);
        } else if (s.endsWith("b")) {
            s = s.substring(0, s.length() - 1);
        }
        if (s.isEmpty()) {
            return MIB_PER_S;
        }
        return switch (s.charAt(s.length() - 1)) {
            case 'k' -> KIB_PER_S;
            case 'm' -> MIB_PER_S;
            case 'g' -> GIB_PER_S;
            case 't' -> TIB_PER_S;
            case 'p' -> PIB_PER_S;
            default -> MIB_PER_S;
        };
    }

    /** {@code MiB/s}. */
    String symbol() {
        return symbol;
    }

    /** {@code 118.3 MiB/s}: one decimal below 100, none from there on, so the width stays steady. */
    String format(double bytesPerSecond) {
        double value = bytesPerSecond / (double) (1L << shift);
        return String.format(Locale.ROOT, value < 99.95 ? "%.1f %s" : "%.0f %s", value, symbol);
    }
}
