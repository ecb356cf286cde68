package dev.vmmigrate.returnpath;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * One message on the return path (destination to source, on the same connection): be16 type,
 * be16 payload length, payload, as QEMU's migrate_send_rp_message writes it.
 */
public sealed interface ReturnPathMessage {
    ReturnPathType type();

    /** The destination is done; {@code status} 0: it loaded the VM. */
    record Shut(int status) implements ReturnPathMessage {
        @Override
        public ReturnPathType type() {
            return ReturnPathType.SHUT;
        }
    }

    /** The answer to PING {@code value}. */
    record Pong(int value) implements ReturnPathMessage {
        @Override
        public ReturnPathType type() {
            return ReturnPathType.PONG;
        }
    }

    /** vm-migrate's own: why the destination refused the stream (only to a vm-migrate source). */
    record Error(String reason) implements ReturnPathMessage {
        @Override
        public ReturnPathType type() {
            return ReturnPathType.VM_MIGRATE_ERROR;
        }
    }

    /** The destination resumes a migration whose new connection presents {@code token} (receive --reconnect). */
    record Resumable(long token) implements ReturnPathMessage {
        @Override
        public ReturnPathType type() {
            return ReturnPathType.VM_MIGRATE_RESUMABLE;
        }
    }

    /**
     * QEMU's RECV_BITMAP (ramblock_recv_bitmap_send): the pages of RAM block {@code block} the
     * destination holds, one bit each. The message carries the block's name; the bitmap follows
     * it on the return path as be64 byte count (a multiple of 8), the bits as little-endian
     * 64-bit words, and be64 {@link #BITMAP_ENDING}.
     */
    record RecvBitmap(String block, long[] bitmap) implements ReturnPathMessage {
        /** QEMU's RAMBLOCK_RECV_BITMAP_ENDING: marks the end, in case the middle went wrong. */
        public static final long BITMAP_ENDING = 0x0123456789abcdefL;
        /** A bitmap of 2 TiB of pages: a larger count is a broken stream, not a guest. */
        static final long MAX_BITMAP_BYTES = 64L << 20;

        @Override
        public ReturnPathType type() {
            return ReturnPathType.RECV_BITMAP;
        }

        @Override
        public boolean equals(Object other) {
            return other instanceof RecvBitmap that && block.equals(that.block)
                    && java.util.Arrays.equals(bitmap, that.bitmap);
        }

        @Override
        public int hashCode() {
            return block.hashCode() * 31 + java.util.Arrays.hashCode(bitmap);
        }

        @Override
        public String toString() {
            return "RecvBitmap[" + block + ", " + bitmap.length + " words]";
        }
    }

    /** The end of a resume handshake: every section before stream offset {@code offset} was read whole. */
    record Resumed(long offset) implements ReturnPathMessage {
        @Override
        public ReturnPathType type() {
            return ReturnPathType.VM_MIGRATE_RESUMED;
        }
    }

    /**
     * Postcopy: the destination's guest touched pages it lacks; send {@code length} bytes from
     * {@code start} first (QEMU's migrate_send_rp_req_pages). {@code block} names the RAM block
     * (REQ_PAGES_ID), or is null for the block the last REQ_PAGES_ID named (REQ_PAGES).
     */
    record ReqPages(String block, long start, int length) implements ReturnPathMessage {
        @Override
        public ReturnPathType type() {
            return block == null ? ReturnPathType.REQ_PAGES : ReturnPathType.REQ_PAGES_ID;
        }
    }

    /**
     * Postcopy recovery: the destination took POSTCOPY_RESUME and goes on (QEMU's
     * migrate_send_rp_resume_ack); {@code value} is {@link #VALUE} from a sound destination.
     */
    record ResumeAck(int value) implements ReturnPathMessage {
        /** QEMU's MIGRATION_RESUME_ACK_VALUE. */
        public static final int VALUE = 1;

        @Override
        public ReturnPathType type() {
            return ReturnPathType.RESUME_ACK;
        }
    }

    /** A message of postcopy or QEMU's newer capabilities, which a precopy source does not act on. */
    record Unsupported(ReturnPathType type, byte[] payload) implements ReturnPathMessage {
    }

    /** Writes the message (the caller flushes). */
    static void write(MigrationOutput out, ReturnPathMessage message) throws IOException {
        byte[] payload = switch (message) {
            case Shut shut -> ByteBuffer.allocate(4).putInt(shut.status()).array();
            case Pong pong -> ByteBuffer.allocate(4).putInt(pong.value()).array();
            case Error error -> truncate(error.reason().getBytes(StandardCharsets.UTF_8));
            case Resumable resumable -> ByteBuffer.allocate(8).putLong(resumable.token()).array();
            case RecvBitmap recv -> countedName(recv.block());
            case Resumed resumed -> ByteBuffer.allocate(8).putLong(resumed.offset()).array();
            case ResumeAck ack -> ByteBuffer.allocate(4).putInt(ack.value()).array();
            case ReqPages req -> {
                byte[] name = req.block() == null ? new byte[0] : countedName(req.block());
                yield ByteBuffer.allocate(12 + name.length).putLong(req.start()).putInt(req.length()).put(name).array();
            }
            case Unsupported other -> other.payload();
        };
        out.putBe16(message.type().code());
        out.putBe16(payload.length);
        out.putBytes(payload);
        if (message instanceof RecvBitmap recv) {
            out.putBe64((long) recv.bitmap().length * Long.BYTES);
            ByteBuffer words = ByteBuffer.allocate(recv.bitmap().length * Long.BYTES).order(ByteOrder.LITTLE_ENDIAN);
            words.asLongBuffer().put(recv.bitmap());
            out.putBytes(words.array());
            out.putBe64(RecvBitmap.BITMAP_ENDING);
        }
    }

