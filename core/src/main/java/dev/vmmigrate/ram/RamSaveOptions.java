package dev.vmmigrate.ram;

/**
 * How the RAM handler sends pages for one migration.
 *
 * @param xbzrleCacheBytes XBZRLE page cache size, or 0 when XBZRLE is off
 * @param compressLevel zstd level, or null when compression is off
 * @param resumable whether the migration may resume after a broken link: the sender then keeps,
 *     for every page, where in the stream it last sent it (8 bytes a page)
 */
public record RamSaveOptions(long xbzrleCacheBytes, Integer compressLevel, boolean resumable) {
    public static final RamSaveOptions PLAIN = new RamSaveOptions(0, null);

    public RamSaveOptions(long xbzrleCacheBytes, Integer compressLevel) {
        this(xbzrleCacheBytes, compressLevel, false);
    }

    public boolean xbzrle() {
        return xbzrleCacheBytes > 0;
    }

    public boolean compress() {
        return compressLevel != null;
    }
}
