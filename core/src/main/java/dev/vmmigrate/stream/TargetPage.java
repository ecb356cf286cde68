package dev.vmmigrate.stream;

/**
 * x86's target page (QEMU's TARGET_PAGE_SIZE and TARGET_PAGE_BITS): the unit of RAM records,
 * the dirty bitmap and the vmdesc's {@code page_size}. Here, in the lowest package, so that
 * {@code savevm} and {@code ram} share it without depending on each other.
 */
public final class TargetPage {
    public static final int BITS = 12;
    public static final int SIZE = 1 << BITS;

    private TargetPage() {
    }
}
