package dev.vmmigrate.inspect;

import com.fasterxml.jackson.databind.JsonNode;
import dev.vmmigrate.block.BlockMigration;
import dev.vmmigrate.block.BlockPayloadSummary;
import dev.vmmigrate.ownsections.Capability;
import dev.vmmigrate.ownsections.StreamCapabilities;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.ram.RamBlockResolver;
import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.savevm.Section;
import dev.vmmigrate.savevm.SectionHeader;
import dev.vmmigrate.savevm.SectionReader;
import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.savevm.StreamPreamble;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
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
    private final long maxExtractBytes;
    private final List<RamBlock> extracted = new ArrayList<>();

    /** @param extractDir where to write each RAM block as a file, or null to only count pages */
    public StreamInspector(Path extractDir) {
        this(extractDir, dev.vmmigrate.ram.RamLimit.hostMemory());
    }

    /**
     * @param extractDir where to write each RAM block as a file, or null to only count pages
     * @param maxExtractBytes the most RAM the stream may announce in all when extracting: a
     *     larger claim is refused before any file is made
     */
    public StreamInspector(Path extractDir, long maxExtractBytes) {
        this.extractDir = extractDir;
        this.maxExtractBytes = maxExtractBytes;
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
        /** Set instead of the header for a COMMAND section. */
        final Section.Command command;
        long bytes;
        int parts;
        JsonNode fields;

        OpenSection(long offset, SectionHeader.Open header) {
            this.offset = offset;
            this.header = header;
            this.command = null;
        }

        OpenSection(long offset, Section.Command command) {
            this.offset = offset;
            this.header = null;
            this.command = command;
            this.bytes = 1 + 2 + 2 + command.payload().length;
        }

        StreamReport.Section report() {
            if (command != null) {
                return new StreamReport.Section(offset, SectionType.COMMAND.name(), null,
                        command.command().name(), null, null, bytes, null, null);
            }
            boolean iterative = header.type() == SectionType.START;
            return new StreamReport.Section(offset, header.type().name(), header.sectionId(), header.idstr(),
                    header.instanceId(), header.version(), bytes, iterative ? parts : null, fields);
        }
    }

    private StreamReport read(MigrationInput in, JsonNode vmdesc, long size) throws IOException {
        RamHandler ram = new RamHandler(extractDir == null ? this::resolveBlock
                : RamBlockResolver.limited(maxExtractBytes, "--max-ram", this::resolveBlock));
        try {
            return read(in, vmdesc, size, ram);
        } finally {
            ram.cleanup();
        }
    }

    private StreamReport read(MigrationInput in, JsonNode vmdesc, long size, RamHandler ram) throws IOException {
        SectionReader reader = new SectionReader(in);
        StreamPreamble preamble = reader.preamble();
        List<OpenSection> sections = new ArrayList<>();
        Map<Integer, OpenSection> iterative = new HashMap<>();
        BlockTally block = null;
        /** The first device section left undecoded for want of a vmdesc, to report once the stream says why. */
        StreamFormatException undecoded = null;
        // The report keeps every section's fields: bounded over the stream, not per section only.
        long decodedValues = 0;
        while (true) {
            Section next = reader.next();
            long at = next.offset();
            OpenSection section;
            switch (next) {
                case Section.Start start -> {
                    SectionHeader.Open header = start.header();
                    requireKnownIterative(header.idstr(), at);
                    section = new OpenSection(at, header);
                    sections.add(section);
                    iterative.put(header.sectionId(), section);
                    if (header.idstr().equals(BlockMigration.IDSTR)) {
                        block = block == null ? new BlockTally() : block;
                        block.add(BlockPayloadSummary.read(in), at);
                    } else {
                        ram.load(in, SectionType.START, header.version());
                    }
                }
                case Section.Part part -> {
                    section = continueIterative(iterative.get(part.opener().sectionId()), block, ram, in,
                            SectionType.PART);
                    section.parts++;
                }
                case Section.End end -> section =
                        continueIterative(iterative.get(end.opener().sectionId()), block, ram, in, SectionType.END);
                case Section.Full full -> {
                    section = new OpenSection(at, full.header());
                    sections.add(section);
                    if (vmdesc == null) {
                        // Read past it; the stream's end says why there is no vmdesc (none, or a bad one).
                        reader.readOpaquePayload(full);
                        if (undecoded == null) {
                            undecoded = new StreamFormatException("device section "
                                    + StreamText.quote(full.header().idstr())
                                    + " cannot be decoded: the stream has no vmdesc", at);
                        }
                    } else {
                        section.fields = decodeDevice(vmdesc, full.header(), in, at);
                        decodedValues += weight(section.fields);
                        if (decodedValues > VmDescDecoder.MAX_VALUES) {
                            throw new StreamFormatException("the device sections decode to more than "
                                    + VmDescDecoder.MAX_VALUES + " values in all", at);
                        }
                    }
                    if (section.fields != null && full.header().idstr().equals(StreamCapabilities.IDSTR) && StreamCapabilities
                            .announced(section.fields.path("capabilities").asLong()).contains(Capability.COMPRESS)) {
                        ram.expectCompressedPages(); // the pages after it are zstd frames
                    }
                }
                case Section.Command command -> {
                    sections.add(new OpenSection(at, command));
                    section = null; // whole already, no footer
                }
                case Section.Eof eof -> {
                    if (undecoded != null) {
                        throw undecoded;
                    }
                    long vmdescBytes = eof.vmdesc() == null ? 0 : eof.vmdesc().length;
                    return new StreamReport(size, StreamPreamble.VERSION, preamble.machineType(),
                            preamble.capabilities(), sections.stream().map(OpenSection::report).toList(),
                            ram.loadedBlocks(), block == null ? null : block.report(), vmdescBytes);
                }
            }
            if (section != null) {
                reader.finish(next);
                section.bytes += in.position() - at;
            }
        }
    }

    /** How much a decoded section weighs in the report: a value each, long texts (hex) by their length. */
    private static long weight(JsonNode node) {
        if (node.isContainerNode()) {
            long sum = 1;
            for (JsonNode child : node) {
                sum += weight(child);
            }
            return sum;
        }
        return 1 + (node.isTextual() ? node.textValue().length() / 64 : 0);
    }

    /** A PART or END: more payload for the section its START opened. */
    private static OpenSection continueIterative(OpenSection opened, BlockTally block, RamHandler ram,
                                                 MigrationInput in, SectionType type) throws IOException {
        if (opened.header.idstr().equals(BlockMigration.IDSTR)) {
            block.add(BlockPayloadSummary.read(in), in.position());
        } else {
            ram.load(in, type, opened.header.version());
        }
        return opened;
    }

    private static void requireKnownIterative(String idstr, long at) throws StreamFormatException {
        if (!idstr.equals(RamHandler.IDSTR) && !idstr.equals(BlockMigration.IDSTR)) {
            throw new StreamFormatException("cannot decode iterative section " + StreamText.quote(idstr)
                    + " (only 'ram' and 'block' are known)", at);
        }
    }

    /** Block payload summaries added up over the START, PART and END sections. */
    private static final class BlockTally {
        private final Map<String, Long> chunks = new java.util.LinkedHashMap<>();
        private long data;
        private long zero;

        void add(BlockPayloadSummary payload, long at) throws StreamFormatException {
            payload.chunks().forEach((device, count) -> chunks.merge(device, count, Long::sum));
            if (chunks.size() > BlockPayloadSummary.MAX_DEVICES) {
                throw new StreamFormatException("block sections name more than " + BlockPayloadSummary.MAX_DEVICES
                        + " devices", at);
            }
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
            throw new StreamFormatException("device section " + StreamText.quote(header.idstr())
                    + " cannot be decoded: the stream has no vmdesc", at);
        }
        JsonNode device = VmDescDecoder.findDevice(vmdesc, header.idstr(), header.instanceId())
                .orElseThrow(() -> new StreamFormatException("device section " + StreamText.quote(header.idstr())
                        + " instance " + header.instanceId() + " is not in the vmdesc", at));
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
            throw new StreamFormatException("cannot extract RAM block " + StreamText.quote(id) + " to " + target + ": "
                    + e.getMessage(), offset);
        }
    }

    /** Block ids such as {@code /rom@etc/acpi/tables} become flat file names. */
    public static String fileNameFor(String blockId) {
        String flat = blockId.replaceAll("^/+", "").replaceAll("[^A-Za-z0-9._@:-]", "_");
        return (flat.isEmpty() ? "block" : flat) + ".ram";
    }
}
