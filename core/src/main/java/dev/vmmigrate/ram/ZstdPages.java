package dev.vmmigrate.ram;

import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;

/**
 * zstd for single pages (the compress capability): one reusable context per side, so a page
 * costs no allocation. Not thread-safe: one instance per sender or receiver.
 */
final class ZstdPages implements AutoCloseable {
    private final ZstdCompressCtx compressor;
    private final ZstdDecompressCtx decompressor;

    private ZstdPages(ZstdCompressCtx compressor, ZstdDecompressCtx decompressor) {
        this.compressor = compressor;
        this.decompressor = decompressor;
    }

    static ZstdPages forCompression(int level) {
        ZstdCompressCtx ctx = new ZstdCompressCtx();
        ctx.setLevel(level);
        return new ZstdPages(ctx, null);
    }

    static ZstdPages forDecompression() {
        return new ZstdPages(null, new ZstdDecompressCtx());
    }

    /** Compresses {@code page} into {@code out}; returns the length, or -1 when it would not be smaller. */
    int compress(byte[] page, byte[] out) {
        try {
            int length = compressor.compressByteArray(out, 0, out.length, page, 0, page.length);
            return length < page.length ? length : -1;
        } catch (ZstdException tooBig) {
            return -1; // does not fit in a page: send it whole
        }
    }

    /**
     * Decompresses {@code length} bytes of {@code in} into {@code page}.
     *
     * @throws IllegalArgumentException when the data is not a zstd frame of exactly one page
     */
    void decompress(byte[] in, int length, byte[] page) {
        int size;
        try {
            size = decompressor.decompressByteArray(page, 0, page.length, in, 0, length);
        } catch (ZstdException e) {
            throw new IllegalArgumentException("bad zstd page: " + e.getMessage());
        }
        if (size != page.length) {
            throw new IllegalArgumentException("zstd page decompressed to " + size + " bytes, not " + page.length);
        }
    }

    @Override
    public void close() {
        if (compressor != null) {
            compressor.close();
        }
        if (decompressor != null) {
            decompressor.close();
        }
    }
}