    private static byte[] countedName(String name) {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > 255) {
            throw new IllegalArgumentException("RAM block name of " + bytes.length + " bytes");
        }
        byte[] counted = new byte[1 + bytes.length];
        counted[0] = (byte) bytes.length;
        System.arraycopy(bytes, 0, counted, 1, bytes.length);
        return counted;
    }

    /** Reads one message; the offsets in errors count from the start of the return path. */
    static ReturnPathMessage read(MigrationInput in) throws IOException {
        long at = in.position();
        ReturnPathType type = ReturnPathType.fromCode(in.readBe16(), at);
        int length = in.readBe16();
        if (type.length() >= 0 && length != type.length()) {
            throw new StreamFormatException("return path message " + type + " of " + length + " bytes, expected "
                    + type.length(), at + 2);
        }
        byte[] payload = in.readBytes(length);
        return switch (type) {
            case SHUT -> new Shut(ByteBuffer.wrap(payload).getInt());
            case PONG -> new Pong(ByteBuffer.wrap(payload).getInt());
            case VM_MIGRATE_ERROR -> new Error(new String(payload, StandardCharsets.UTF_8));
            case VM_MIGRATE_RESUMABLE -> new Resumable(ByteBuffer.wrap(payload).getLong());
            case VM_MIGRATE_RESUMED -> new Resumed(ByteBuffer.wrap(payload).getLong());
            case RECV_BITMAP -> readRecvBitmap(in, payload, at);
            case REQ_PAGES -> new ReqPages(null, ByteBuffer.wrap(payload).getLong(), ByteBuffer.wrap(payload).getInt(8));
            case REQ_PAGES_ID -> readReqPagesId(payload, at);
            case RESUME_ACK -> new ResumeAck(ByteBuffer.wrap(payload).getInt());
            case SWITCHOVER_ACK -> new Unsupported(type, payload);
        };
    }

    /** be64 start, be32 length, then the block's name as a counted string filling the rest. */
    private static ReqPages readReqPagesId(byte[] payload, long at) throws StreamFormatException {
        if (payload.length < 13 || (payload[12] & 0xff) != payload.length - 13) {
            throw new StreamFormatException("REQ_PAGES_ID of " + payload.length + " bytes whose block name does not "
                    + "fill it", at + 4);
        }
        ByteBuffer buffer = ByteBuffer.wrap(payload);
        return new ReqPages(new String(payload, 13, payload.length - 13, StandardCharsets.UTF_8), buffer.getLong(),
                buffer.getInt(8));
    }

    /** The block name in the payload, then the bitmap that follows the message (QEMU's ram_dirty_bitmap_reload). */
    private static RecvBitmap readRecvBitmap(MigrationInput in, byte[] payload, long at) throws IOException {
        if (payload.length == 0 || (payload[0] & 0xff) != payload.length - 1) {
            throw new StreamFormatException("RECV_BITMAP whose block name does not fill its " + payload.length
                    + "-byte payload", at + 4);
        }
        String block = new String(payload, 1, payload.length - 1, StandardCharsets.UTF_8);
        long sizeAt = in.position();
        long size = in.readBe64();
        if (size < 0 || size % Long.BYTES != 0 || size > RecvBitmap.MAX_BITMAP_BYTES) {
            throw new StreamFormatException("RECV_BITMAP of " + Long.toUnsignedString(size) + " bytes for block "
                    + dev.vmmigrate.stream.StreamText.quote(block), sizeAt);
        }
        long[] bitmap = new long[(int) (size / Long.BYTES)];
        ByteBuffer.wrap(in.readBytes((int) size)).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer().get(bitmap);
        long endAt = in.position();
        long ending = in.readBe64();
        if (ending != RecvBitmap.BITMAP_ENDING) {
            throw new StreamFormatException(String.format("RECV_BITMAP for block %s ends with 0x%016x, not QEMU's "
                    + "end mark", dev.vmmigrate.stream.StreamText.quote(block), ending), endAt);
        }
        return new RecvBitmap(block, bitmap);
    }

    private static byte[] truncate(byte[] text) {
        return text.length <= ReturnPathType.MAX_PAYLOAD ? text : java.util.Arrays.copyOf(text, ReturnPathType.MAX_PAYLOAD);
    }
}
