package dev.vmmigrate.migration;

/**
 * The auto-converge capability's decision, as current QEMU takes it after each dirty sync: each
 * second time the guest dirtied more than half of what the link moved in the period (QEMU's
 * counter is not reset by a quiet period in between), throttle the guest: 20 % first, then 10 %
 * more each time, at most 99 % (QEMU's cpu-throttle-initial, -increment and max).
 */
public final class AutoConverge {
    public static final int INITIAL = 20;
    public static final int INCREMENT = 10;
    public static final int MAX = 99;
    /** QEMU's throttle-trigger-threshold: dirtied bytes as a percentage of transferred ones. */
    public static final int TRIGGER_PERCENT = 50;

    private int highPeriods;

    /**
     * @param dirtiedBytes bytes the guest dirtied since the previous sync
     * @param transferredBytes bytes sent since the previous sync
     * @param current the throttle now in force
     * @return the throttle to apply (unchanged when no throttling is due)
     */
    int next(long dirtiedBytes, long transferredBytes, int current) {
        if (dirtiedBytes * 100 <= transferredBytes * TRIGGER_PERCENT) {
            return current;
        }
        if (++highPeriods < 2) {
            return current;
        }
        highPeriods = 0;
        return current == 0 ? INITIAL : Math.min(MAX, current + INCREMENT);
    }
}
