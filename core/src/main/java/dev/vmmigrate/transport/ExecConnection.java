package dev.vmmigrate.transport;

import java.io.Closeable;
import java.io.File;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.OutputStream;
import java.lang.ProcessBuilder.Redirect;
import java.nio.ByteBuffer;
import java.nio.channels.Channels;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ReadableByteChannel;
import java.nio.channels.WritableByteChannel;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * A stream through a child {@code /bin/sh -c COMMAND}: we write its stdin or read its stdout.
 * Its exit status is part of the result: {@code exec:ssh host 'cat > f'} failing on the far
 * side must fail the migration even though every byte was written into the pipe.
 */
final class ExecConnection implements Connection {

    /** How long close() waits for the command after closing its pipes. */
    private static final long EXIT_WAIT_SECONDS = 30;

    private final String command;
    private final Process process;
    private final ReadableByteChannel input;  // null when we write to the command
    private final WritableByteChannel output; // null when we read from it
    private final AtomicBoolean shutdown = new AtomicBoolean();
    private final AtomicBoolean closed = new AtomicBoolean();

    private ExecConnection(String command, Process process, ReadableByteChannel input, WritableByteChannel output) {
        this.command = command;
        this.process = process;
        this.input = input;
        this.output = output;
    }

    /** Outgoing: our bytes are the command's stdin; its stdout and stderr are ours. */
    static ExecConnection spawnWriter(String command) throws IOException {
        Process process = start(command, new ProcessBuilder("/bin/sh", "-c", command)
                .redirectInput(Redirect.PIPE).redirectOutput(Redirect.INHERIT).redirectError(Redirect.INHERIT));
        return new ExecConnection(command, process, null, new PipeOutput(command, process.getOutputStream()));
    }

    /** Incoming: the command's stdout is our stream; its stdin is empty, its stderr ours. */
    static ExecConnection spawnReader(String command) throws IOException {
        Process process = start(command, new ProcessBuilder("/bin/sh", "-c", command)
                .redirectInput(Redirect.from(new File("/dev/null"))).redirectOutput(Redirect.PIPE)
                .redirectError(Redirect.INHERIT));
        return new ExecConnection(command, process, Channels.newChannel(process.getInputStream()), null);
    }

    private static Process start(String command, ProcessBuilder builder) throws IOException {
        try {
            return builder.start();
        } catch (IOException e) {
            throw IoErrors.wrap("cannot run exec:" + command, e);
        }
    }

    @Override
    public ReadableByteChannel input() {
        if (input == null) throw new UnsupportedOperationException(description() + " is write-only (we feed its stdin)");
        return input;
    }

    @Override
    public WritableByteChannel output() {
        if (output == null) throw new UnsupportedOperationException(description() + " is read-only (we read its stdout)");
        return output;
    }

    /**
     * Kills the command (and its children, which may hold the pipe open: sh may fork rather
     * than exec its last command) so that a blocked reader sees end of stream and a blocked
     * writer a broken pipe. Afterwards close() does not report the exit status we caused.
     */
    @Override
    public void shutdown() {
        if (!shutdown.compareAndSet(false, true)) return;
        try {
            kill();
            closeQuietly(input);
            // Closing the JDK's stdin stream takes the lock a blocked writer holds until the
            // kill breaks its pipe; never let shutdown() wait on that.
            if (output != null) Thread.ofVirtual().name("exec-shutdown").start(() -> closeQuietly(output));
        } catch (RuntimeException ignored) {
            // Never throws, by contract.
        }
    }

    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) return;
        closeQuietly(output); // EOF on its stdin: the command can finish
        closeQuietly(input);  // a reader that stopped early: the command gets SIGPIPE
        boolean exited;
        try {
            exited = process.waitFor(EXIT_WAIT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            kill();
            throw new InterruptedIOException("interrupted while waiting for command '" + command + "' to exit; killed it");
        }
        if (!exited) {
            kill();
            throw new IOException("command '" + command + "' did not exit within " + EXIT_WAIT_SECONDS
                    + " s after its stream was closed; killed it");
        }
        int status = process.exitValue();
        if (status != 0 && !shutdown.get()) {
            throw new IOException("command '" + command + "' exited with status " + status);
        }
    }

    private void kill() {
        process.descendants().forEach(ProcessHandle::destroyForcibly); // before they are reparented
        process.destroyForcibly();
    }

    private static void closeQuietly(Closeable closeable) {
        if (closeable == null) return;
        try {
            closeable.close();
        } catch (IOException ignored) {
            // The exit status says more than "Broken pipe" would.
        }
    }

    @Override
    public String description() {
        return "exec '" + command + "'";
    }

    @Override
    public String toString() {
        return description();
    }

    /**
     * The command's stdin as a channel. The JDK's stream is a BufferedOutputStream, so each
     * write is flushed: bytes must not sit in a second buffer nobody flushes.
     */
    private static final class PipeOutput implements WritableByteChannel {
        private static final int CHUNK = 64 * 1024;
        private final String command;
        private final OutputStream out;
        private byte[] chunk; // for direct buffers, allocated on first need
        private volatile boolean open = true;

        PipeOutput(String command, OutputStream out) {
            this.command = command;
            this.out = out;
        }

        @Override
        public synchronized int write(ByteBuffer src) throws IOException {
            if (!open) throw new ClosedChannelException();
            int total = src.remaining();
            try {
                if (src.hasArray()) {
                    out.write(src.array(), src.arrayOffset() + src.position(), total);
                    src.position(src.limit());
                } else {
                    if (chunk == null) chunk = new byte[CHUNK];
                    while (src.hasRemaining()) {
                        int n = Math.min(chunk.length, src.remaining());
                        src.get(chunk, 0, n);
                        out.write(chunk, 0, n);
                    }
                }
                out.flush();
            } catch (IOException e) {
                throw IoErrors.wrap("write to command '" + command + "' failed", e);
            }
            return total;
        }

        @Override
        public boolean isOpen() {
            return open;
        }

        @Override
        public void close() throws IOException {
            open = false;
            out.close();
        }
    }
}
