package dev.vmmigrate.multifd;

import java.util.Objects;

/**
 * QEMU's migration parameters multifd-compression, multifd-zlib-level and multifd-zstd-level,
 * checked as QEMU's migrate_params_check does: a sending side's choice of how its channels'
 * pages are encoded.
 *
 * @param method none, zlib or zstd (the methods this build has a codec for)
 * @param zlibLevel zlib's level, 0 to 9 (QEMU's default 1)
 * @param zstdLevel zstd's level, 0 to 20 (QEMU's default 1)
 */
public record MultifdCompressionParameters(MultifdCompression method, int zlibLevel, int zstdLevel) {
    /** QEMU's defaults: none, both levels 1. */
    public static final MultifdCompressionParameters DEFAULT = new MultifdCompressionParameters(
            MultifdCompression.NONE, MultifdCodec.DEFAULT_LEVEL, MultifdCodec.DEFAULT_LEVEL);

    public MultifdCompressionParameters {
        Objects.requireNonNull(method, "method");
        if (method != MultifdCompression.NONE && !MultifdCodec.loads(method)) {
            throw new IllegalArgumentException("multifd-compression " + method.qemuName()
                    + " is not built into vm-migrate (none, zlib and zstd are)");
        }
        if (zlibLevel < 0 || zlibLevel > 9) {
            throw new IllegalArgumentException("Parameter 'multifd_zlib_level' expects a value between 0 and 9");
        }
        if (zstdLevel < 0 || zstdLevel > 20) {
            throw new IllegalArgumentException("Parameter 'multifd_zstd_level' expects a value between 0 and 20");
        }
    }

    /**
     * These with {@code method} chosen and its level set to {@code level}.
     *
     * @throws IllegalArgumentException when the level is outside the method's bounds
     */
    public MultifdCompressionParameters with(MultifdCompression method, int level) {
        return switch (method) {
            case ZLIB -> new MultifdCompressionParameters(method, level, zstdLevel);
            case ZSTD -> new MultifdCompressionParameters(method, zlibLevel, level);
            default -> new MultifdCompressionParameters(method, zlibLevel, zstdLevel);
        };
    }

    /** The level of the chosen method (none: 0). */
    public int level() {
        return switch (method) {
            case ZLIB -> zlibLevel;
            case ZSTD -> zstdLevel;
            default -> 0;
        };
    }

    /** A new encoder for one channel. */
    public MultifdEncoder encoder() {
        return MultifdEncoder.of(method, level());
    }
}
