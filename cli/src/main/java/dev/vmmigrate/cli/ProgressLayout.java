package dev.vmmigrate.cli;

import dev.vmmigrate.units.Units;
import java.math.BigDecimal;
import java.math.RoundingMode;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Lays progress fields out on one line of a given width: a line that wraps stacks up on the
 * terminal at every redraw, so what does not fit is dropped, least important first. The bar is
 * the least important of all: drawn only when every field fits, in the room they leave (giving
 * it the room of a dropped field would make the two swap places as numbers change width).
 */
final class ProgressLayout {
    /** Between fields. */
    static final String GAP = "  ";
    /** A bar narrower than this says nothing; wider than the maximum it only takes room. */
    static final int MIN_BAR = 10;
    static final int MAX_BAR = 30;

    private ProgressLayout() {
    }

    /** A field's text and its rank: rank 0 is the most important, the last to be dropped. */
    record Field(String text, int rank) {
    }

    /** What fits: a bar of {@code barCells} cells (0: none) showing {@code percent}, then {@code text}. */
    record Fitted(int barCells, int percent, String text) {
        /** The bar's inside: {@code #} for the part done, spaces for the rest. */
        String filled() {
            return "#".repeat(barCells * Math.clamp(percent, 0, 100) / 100);
        }

        String unfilled() {
            return " ".repeat(barCells - filled().length());
        }

        /** The line without colours, as a test or a dumb terminal sees it. */
        String plain() {
            return barCells == 0 ? text : "[" + filled() + unfilled() + "]" + GAP + text;
        }
    }

    /**
     * The fields that fit in {@code columns} (one column is left free: writing the last one makes
     * some terminals wrap), in their given order; a bar for {@code percent} ahead of them when
     * {@code percent} is not negative and there is room.
     */
    static Fitted fit(List<Field> fields, int columns, int percent) {
        int room = Math.max(1, columns - 1);
        List<Field> kept = new ArrayList<>(fields);
        while (kept.size() > 1 && join(kept).length() > room) {
            // The highest rank goes; among equals the rightmost, so the line is cut from its end.
            Field least = kept.reversed().stream().max(Comparator.comparingInt(Field::rank)).orElseThrow();
            kept.remove(kept.lastIndexOf(least));
        }
        String text = join(kept);
        if (text.length() > room) {
            text = text.substring(0, room); // one field wider than the terminal: cut, never wrapped
        }
        int spare = room - text.length() - 2 - GAP.length();
        // In steps of 5 cells: the fields' width changes with their figures, the bar's edge should not every time.
        int bar = percent >= 0 && kept.size() == fields.size() && spare >= MIN_BAR
                ? Math.min(MAX_BAR, spare / 5 * 5) : 0;
        return new Fitted(bar, percent, text);
    }

    private static String join(List<Field> fields) {
        return String.join(GAP, fields.stream().map(Field::text).toList());
    }

    /**
     * A size with one decimal always ({@code 13.0 MiB}, not {@code 13 MiB}): a field that changes
     * width with every redraw makes the line jump, and fields near the edge come and go.
     */
    static String size(long bytes) {
        String size = Units.formatSize(bytes);
        return size.endsWith(" B") || size.contains(".") ? size : size.replace(" ", ".0 ");
    }

    /** {@code part} in the unit of {@code whole}, then {@code whole}: {@code 1.7/4 GiB}, {@code 5.1/4 GiB}. */
    static String partOf(long part, long whole) {
        String total = size(whole);
        String unit = total.substring(total.indexOf(' ') + 1);
        int shift = 10 * List.of("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB").indexOf(unit);
        String amount = shift == 0 ? Long.toString(part)
                : BigDecimal.valueOf(part).divide(BigDecimal.valueOf(2).pow(shift)).setScale(1, RoundingMode.HALF_UP)
                        .toPlainString();
        return amount + "/" + total;
    }

    /** Elapsed or remaining time as a clock: {@code 0:07}, {@code 12:34}, {@code 1:02:03}. */
    static String clock(long millis) {
        long seconds = Math.max(0, millis) / 1000;
        long hours = seconds / 3600;
        return hours > 0 ? String.format("%d:%02d:%02d", hours, seconds / 60 % 60, seconds % 60)
                : String.format("%d:%02d", seconds / 60, seconds % 60);
    }
}
