package dev.vmmigrate.multifd;

import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;
import java.util.zip.Deflater;
import java.util.zip.Inflater;

/**
 * QEMU's multifd-compression zlib (multifd-zlib.c): one zlib stream per channel (deflateInit /
 * inflateInit: with its zlib header, never ended), each packet's pages flushed with
 * Z_SYNC_FLUSH. The streams are made on first use, so a codec serves one direction only.
 */
public final class MultifdZlib extends MultifdCodec {
    private final int level;
    private Deflater deflater;
    private Inflater inflater;

    MultifdZlib(int level) {
        this.level = level;
    }

    @Override
    public MultifdCompression method() {
        return MultifdCompression.ZLIB;
    }

    @Override
    void compress(ByteBuffer in, ByteBuffer out) {
        if (deflater == null) {
            deflater = new Deflater(level); // QEMU's deflateInit(level)
        }
        deflater.setInput(in);
        deflater.deflate(out, Deflater.SYNC_FLUSH);
        // the flush is complete when it left room in out (Deflater's contract)
        if (!out.hasRemaining() || in.hasRemaining()) {
            throw new IllegalStateException("zlib output of a multifd packet exceeds " + out.capacity() + " bytes");
        }
    }

    @Override
    void decompress(ByteBuffer in, ByteBuffer out) throws BadPayloadException {
        if (inflater == null) {
            inflater = new Inflater();
        }
        inflater.setInput(in);
        while (out.hasRemaining()) {
            int written;
            try {
                written = inflater.inflate(out);
            } catch (DataFormatException e) {
                throw new BadPayloadException("zlib: " + e.getMessage());
            }
            if (written == 0 && (inflater.needsInput() || inflater.finished() || inflater.needsDictionary())) {
                return; // nothing more comes out of what is left
            }
        }
    }

    @Override
    public void close() {
        if (deflater != null) {
            deflater.end();
        }
        if (inflater != null) {
            inflater.end();
        }
    }
}
