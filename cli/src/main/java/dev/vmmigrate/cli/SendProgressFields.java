package dev.vmmigrate.cli;

import dev.vmmigrate.cli.ProgressLayout.Field;
import dev.vmmigrate.migration.MigrationInfo;
import java.util.ArrayList;
import java.util.List;

/**
 * The sender's progress line: what {@code virsh domjobinfo} shows of a job (elapsed time, data
 * processed, remaining and total, memory bandwidth, dirty rate, iteration, expected downtime),
 * plus the ETA an operator waits on. Rates are in the unit --max-bandwidth was given in.
 *
 * <p>Ranks, most important first (a narrow terminal drops from the end of this list): the state
 * (percent, pass or setup), ETA, data left, rate, expected downtime, elapsed, data sent of the
 * total, dirty rate; the bar goes before any of them.
 */
final class SendProgressFields {
    private static final int STATE = 0;
    private static final int ETA = 1;
    private static final int LEFT = 2;
    private static final int RATE = 3;
    private static final int DOWNTIME = 4;
    private static final int ELAPSED = 5;
    private static final int SENT = 6;
    private static final int DIRTY = 7;

    private final RateUnit unit;

    SendProgressFields(RateUnit unit) {
        this.unit = unit;
    }

    /**
     * The percent of the first pass done, never below {@code floor} (what was shown before): pages
     * dirtied again would otherwise make it run backwards. Later passes show their number instead.
     */
    static int firstPassPercent(MigrationInfo info, long pass, int floor) {
        MigrationInfo.Ram ram = info.ram();
        if ("completed".equals(info.status()) || pass > 1) {
            return 100;
        }
        if (ram == null) {
            return floor;
        }
        long total = Math.max(1, ram.total());
        return Math.max(floor, (int) (100 * Math.clamp(total - ram.remaining(), 0, total) / total));
    }

    /** The fields in the order they are shown; {@code pass} as MIGRATION_PASS last said (0: none yet). */
    List<Field> fields(MigrationInfo info, long pass, int percent) {
        List<Field> fields = new ArrayList<>();
        MigrationInfo.Ram ram = info.ram();
        boolean completed = "completed".equals(info.status());
        if (ram == null) {
            fields.add(new Field(info.status(), STATE)); // setup: nothing measured yet
        } else {
            fields.add(new Field(completed ? "done" : pass > 1 ? "pass " + pass : String.format("%3d%%", percent),
                    STATE));
            fields.add(new Field(ProgressLayout.partOf(ram.transferred(), ram.total()) + " sent", SENT));
            fields.add(new Field(ProgressLayout.size(ram.remaining()) + " left", LEFT));
            double bytesPerSecond = ram.mbps() * 1e6 / 8; // query-migrate's mbps is megabits (10^6) per second
            fields.add(new Field(ram.mbps() < 0 ? "-- " + unit.symbol() : unit.format(bytesPerSecond), RATE));
            if (!completed) {
                String eta = bytesPerSecond > 0 ? ProgressLayout.clock((long) (ram.remaining() * 1000 / bytesPerSecond))
                        : "--:--";
                fields.add(new Field("ETA " + eta, ETA)); // after pass 1: the end of this pass, which the state names
            }
            if (pass > 1 && !completed) {
                fields.add(new Field("dirty " + unit.format((double) ram.dirtyPagesRate() * ram.pageSize()), DIRTY));
            }
        }
        if (completed && info.downtime() != null) {
            fields.add(new Field("downtime " + info.downtime() + " ms", DOWNTIME));
        } else if (info.expectedDowntime() != null) {
            fields.add(new Field("downtime ~" + info.expectedDowntime() + " ms", DOWNTIME));
        }
        if (info.totalTime() != null) {
            fields.add(new Field("elapsed " + ProgressLayout.clock(info.totalTime()), ELAPSED));
        }
        return fields;
    }
}
