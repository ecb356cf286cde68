package dev.vmmigrate.migration;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;

/**
 * The first bytes of a resumed migration's new connection (vm-migrate's own; QEMU resumes only
 * postcopy, with commands on a channel it already trusts): be32 {@link #MAGIC}, be64 the token
 * the destination offered, be64 the stream offset the source's bytes on this connection start
 * at. Sections follow, from the destination's resume point on.
 *
 * @param token the destination's {@code VM_MIGRATE_RESUMABLE} token
 * @param streamOffset the stream offset of the byte after the hello
 */
record ResumeHello(long token, long streamOffset) {
    /** "VMMR": not QEMU's stream magic, so a destination that does not resume refuses it at once. */
    static final int MAGIC = 0x564d4d52;
    static final int LENGTH = 4 + 8 + 8;

    ResumeHello {
        if (streamOffset < 0) {
            throw new IllegalArgumentException("stream offset " + streamOffset);
        }
    }

    void write(MigrationOutput out) throws IOException {
        out.putBe32(MAGIC);
        out.putBe64(token);
        out.putBe64(streamOffset);
    }

    /** Reads a hello; throws when the bytes are anything else (a stranger, a new migration). */
    static ResumeHello read(MigrationInput in) throws IOException {
        long at = in.position();
        int magic = in.readBe32();
        if (magic != MAGIC) {
            throw new StreamFormatException(String.format("not a resumed migration (first bytes 0x%08x, "
                    + "expected 0x%08x)", magic, MAGIC), at);
        }
        long token = in.readBe64();
        long offsetAt = in.position();
        long offset = in.readBe64();
        if (offset < 0) {
            throw new StreamFormatException("resumed migration starting at stream offset "
                    + Long.toUnsignedString(offset), offsetAt);
        }
        return new ResumeHello(token, offset);
    }
}
