package dev.vmmigrate.transport;

import java.io.IOException;
import java.nio.channels.Pipe;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/**
 * Both ends of an in-process stream (a JDK {@link Pipe}): a migration sent into {@link #sending}
 * loads from {@link #receiving} in the same process, as the JIT warm-up's scratch migrations do.
 * Like exec:, it has no back channel.
 */
public record LocalPipe(Connection sending, Connection receiving) {

    public static LocalPipe open() throws IOException {
        Pipe pipe = Pipe.open();
        return new LocalPipe(new End("local pipe (sending end)", null, pipe.sink()),
                new End("local pipe (receiving end)", pipe.source(), null));
    }

    /** One end: closing it wakes a thread blocked on it, which is all shutdown needs here. */
    private record End(String description, Pipe.SourceChannel in, Pipe.SinkChannel out) implements Connection {
        @Override
        public ReadableByteChannel input() {
            if (in == null) {
                throw new UnsupportedOperationException(description + " is write-only");
            }
            return in;
        }

        @Override
        public WritableByteChannel output() {
            if (out == null) {
                throw new UnsupportedOperationException(description + " is read-only");
            }
            return out;
        }

        @Override
        public void shutdown() {
            try {
                close();
            } catch (IOException ignored) {
                // best effort by contract
            }
        }

        @Override
        public void close() throws IOException {
            if (in != null) {
                in.close();
            }
            if (out != null) {
                out.close();
            }
        }
    }
}
