package dev.vmmigrate.multifd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vmmigrate.transport.Connection;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** A connection that opens as a multifd channel and then sends nothing is dropped at the deadline. */
@Timeout(30)
class MultifdHandshakeTest {
    @Test
    void aChannelThatStopsInsideItsHandshakeIsDropped() throws Exception {
        List<String> notices = new CopyOnWriteArrayList<>();
        Pipe pipe = Pipe.open();
        pipe.sink().write(ByteBuffer.wrap(new byte[] {0x11, 0x22, 0x33, 0x44, 0, 0, 0, 1}));
        try (IncomingMultifd multifd = new IncomingMultifd(2, notices::add, Duration.ofMillis(100))) {
            multifd.handshake(new PipeConnection(pipe));
            assertEquals(List.of("dropped a multifd connection (pipe): it sent no multifd handshake within 100 ms"),
                    notices);
        } finally {
            pipe.sink().close();
        }
    }

    /** The reading end of a pipe; shutdown closes it, which wakes a blocked read. */
    private record PipeConnection(Pipe pipe) implements Connection {
        @Override
        public ReadableByteChannel input() {
            return pipe.source();
        }

        @Override
        public WritableByteChannel output() {
            throw new UnsupportedOperationException("read-only");
        }

        @Override
        public void shutdown() {
            try {
                pipe.source().close();
            } catch (IOException ignored) {
                // closing a pipe does not fail
            }
        }

        @Override
        public void close() {
            shutdown();
        }

        @Override
        public String description() {
            return "pipe";
        }
    }
}
