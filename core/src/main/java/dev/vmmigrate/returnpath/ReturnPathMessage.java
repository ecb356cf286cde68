package dev.vmmigrate.returnpath;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;
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

    /** A message of postcopy or QEMU's newer capabilities, which a precopy source does not act on. */
    record Unsupported(ReturnPathType type, byte[] payload) implements ReturnPathMessage {
    }

    /** Writes the message (the caller flushes). */
    static void write(MigrationOutput out, ReturnPathMessage message) throws IOException {
        byte[] payload = switch (message) {
            case Shut shut -> ByteBuffer.allocate(4).putInt(shut.status()).array();
            case Pong pong -> ByteBuffer.allocate(4).putInt(pong.value()).array();
            case Error error -> truncate(error.reason().getBytes(StandardCharsets.UTF_8));
            case Unsupported other -> other.payload();
        };
        out.putBe16(message.type().code());
        out.putBe16(payload.length);
        out.putBytes(payload);
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
            case REQ_PAGES, REQ_PAGES_ID, RECV_BITMAP, RESUME_ACK, SWITCHOVER_ACK -> new Unsupported(type, payload);
        };
    }

    private static byte[] truncate(byte[] text) {
        return text.length <= ReturnPathType.MAX_PAYLOAD ? text : java.util.Arrays.copyOf(text, ReturnPathType.MAX_PAYLOAD);
    }
}
