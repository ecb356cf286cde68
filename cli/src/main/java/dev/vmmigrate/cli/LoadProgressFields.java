package dev.vmmigrate.cli;

import dev.vmmigrate.cli.ProgressLayout.Field;
import dev.vmmigrate.migration.LoadProgress;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.stream.TargetPage;
import java.util.ArrayList;
import java.util.List;

/**
 * The receiver's progress line during the load: bytes received, the guest's RAM, pages loaded,
 * the rate and the time since the stream began.
 *
 * <p>The percent is pages loaded over the guest's pages, at most 100: the first pass sends every
 * page once, so it follows the sender's first-pass percent; later passes send pages again, and
 * the receiver cannot tell how many more will come, so it stays at 100 until the load ends.
 *
 * <p>Ranks, most important first: the percent, bytes received, rate, RAM size, elapsed, pages
 * loaded; the bar goes before any of them. At 60 columns the first four fit.
 */
final class LoadProgressFields {
    private static final int STATE = 0;
    private static final int RECEIVED = 1;
    private static final int RATE = 2;
    private static final int RAM = 3;
    private static final int ELAPSED = 4;
    private static final int PAGES = 5;

    private final RateUnit unit;

    LoadProgressFields(RateUnit unit) {
        this.unit = unit;
    }

    /** Pages loaded over the guest's pages, 0 to 100; -1 while the stream has not said how much RAM comes. */
    static int percent(LoadProgress load) {
        if (load.status() == MigrationStatus.COMPLETED) {
            return 100;
        }
        long pages = load.ramBytes() / TargetPage.SIZE;
        return pages == 0 ? -1 : (int) (100 * Math.min(load.pagesLoaded(), pages) / pages);
    }

    /** The fields in the order they are shown; {@code bytesPerSecond} negative when not measured yet. */
    List<Field> fields(LoadProgress load, double bytesPerSecond) {
        List<Field> fields = new ArrayList<>();
        int percent = percent(load);
        String state = load.status() == MigrationStatus.COMPLETED ? "loaded"
                : percent < 0 ? "loading" : String.format("%3d%%", percent);
        fields.add(new Field(state, STATE));
        fields.add(new Field("received " + ProgressLayout.size(load.bytesRead()), RECEIVED));
        if (load.ramBytes() > 0) {
            fields.add(new Field("RAM " + ProgressLayout.size(load.ramBytes()), RAM));
        }
        fields.add(new Field(load.pagesLoaded() + " pages loaded", PAGES));
        fields.add(new Field(bytesPerSecond < 0 ? "-- " + unit.symbol() : unit.format(bytesPerSecond), RATE));
        fields.add(new Field("elapsed " + ProgressLayout.clock(load.elapsedMillis()), ELAPSED));
        return fields;
    }
}
