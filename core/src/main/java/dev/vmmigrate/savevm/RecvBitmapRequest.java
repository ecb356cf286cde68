package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.StreamFormatException;
import java.nio.charset.StandardCharsets;

/**
 * QEMU's COMMAND RECV_BITMAP (savevm.c qemu_savevm_send_recv_bitmap), sent by a source resuming
 * a paused postcopy migration: the destination answers with the pages of RAM block
 * {@code block} it holds (the return path's RECV_BITMAP). Payload: u8 name length, the name.
 */
public record RecvBitmapRequest(String block) {
    public RecvBitmapRequest {
        if (block.isEmpty() || block.getBytes(StandardCharsets.UTF_8).length > 255) {
            throw new IllegalArgumentException("RAM block name of " + block.getBytes(StandardCharsets.UTF_8).length
                    + " bytes");
        }
    }

    /** Reads and checks the payload of {@code command}; offsets in errors are the command's. */
    public static RecvBitmapRequest read(Section.Command command) throws StreamFormatException {
        byte[] payload = command.payload();
        if (payload.length < 2 || (payload[0] & 0xff) != payload.length - 1) {
            throw new StreamFormatException("RECV_BITMAP of " + payload.length + " bytes whose block name does not "
                    + "fill it", command.offset());
        }
        return new RecvBitmapRequest(new String(payload, 1, payload.length - 1, StandardCharsets.UTF_8));
    }

    /** The payload, as QEMU writes it. */
    public byte[] encode() {
        byte[] name = block.getBytes(StandardCharsets.UTF_8);
        byte[] payload = new byte[1 + name.length];
        payload[0] = (byte) name.length;
        System.arraycopy(name, 0, payload, 1, name.length);
        return payload;
    }
}
