package dev.vmmigrate.testing;

import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.block.BlockStats;
import dev.vmmigrate.block.CopyMode;
import dev.vmmigrate.block.Disk;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.migration.MachineStreams;
import dev.vmmigrate.migration.MigrationCapabilities;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.migration.OutgoingMigration;
import dev.vmmigrate.multifd.MultifdInit;
import dev.vmmigrate.ownsections.Capability;
import dev.vmmigrate.ram.CapturedStreams;
import dev.vmmigrate.ram.RamFlags;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.savevm.Section;
import dev.vmmigrate.savevm.SectionReader;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.transport.MigrationUri;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The fuzzers' seeds: small valid streams of every kind the receiver meets. Written once into
 * the fuzz test's inputs directory by {@link #main} (see scripts/fuzz) and committed; QEMU's
 * captures are shrunk by turning each PAGE record into a ZERO record (same framing, a few KiB
 * instead of a MiB, still a stream QEMU would load).
 */
public final class SeedCorpus {
    private SeedCorpus() {
    }

    /**
     * Writes every stream seed into each directory given, or, into one named {@code multifd}
     * (the multifd target's), the {@link #multifdSeeds}.
     */
    public static void main(String[] args) throws Exception {
        Map<String, byte[]> seeds = seeds(Files.createTempDirectory("seeds"));
        for (String dir : args) {
            Path target = Files.createDirectories(Path.of(dir));
            boolean multifd = target.getFileName().toString().equals("multifd");
            for (Map.Entry<String, byte[]> seed : (multifd ? multifdSeeds() : seeds).entrySet()) {
                Files.write(target.resolve(seed.getKey()), seed.getValue());
            }
        }
    }

    /**
     * The multifd target's seeds ({@link HostileInput#multifdChannel}): for each capture, its
     * index and its channel 0 after the handshake, which loads as it is.
     */
    public static Map<String, byte[]> multifdSeeds() {
        Map<String, byte[]> seeds = new LinkedHashMap<>();
        for (int i = 0; i < HostileInput.MULTIFD_CAPTURES.size(); i++) {
            String capture = HostileInput.MULTIFD_CAPTURES.get(i);
            byte[] channel0 = CapturedStreams.multifdChannel(capture, 0);
            byte[] seed = new byte[1 + channel0.length - MultifdInit.BYTES];
            seed[0] = (byte) i;
            System.arraycopy(channel0, MultifdInit.BYTES, seed, 1, seed.length - 1);
            seeds.put("multifd-channel0-" + capture, seed);
        }
        return seeds;
    }

    static Map<String, byte[]> seeds(Path scratch) throws Exception {
        Map<String, byte[]> seeds = new LinkedHashMap<>();
        for (String capture : List.of(CapturedStreams.NONE_2M, CapturedStreams.NONE_2M_QEMU10,
                CapturedStreams.PC_16M)) { // pc 10.0 differs from 7.2 in a command only: its capture is replayed whole
            seeds.put("qemu-" + capture.replace(".qemu", "") + "-zeroed", zeroPages(CapturedStreams.bytes(capture)));
        }
        seeds.put("own-plain", own(scratch, Set.of(), false, false));
        seeds.put("own-compress", own(scratch, Set.of(Capability.COMPRESS), false, false));
        seeds.put("own-compat-qemu", own(scratch, Set.of(), true, false));
        seeds.put("own-disk-zero-blocks", own(scratch, Set.of(Capability.ZERO_BLOCKS), false, true));
        return seeds;
    }

    /** A 16 KiB guest, half random, migrated into a file by the real sender. */
    private static byte[] own(Path scratch, Set<Capability> capabilities, boolean compat, boolean disk)
            throws Exception {
        Path file = Files.createTempFile(scratch, "own", ".mig");
        Path image = scratch.resolve("disk-" + System.nanoTime() + ".img");
        Guest.Builder builder = Guest.builder().ramSize(16L << 10).seed(5);
        if (disk) {
            Disk.create("disk0", image, 2L << 20).close();
            builder.disk(image);
        }
        try (Guest source = builder.build()) {
            Workload.fillHalfRandom(source.ramBlocks().getFirst(), 21);
            BlockMigration block = disk ? new BlockMigration(source.disk().stream().toList(), CopyMode.ALL,
                    Map.of(), true, new BlockStats()) : null;
            OutgoingMigration out = new OutgoingMigration(source, MachineStreams.of(source, compat, block));
            out.setCapabilities(new MigrationCapabilities(capabilities, 1L << 20, 1));
            out.start(MigrationUri.parse("file:" + file).connect());
            if (out.awaitFinished(Duration.ofSeconds(60)) != MigrationStatus.COMPLETED) {
                throw new IllegalStateException("seed migration failed: " + out.error());
            }
        }
        return Files.readAllBytes(file);
    }

    /** {@code stream} with each PAGE record of its RAM sections replaced by a ZERO record of the page's first byte. */
    public static byte[] zeroPages(byte[] stream) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        SectionReader reader = new SectionReader(MigrationInput.of(stream));
        MigrationInput in = reader.input();
        int copied = 0;
        for (Section s = reader.next(); !(s instanceof Section.Eof); s = reader.next()) {
            String idstr = switch (s) {
                case Section.Start start -> start.header().idstr();
                case Section.Part part -> part.opener().idstr();
                case Section.End end -> end.opener().idstr();
                case Section.Full full -> full.header().idstr();
                default -> null;
            };
            if (s instanceof Section.Full full) {
                reader.readOpaquePayload(full);
            } else if (RamHandler.IDSTR.equals(idstr)) {
                copied = zeroRamRecords(stream, in, out, copied);
            } else if (idstr != null) {
                throw new IllegalArgumentException("cannot shrink a stream with section " + idstr);
            }
            reader.finish(s);
        }
        out.write(stream, copied, stream.length - copied);
        return out.toByteArray();
    }

    private static int zeroRamRecords(byte[] stream, MigrationInput in, ByteArrayOutputStream out, int copied)
            throws IOException {
        while (true) {
            int at = (int) in.position();
            long word = in.readBe64();
            int kind = (int) (word & RamFlags.MASK) & ~RamFlags.CONTINUE;
            if (kind == RamFlags.MEM_SIZE) {
                long total = word & ~RamFlags.MASK;
                for (long seen = 0; seen < total; ) {
                    in.readCountedString();
                    seen += in.readBe64();
                }
                continue;
            }
            if ((word & RamFlags.CONTINUE) == 0 && kind != RamFlags.EOS) {
                in.readCountedString();
            }
            switch (kind) {
                case RamFlags.EOS -> {
                    return copied;
                }
                case RamFlags.ZERO -> in.readU8();
                case RamFlags.PAGE -> {
                    int header = (int) in.position() - at;
                    out.write(stream, copied, at - copied);
                    byte[] record = Arrays.copyOfRange(stream, at, at + header + 1);
                    record[7] = (byte) ((record[7] & ~RamFlags.PAGE) | RamFlags.ZERO);
                    out.write(record, 0, record.length);
                    in.skip(TargetPage.SIZE);
                    copied = (int) in.position();
                }
                default -> throw new IllegalArgumentException("cannot shrink RAM record 0x" + Long.toHexString(word));
            }
        }
    }
}
