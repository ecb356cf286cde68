package dev.vmmigrate.held;

import dev.vmmigrate.stream.MigrationOutput;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Writes a whole stream into a file as one step: into a sibling first, synced, then renamed over
 * the target, so a failure part way leaves the target as it was and never a half-written VM.
 */
public final class CheckpointFile {
    /** What writes the stream. */
    @FunctionalInterface
    public interface StreamWriter {
        void write(MigrationOutput out) throws IOException;
    }

    private CheckpointFile() {
    }

    /** @return the bytes written */
    public static long write(Path file, StreamWriter writer) throws IOException {
        Path target = file.toAbsolutePath();
        Path partial = target.resolveSibling("." + target.getFileName() + ".partial");
        try {
            long size;
            try (FileChannel channel = FileChannel.open(partial, StandardOpenOption.CREATE,
                    StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
                 MigrationOutput out = new MigrationOutput(channel, () -> { })) {
                writer.write(out);
                out.flush();
                size = out.position();
                channel.force(true);
            }
            Files.move(partial, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            return size;
        } finally {
            Files.deleteIfExists(partial);
        }
    }
}
