package dev.vmmigrate.ram;

/**
 * How the RAM handler sends pages for one migration.
 *
 * @param xbzrleCacheBytes XBZRLE page cache size, or 0 when XBZRLE is off
 * @param compressLevel zstd level, or null when compression is off
 */
public record RamSaveOptions(long xbzrleCacheBytes, Integer compressLevel) {
    public static final RamSaveOptions PLAIN = new RamSaveOptions(0, null);

    public boolean xbzrle() {
        return xbzrleCacheBytes > 0;
    }

    public boolean compress() {
        return compressLevel != null;
    }
}
