package dev.vmmigrate.block;

import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Images with known content, payloads captured from a handler, and a plain reader of block records. */
final class BlockStreams {
    static final int MIB = Disk.CHUNK_SIZE;

    private BlockStreams() {
    }

    /** {@code length} pseudo-random bytes from {@code seed}. */
    static byte[] random(int length, long seed) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    /** Writes {@code content} to {@code dir/name} and returns the path. */
    static Path image(Path dir, String name, byte[] content) throws IOException {
        Path path = dir.resolve(name);
        Files.write(path, content);
        return path;
    }

    /** One payload written by {@code body}. */
    static byte[] payload(IoBody body) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            body.write(out);
        }
        return bytes.toByteArray();
    }

    @FunctionalInterface
    interface IoBody {
        void write(MigrationOutput out) throws IOException;
    }

    /** A source handler's payloads: START, PARTs until one returned true (unlimited rate), END. */
    record Saved(byte[] start, List<byte[]> parts, byte[] end) {
        /** Loads every payload, in order, into {@code destination}. */
        void loadInto(BlockMigration destination) throws IOException {
            destination.load(MigrationInput.of(start), SectionType.START, BlockMigration.VERSION);
            for (byte[] part : parts) {
                destination.load(MigrationInput.of(part), SectionType.PART, BlockMigration.VERSION);
            }
            destination.load(MigrationInput.of(end), SectionType.END, BlockMigration.VERSION);
        }

        long totalBytes() {
            return start.length + parts.stream().mapToLong(p -> p.length).sum() + end.length;
        }
    }

    static Saved saveAll(BlockMigration source) throws IOException {
        byte[] start = payload(source::saveSetup);
        List<byte[]> parts = new ArrayList<>();
        boolean[] done = {false};
        while (!done[0]) {
            parts.add(payload(out -> done[0] = source.saveIterate(out)));
            if (parts.size() > 1000) {
                throw new AssertionError("the block handler never finished iterating");
            }
        }
        byte[] end = payload(source::saveComplete);
        return new Saved(start, parts, end);
    }

    /** One record as read back: flags, the byte offset (or percentage), the device, and whether data followed. */
    record Rec(int flags, long value, String device, boolean data) {
        boolean is(int flag) {
            return (flags & flag) != 0;
        }
    }

    /** Reads the records of one payload up to EOS, with the data left out. */
    static List<Rec> records(byte[] payload) throws IOException {
        MigrationInput in = MigrationInput.of(payload);
        List<Rec> recs = new ArrayList<>();
        while (true) {
            long word = in.readBe64();
            int flags = (int) (word & 0x1ff);
            long sector = word >>> 9;
            if ((flags & BlockFlags.DEVICE_BLOCK) != 0) {
                String name = new String(in.readBytes(in.readU8()), StandardCharsets.UTF_8);
                boolean data = (flags & BlockFlags.ZERO_BLOCK) == 0;
                if (data) {
                    in.skip(MIB);
                }
                recs.add(new Rec(flags, sector << 9, name, data));
            } else {
                recs.add(new Rec(flags, sector, null, false));
            }
            if ((flags & BlockFlags.EOS) != 0) {
                if (!in.atEnd()) {
                    throw new AssertionError("bytes after EOS at " + in.position());
                }
                return recs;
            }
        }
    }

    static List<Rec> records(List<byte[]> payloads) throws IOException {
        List<Rec> all = new ArrayList<>();
        for (byte[] p : payloads) {
            all.addAll(records(p));
        }
        return all;
    }

    /** The PROGRESS percentages among {@code recs}. */
    static List<Long> progress(List<Rec> recs) {
        return recs.stream().filter(r -> r.is(BlockFlags.PROGRESS)).map(Rec::value).toList();
    }

    /** Byte offsets of the DEVICE_BLOCK records among {@code recs}. */
    static List<Long> chunkOffsets(List<Rec> recs) {
        return recs.stream().filter(r -> r.is(BlockFlags.DEVICE_BLOCK)).map(Rec::value).toList();
    }
}
