package dev.vmmigrate.multifd;

import java.util.Optional;

/**
 * How a packet's pages are encoded: the compression bits of its flags (QEMU's
 * MULTIFD_FLAG_NOCOMP ... MULTIFD_FLAG_QATZIP, mask MULTIFD_FLAG_COMPRESSION_MASK; 7.2 knew
 * none, zlib and zstd). {@link #NONE}, {@link #ZLIB} and {@link #ZSTD} are loaded here
 * ({@link MultifdCodec}).
 */
public enum MultifdCompression {
    NONE(0x00, "none"),
    ZLIB(0x02, "zlib"),
    ZSTD(0x04, "zstd"),
    QPL(0x08, "qpl"),
    UADK(0x10, "uadk"),
    QATZIP(0x20, "qatzip");

    /** The flag bits that name the method. */
    public static final int MASK = 0x3e;

    private final int code;
    private final String qemuName;

    MultifdCompression(int code, String qemuName) {
        this.code = code;
        this.qemuName = qemuName;
    }

    /** The bits in a packet's flags. */
    public int code() {
        return code;
    }

    /** As QEMU's multifd-compression parameter names it. */
    public String qemuName() {
        return qemuName;
    }

    /**
     * The method QEMU's multifd-compression parameter calls {@code name}.
     *
     * @throws IllegalArgumentException naming the methods, for any other name
     */
    public static MultifdCompression fromQemuName(String name) {
        for (MultifdCompression method : values()) {
            if (method.qemuName.equals(name)) {
                return method;
            }
        }
        throw new IllegalArgumentException("multifd-compression '" + name + "' is none of none, zlib, zstd, qpl, "
                + "uadk or qatzip");
    }

    /** The method whose bits are {@code code} (already masked), if there is one. */
    public static Optional<MultifdCompression> fromCode(int code) {
        for (MultifdCompression method : values()) {
            if (method.code == code) {
                return Optional.of(method);
            }
        }
        return Optional.empty();
    }
}
