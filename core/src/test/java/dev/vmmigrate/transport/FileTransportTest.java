package dev.vmmigrate.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

@Timeout(20)
class FileTransportTest {

    @TempDir
    Path dir;

    @Test
    void writesThenReadsBack() throws Exception {
        Path file = dir.resolve("vm.mig");
        byte[] data = Streams.random(Streams.PAYLOAD, 5);
        MigrationUri uri = MigrationUri.parse("file:" + file);
        try (Connection out = uri.connect()) {
            assertEquals("file " + file, out.description());
            assertThrows(UnsupportedOperationException.class, out::input);
            Streams.writeAll(out.output(), data);
        }
        try (IncomingEndpoint endpoint = uri.listen(); Connection in = endpoint.accept()) {
            assertEquals("file:" + file, endpoint.boundAddress());
            assertThrows(UnsupportedOperationException.class, in::output);
            assertThrows(IllegalStateException.class, endpoint::accept);
            Streams.assertSameBytes(data, Streams.readAll(in.input()));
        }
    }

    @Test
    void outgoingTruncatesAnOldFile() throws Exception {
        Path file = Files.write(dir.resolve("old.mig"), new byte[100_000]);
        try (Connection out = new FileUri(file).connect()) {
            Streams.writeAll(out.output(), new byte[] {1, 2, 3});
        }
        Streams.assertSameBytes(new byte[] {1, 2, 3}, Files.readAllBytes(file));
    }

    @Test
    void errorsNameThePath() {
        Path missing = dir.resolve("missing.mig");
        assertEquals("cannot open file:" + missing + " for reading: no such file or directory",
                assertThrows(IOException.class, () -> new FileUri(missing).listen()).getMessage());
        assertEquals("cannot open file:" + dir + " for reading: is a directory",
                assertThrows(IOException.class, () -> new FileUri(dir).listen()).getMessage());
        Path noDir = dir.resolve("no/such/dir/x.mig");
        assertEquals("cannot open file:" + noDir + " for writing: no such file or directory",
                assertThrows(IOException.class, () -> new FileUri(noDir).connect()).getMessage());
    }
}
