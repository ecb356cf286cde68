package dev.vmmigrate.inspect;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.block.BlockPayloadSummary;
import dev.vmmigrate.migration.Capability;
import dev.vmmigrate.migration.StreamCapabilities;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.ram.RamBlockResolver;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.savevm.SectionHeader;
import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.savevm.StreamPreamble;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.vmstate.VmDescDecoder;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Reads a stream file section by section without a guest: RAM records are counted (and written
 * to files with an extract directory), device sections are decoded through the stream's own
 * vmdesc, so streams of machines we do not emulate (QEMU's {@code pc}) read as well as ours.
 * Memory stays bounded: pages are skipped unless extracted, and extraction maps files.
 */
public final class StreamInspector {
    private final Path extractDir;
    private final List<RamBlock> extracted = new ArrayList<>();

    /** @param extractDir where to write each RAM block as a file, or null to only count pages */
    public StreamInspector(Path extractDir) {
        this.extractDir = extractDir;
    }

    public StreamReport inspect(Path file) throws IOException {
        JsonNode vmdesc = VmDescLocator.find(file);
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ);
             MigrationInput in = new MigrationInput(channel)) {
            return read(in, vmdesc, Files.size(file));
        } finally {
            for (RamBlock block : extracted) {
                block.close();
            }
        }
    }

    /** A section while it is being read: iterative sections grow with their PART and END. */
    private static final class OpenSection {
        final long offset;
        final SectionHeader.Open header;
        long bytes;
        int parts;
        JsonNode fields;

        OpenSection(long offset, SectionHeader.Open header) {
            this.offset = offset;
            this.header = header;
        }

        StreamReport.Section report() {
            boolean iterative = header.type() == SectionType.START;
            return new StreamReport.Section(offset, header.type().name(), header.sectionId(), header.idstr(),
                    header.instanceId(), header.version(), bytes, iterative ? parts : null, fields);
        }
    }

    private StreamReport read(MigrationInput in, JsonNode vmdesc, long size) throws IOException {
        RamHandler ram = new RamHandler(this::resolveBlock);
        try {
            return read(in, vmdesc, size, ram);
        } finally {
            ram.cleanup();
        }
    }

    private StreamReport read(MigrationInput in, JsonNode vmdesc, long size, RamHandler ram) throws IOException {
        StreamPreamble preamble = StreamPreamble.read(in);
        List<OpenSection> sections = new ArrayList<>();
        Map<Integer, OpenSection> iterative = new HashMap<>();
        BlockTally block = null;
        long vmdescBytes = 0;
        while (true) {
            long at = in.position();
            SectionType type = SectionType.fromCode(in.readU8(), at);
            switch (type) {
                case START, FULL -> {
                    SectionHeader.Open header = (SectionHeader.Open) SectionHeader.read(in, type);
                    OpenSection section = new OpenSection(at, header);
                    sections.add(section);
                    if (type == SectionType.START) {
                        requireKnownIterative(header.idstr(), at);
                        iterative.put(header.sectionId(), section);
                        if (header.idstr().equals(BlockMigration.IDSTR)) {
                            block = block == null ? new BlockTally() : block;
                            block.add(BlockPayloadSummary.read(in));
                        } else {
                            ram.load(in, type, header.version());
                        }
                    } else {
                        section.fields = decodeDevice(vmdesc, header, in, at);
                        if (header.idstr().equals(StreamCapabilities.IDSTR) && StreamCapabilities
                                .announced(section.fields.path("capabilities").asLong()).contains(Capability.COMPRESS)) {
                            ram.expectCompressedPages(); // the pages after it are zstd frames
                        }
                    }
                    SectionHeader.readFooter(in, header.sectionId(), header.idstr());
                    section.bytes += in.position() - at;
                }
                case PART, END -> {
                    SectionHeader header = SectionHeader.read(in, type);
                    OpenSection section = iterative.get(header.sectionId());
                    if (section == null) {
                        throw new StreamFormatException(type + " for section id " + header.sectionId()
                                + " that no START opened", at);
                    }
                    if (section.header.idstr().equals(BlockMigration.IDSTR)) {
                        block.add(BlockPayloadSummary.read(in));
                    } else {
                        ram.load(in, type, section.header.version());
                    }
                    SectionHeader.readFooter(in, header.sectionId(), section.header.idstr());
                    section.bytes += in.position() - at;
                    if (type == SectionType.PART) {
                        section.parts++;
                    }
                }
                case EOF -> {
                    if (in.peekU8() == SectionType.VMDESCRIPTION.code()) {
                        vmdescBytes = size - in.position() - 5;
                    }
                    return new StreamReport(size, StreamPreamble.VERSION, preamble.machineType(),
                            preamble.capabilities(), sections.stream().map(OpenSection::report).toList(),
                            ram.loadedBlocks(), block == null ? null : block.report(), vmdescBytes);
                }
                default -> throw new StreamFormatException("unexpected " + type + " section", at);
            }
        }
    }

    private static void requireKnownIterative(String idstr, long at) throws StreamFormatException {
        if (!idstr.equals(RamHandler.IDSTR) && !idstr.equals(BlockMigration.IDSTR)) {
            throw new StreamFormatException("cannot decode iterative section '" + idstr
                    + "' (only 'ram' and 'block' are known)", at);
        }
    }

    /** Block payload summaries added up over the START, PART and END sections. */
    private static final class BlockTally {
        private final Map<String, Long> chunks = new java.util.LinkedHashMap<>();
        private long data;
        private long zero;

        void add(BlockPayloadSummary payload) {
            payload.chunks().forEach((device, count) -> chunks.merge(device, count, Long::sum));
            data += payload.dataChunks();
            zero += payload.zeroChunks();
        }

        StreamReport.Block report() {
            return new StreamReport.Block(chunks, data, zero);
        }
    }

    private static JsonNode decodeDevice(JsonNode vmdesc, SectionHeader.Open header, MigrationInput in, long at)
            throws IOException {
        if (vmdesc == null) {
            throw new StreamFormatException("device section '" + header.idstr()
                    + "' cannot be decoded: the stream has no vmdesc", at);
        }
        JsonNode device = VmDescDecoder.findDevice(vmdesc, header.idstr(), header.instanceId())
                .orElseThrow(() -> new StreamFormatException("device section '" + header.idstr()
                        + "' instance " + header.instanceId() + " is not in the vmdesc", at));
        return VmDescDecoder.decode(device, in);
    }

    private RamBlock resolveBlock(String id, long length, long offset) throws StreamFormatException {
        if (extractDir == null) {
            return null;
        }
        Path target = extractDir.resolve(fileNameFor(id));
        try {
            Files.deleteIfExists(target);
            RamBlock block = RamBlock.mapFile(id, target, length);
            extracted.add(block);
            return block;
        } catch (IOException | RuntimeException e) {
            throw new StreamFormatException("cannot extract RAM block '" + id + "' to " + target + ": "
                    + e.getMessage(), offset);
        }
    }

    /** Block ids such as {@code /rom@etc/acpi/tables} become flat file names. */
    public static String fileNameFor(String blockId) {
        String flat = blockId.replaceAll("^/+", "").replaceAll("[^A-Za-z0-9._@:-]", "_");
        return (flat.isEmpty() ? "block" : flat) + ".ram";
    }
}
