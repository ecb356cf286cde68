package dev.vmmigrate.stream;

/**
 * Strings taken from a stream, made safe to print: whoever wrote the stream chose their bytes,
 * so a name can carry terminal escapes or a forged line of output.
 */
public final class StreamText {
    /** Longest name shown; the rest is cut with an ellipsis. */
    public static final int MAX_SHOWN = 80;

    private StreamText() {
    }

    /** {@code text} in single quotes, printable ASCII as is, everything else as \xNN, cut to {@link #MAX_SHOWN}. */
    public static String quote(String text) {
        return "'" + escape(text) + "'";
    }

    /**
     * {@code text} without quotes (for columns of a table): printable ASCII as is, a backslash, a
     * quote and everything else as \xNN (\\uNNNN above 0xff), cut to {@link #MAX_SHOWN} characters.
     */
    public static String escape(String text) {
        StringBuilder out = new StringBuilder();
        int shown = 0;
        for (int i = 0; i < text.length(); i++) {
            if (shown == MAX_SHOWN) {
                out.append("...");
                break;
            }
            char c = text.charAt(i);
            if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
                out.append(c);
            } else if (c < 0x100) {
                out.append(String.format("\\x%02x", (int) c));
            } else {
                out.append(String.format("\\u%04x", (int) c));
            }
            shown++;
        }
        return out.toString();
    }
}
