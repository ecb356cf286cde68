package dev.vmmigrate.inspect;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmmigrate.savevm.SectionType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * Finds the vmdesc JSON at the end of a stream file without reading the stream: device sections
 * can only be decoded with it, and it comes last. Searches back from the end for a 0x06 byte
 * whose be32 length reaches exactly to the end, as QEMU's analyze-migration.py does.
 */
final class VmDescLocator {
    /** How far back to look: the largest vmdesc the reader takes, with its type and length. */
    private static final int MAX_TAIL = dev.vmmigrate.savevm.SectionReader.MAX_VMDESC + 5;

    /**
     * Bounds the tree a vmdesc parses into (a JSON value takes tens of bytes as a node): QEMU's
     * for a full PC has a few thousand tokens.
     */
    private static final ObjectMapper PARSER = new ObjectMapper(com.fasterxml.jackson.core.JsonFactory.builder()
            .streamReadConstraints(com.fasterxml.jackson.core.StreamReadConstraints.builder()
                    .maxTokenCount(1L << 20).maxNestingDepth(64).build())
            .build());

    private VmDescLocator() {
    }

    /** The vmdesc, or null when the file has none. */
    static JsonNode find(Path file) throws IOException {
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = channel.size();
            int tailLength = (int) Math.min(size, MAX_TAIL);
            ByteBuffer tail = ByteBuffer.allocate(tailLength);
            channel.read(tail, size - tailLength);
            byte[] bytes = tail.array();
            for (int p = tailLength - 6; p >= 0; p--) {
                if (bytes[p] != SectionType.VMDESCRIPTION.code() || bytes[p + 5] != '{') {
                    continue;
                }
                int length = ByteBuffer.wrap(bytes, p + 1, 4).getInt();
                if (length == tailLength - p - 5) {
                    try {
                        return PARSER.readTree(bytes, p + 5, length);
                    } catch (com.fasterxml.jackson.core.exc.StreamConstraintsException tooBig) {
                        throw new dev.vmmigrate.stream.StreamFormatException("vmdesc too large to decode ("
                                + tooBig.getOriginalMessage() + ")", size - tailLength + p);
                    } catch (IOException notJson) {
                        // a 0x06 inside the JSON or page data: keep looking further back
                    }
                }
            }
            return null;
        }
    }
}
