package dev.vmmigrate.multifd;

import com.github.luben.zstd.EndDirective;
import com.github.luben.zstd.ZstdCompressCtx;
import com.github.luben.zstd.ZstdDecompressCtx;
import com.github.luben.zstd.ZstdException;
import java.nio.ByteBuffer;

/**
 * QEMU's multifd-compression zstd (multifd-zstd.c): one zstd stream per channel (a CStream on
 * the sender, a DStream on the receiver) that is never ended, each packet's pages flushed with
 * ZSTD_e_flush. The contexts are made on first use, so a codec serves one direction only.
 */
public final class MultifdZstd extends MultifdCodec {
    private final int level;
    private ZstdCompressCtx compressor;
    private ZstdDecompressCtx decompressor;

    MultifdZstd(int level) {
        this.level = level;
    }

    @Override
    public MultifdCompression method() {
        return MultifdCompression.ZSTD;
    }

    @Override
    void compress(ByteBuffer in, ByteBuffer out) {
        if (compressor == null) {
            compressor = new ZstdCompressCtx().setLevel(level); // QEMU's ZSTD_initCStream(level)
        }
        // true once the flush is complete; it needs more calls only while out has no room
        while (!compressor.compressDirectByteBufferStream(out, in, EndDirective.FLUSH) || in.hasRemaining()) {
            if (!out.hasRemaining()) {
                throw new IllegalStateException("zstd output of a multifd packet exceeds " + out.capacity() + " bytes");
            }
        }
    }

    @Override
    void decompress(ByteBuffer in, ByteBuffer out) throws BadPayloadException {
        if (decompressor == null) {
            decompressor = new ZstdDecompressCtx();
        }
        while (out.hasRemaining()) {
            int read = in.position();
            int written = out.position();
            try {
                decompressor.decompressDirectByteBufferStream(out, in);
            } catch (ZstdException e) {
                throw new BadPayloadException("zstd: " + e.getMessage());
            }
            if (in.position() == read && out.position() == written) {
                return; // nothing more comes out of what is left
            }
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
