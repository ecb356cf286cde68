package dev.vmmigrate.held;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointFileTest {
    @Test
    void writesTheWholeStreamThenReplacesTheFile(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("vm.ckpt");
        Files.write(file, new byte[] {9, 9});
        assertEquals(3, CheckpointFile.write(file, out -> out.putBytes(new byte[] {1, 2, 3})));
        assertArrayEquals(new byte[] {1, 2, 3}, Files.readAllBytes(file));
        assertFalse(Files.exists(dir.resolve(".vm.ckpt.partial")));
    }

    @Test
    void aFailureLeavesTheFileAsItWas(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("vm.ckpt");
        Files.write(file, new byte[] {9, 9});
        assertThrows(IOException.class, () -> CheckpointFile.write(file, out -> {
            out.putBytes(new byte[1 << 20]);
            throw new IOException("stream cut");
        }));
        assertArrayEquals(new byte[] {9, 9}, Files.readAllBytes(file));
        assertFalse(Files.exists(dir.resolve(".vm.ckpt.partial")), "no partial file left behind");
        Path absent = dir.resolve("new.ckpt");
        assertThrows(IOException.class, () -> CheckpointFile.write(absent, out -> {
            throw new IOException("stream cut");
        }));
        assertFalse(Files.exists(absent));
    }
}
