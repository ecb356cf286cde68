package dev.vmmigrate.testing;

import dev.vmmigrate.transport.Connection;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;

/** A read-only connection that delivers {@code bytes} and ends: a captured channel played back. */
public final class BytesConnection implements Connection {
    private final ReadableByteChannel input;
    private final String name;

    public BytesConnection(String name, byte[] bytes) {
        this.name = name;
        this.input = Channels.newChannel(new ByteArrayInputStream(bytes));
    }

    @Override
    public ReadableByteChannel input() {
        return input;
    }

    @Override
    public WritableByteChannel output() {
        throw new UnsupportedOperationException("read-only");
    }

    @Override
    public void shutdown() {
        try {
            input.close();
        } catch (IOException ignored) {
            // closing bytes in memory does not fail
        }
    }

    @Override
    public void close() {
        shutdown();
    }

    @Override
    public String description() {
        return "bytes " + name;
    }
}
