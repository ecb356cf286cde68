package dev.vmmigrate.returnpath;

import dev.vmmigrate.stream.MigrationOutput;
import java.io.IOException;
import java.nio.channels.WritableByteChannel;

/**
 * The destination's end of the return path (QEMU's mis->to_src_file), opened when the source
 * sends OPEN_RETURN_PATH: PONG for each PING, and at the end the SHUT that is the destination's
 * verdict. Writes are flushed at once; called from the loading thread only.
 */
public final class DestinationReturnPath {
    private final MigrationOutput out;

    /** @param back the connection's outgoing side */
    public DestinationReturnPath(WritableByteChannel back) {
        this.out = new MigrationOutput(back, () -> { });
    }

    public void pong(int value) throws IOException {
        send(new ReturnPathMessage.Pong(value));
    }

    /** SHUT 0: the VM was loaded (and verified); the source may retire its copy. */
    public void loaded() throws IOException {
        send(new ReturnPathMessage.Shut(0));
    }

    /**
     * SHUT 1 after the failure's reason, which only a vm-migrate source understands (QEMU's
     * source would stop at an unknown message: it gets the bare SHUT).
     */
    public void failed(String reason, boolean sourceIsVmMigrate) throws IOException {
        if (sourceIsVmMigrate) {
            ReturnPathMessage.write(out, new ReturnPathMessage.Error(reason));
        }
        send(new ReturnPathMessage.Shut(1));
    }

    /** Tells the source it may resume with {@code token} after a broken link (receive --reconnect). */
    public void resumable(long token) throws IOException {
        send(new ReturnPathMessage.Resumable(token));
    }

    /**
     * Answers a resumed connection: the pages held, block by block (QEMU's RECV_BITMAP), then the
     * offset up to which every section was read whole.
     */
    public void resumed(java.util.Map<String, long[]> received, long wholeUpTo) throws IOException {
        for (java.util.Map.Entry<String, long[]> block : received.entrySet()) {
            ReturnPathMessage.write(out, new ReturnPathMessage.RecvBitmap(block.getKey(), block.getValue()));
        }
        send(new ReturnPathMessage.Resumed(wholeUpTo));
    }

    /** Postcopy recovery: the pages of {@code block} held here (QEMU's RECV_BITMAP, answering that command). */
    public void recvBitmap(String block, long[] held) throws IOException {
        send(new ReturnPathMessage.RecvBitmap(block, held));
    }

    /** Postcopy recovery: POSTCOPY_RESUME was taken, the pages go on (QEMU's RESUME_ACK). */
    public void resumeAck() throws IOException {
        send(new ReturnPathMessage.ResumeAck(ReturnPathMessage.ResumeAck.VALUE));
    }

    /** Postcopy: the guest touched pages it lacks (QEMU's migrate_send_rp_req_pages, always with the block's name). */
    public void requestPages(String block, long start, int length) throws IOException {
        send(new ReturnPathMessage.ReqPages(block, start, length));
    }

    /** One message at a time: the loader (PONG, SHUT) and a postcopy guest's faults both send. */
    private synchronized void send(ReturnPathMessage message) throws IOException {
        ReturnPathMessage.write(out, message);
        out.flush();
    }
}
