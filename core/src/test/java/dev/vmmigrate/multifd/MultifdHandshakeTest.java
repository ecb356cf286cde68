package dev.vmmigrate.multifd;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.vmmigrate.transport.LocalPipe;
import java.nio.ByteBuffer;
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
        LocalPipe pipe = LocalPipe.open();
        pipe.sending().output().write(ByteBuffer.wrap(new byte[] {0x11, 0x22, 0x33, 0x44, 0, 0, 0, 1}));
        try (IncomingMultifd multifd = new IncomingMultifd(2, notices::add, Duration.ofMillis(100))) {
            multifd.handshake(pipe.receiving());
            assertEquals(List.of("dropped a multifd connection (local pipe (receiving end)): it sent no multifd handshake within 100 ms"),
                    notices);
        } finally {
            pipe.sending().close();
        }
    }
}
