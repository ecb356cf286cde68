package dev.vmmigrate.held;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.WritableByteChannel;
import org.junit.jupiter.api.Test;

class TeeChannelTest {
    private static final byte[] DATA = "a stream passed on as it is read".getBytes();

    @Test
    void copiesEveryByteReadBeforeHandingItOn() throws IOException {
        ByteArrayOutputStream copy = new ByteArrayOutputStream();
        TeeChannel tee = new TeeChannel(Channels.newChannel(new ByteArrayInputStream(DATA)), Channels.newChannel(copy));
        ByteArrayOutputStream read = new ByteArrayOutputStream();
        ByteBuffer buffer = ByteBuffer.allocate(7);
        buffer.put((byte) 'x'); // bytes before the read's position are not the source's
        while (tee.read(buffer) >= 0) {
            buffer.flip();
            buffer.position(read.size() == 0 ? 1 : 0);
            while (buffer.hasRemaining()) {
                read.write(buffer.get());
            }
            buffer.clear();
        }
        assertArrayEquals(DATA, read.toByteArray());
        assertArrayEquals(DATA, copy.toByteArray());
        assertEquals(DATA.length, tee.copied());
        assertNull(tee.copyError());
    }

    @Test
    void aFailedCopyStopsCopyingButNotReading() throws IOException {
        WritableByteChannel broken = new WritableByteChannel() {
            @Override
            public int write(ByteBuffer src) throws IOException {
                throw new IOException("Connection reset by peer");
            }

            @Override
            public boolean isOpen() {
                return true;
            }

            @Override
            public void close() {
            }
        };
        TeeChannel tee = new TeeChannel(Channels.newChannel(new ByteArrayInputStream(DATA)), broken);
        ByteBuffer all = ByteBuffer.allocate(DATA.length);
        while (all.hasRemaining() && tee.read(all) >= 0) {
            // read it all
        }
        assertArrayEquals(DATA, all.array());
        assertEquals("Connection reset by peer", tee.copyError().getMessage());
        assertEquals(0, tee.copied());
    }
}
