package dev.vmmigrate.multifd;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.util.Arrays;
import java.util.HexFormat;

/**
 * The 64 bytes a multifd channel opens with (QEMU's MultiFDInit_t, sent by
 * multifd_send_initial_packet and checked by multifd_recv_initial_packet): be32 magic, be32
 * version, the source's 16-byte uuid, u8 channel id, then 39 reserved bytes. The same in QEMU
 * 7.2 and 10.0. Every channel of one migration carries the same uuid (QEMU's qemu_uuid, all zero
 * unless the VM was started with -uuid).
 *
 * @param uuid 16 bytes
 * @param channelId 0 to 255
 */
public record MultifdInit(byte[] uuid, int channelId) {
    /** MULTIFD_MAGIC: also the first word of every packet. */
    public static final int MAGIC = 0x11223344;
    /** MULTIFD_VERSION: 1 since multifd began (QEMU 4.0) and still in 10.0. */
    public static final int VERSION = 1;
    public static final int UUID_BYTES = 16;
    public static final int BYTES = 64;
    /** id, then QEMU's unused1[7] and unused2[4]. */
    private static final int RESERVED_BYTES = BYTES - 8 - UUID_BYTES - 1;

    public MultifdInit {
        if (uuid.length != UUID_BYTES) {
            throw new IllegalArgumentException("uuid has " + uuid.length + " bytes, not " + UUID_BYTES);
        }
        if (channelId < 0 || channelId > 0xff) {
            throw new IllegalArgumentException("channel id " + channelId + " does not fit a byte");
        }
        uuid = uuid.clone();
    }

    @Override
    public byte[] uuid() {
        return uuid.clone();
    }

    /** Whether {@code other} carries the same uuid: channels of one migration do. */
    public boolean sameMigration(MultifdInit other) {
        return Arrays.equals(uuid, other.uuid);
    }

    /** The uuid as QEMU prints it (8-4-4-4-12 hex digits). */
    public String uuidText() {
        String hex = HexFormat.of().formatHex(uuid);
        return hex.substring(0, 8) + "-" + hex.substring(8, 12) + "-" + hex.substring(12, 16) + "-"
                + hex.substring(16, 20) + "-" + hex.substring(20);
    }

    public void write(MigrationOutput out) throws IOException {
        out.putBe32(MAGIC);
        out.putBe32(VERSION);
        out.putBytes(uuid);
        out.putU8(channelId);
        out.putBytes(new byte[RESERVED_BYTES]);
    }

    /** Reads and checks one; the reserved bytes are skipped, as QEMU does. */
    public static MultifdInit read(MigrationInput in) throws IOException {
        long at = in.position();
        int magic = in.readBe32();
        if (magic != MAGIC) {
            throw new StreamFormatException(String.format("not a multifd channel: magic 0x%08x, expected 0x%08x",
                    magic, MAGIC), at);
        }
        long versionAt = in.position();
        int version = in.readBe32();
        if (version != VERSION) {
            throw new StreamFormatException("multifd channel version " + Integer.toUnsignedString(version)
                    + ", expected " + VERSION, versionAt);
        }
        byte[] uuid = in.readBytes(UUID_BYTES);
        int id = in.readU8();
        in.skip(RESERVED_BYTES);
        return new MultifdInit(uuid, id);
    }

    @Override
    public boolean equals(Object other) {
        return other instanceof MultifdInit that && channelId == that.channelId && Arrays.equals(uuid, that.uuid);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(uuid) + channelId;
    }

    @Override
    public String toString() {
        return "MultifdInit[channel " + channelId + ", uuid " + uuidText() + "]";
    }
}
