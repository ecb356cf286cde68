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

    /**
     * The sibling a file is written as before it replaces {@code file} ({@code .NAME.partial} in
     * the same directory, so the rename is atomic): also where {@code receive --ram-file} loads.
     */
    public static Path partialOf(Path file) {
        Path target = file.toAbsolutePath();
        return target.resolveSibling("." + target.getFileName() + ".partial");
    }

    /** Puts the finished {@code partial} in place of {@code file} in one step (rename(2)). */
    public static void replace(Path partial, Path file) throws IOException {
        Files.move(partial, file.toAbsolutePath(), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** @return the bytes written */
    public static long write(Path file, StreamWriter writer) throws IOException {
        Path target = file.toAbsolutePath();
        Path partial = partialOf(target);
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
            replace(partial, target);
            return size;
        } finally {
            Files.deleteIfExists(partial);
        }
    }
}
