package dev.vmmigrate.inspect;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import com.fasterxml.jackson.databind.JsonNode;
import dev.vmmigrate.ram.RamBlockSummary;
import java.util.List;

/**
 * What {@code vm-migrate inspect} found in a stream; serialises to its {@code --json} output.
 *
 * @param sizeBytes the stream's length
 * @param version the stream format version (3)
 * @param machineType from the configuration section
 * @param capabilities from the configuration's capabilities subsection
 * @param sections every section in stream order (PART sections of one handler are summed into its START)
 * @param ram the blocks the RAM section announced and the pages that arrived for them
 * @param block the disk chunks the block section carried, or null
 * @param vmdescBytes the vmdesc JSON's length, or 0 when the stream has none
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record StreamReport(
        @JsonProperty("size") long sizeBytes,
        @JsonProperty("version") int version,
        @JsonProperty("machine") String machineType,
        @JsonProperty("capabilities") List<String> capabilities,
        @JsonProperty("sections") List<Section> sections,
        @JsonProperty("ram") List<RamBlockSummary> ram,
        @JsonProperty("block") Block block,
        @JsonProperty("vmdesc-size") long vmdescBytes) {

    /**
     * What the block-migration section carried, when there is one.
     *
     * @param chunks 1 MiB chunk records by device name (data and zero alike; a chunk re-sent counts again)
     */
    public record Block(
            @JsonProperty("chunks") java.util.Map<String, Long> chunks,
            @JsonProperty("data-chunks") long dataChunks,
            @JsonProperty("zero-chunks") long zeroChunks) {
    }

    /**
     * One section.
     *
     * @param offset where its first header starts
     * @param type START (iterative: its PART and END sections count into {@code bytes}), FULL or
     *     COMMAND (named by {@code name}, e.g. SWITCHOVER_START; no id, instance or version)
     * @param bytes bytes of the section on the wire, headers and footers included
     * @param parts how many PART sections followed the START
     * @param fields the device's fields decoded through the vmdesc (FULL sections only)
     */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Section(
            @JsonProperty("offset") long offset,
            @JsonProperty("type") String type,
            @JsonProperty("section-id") Integer sectionId,
            @JsonProperty("name") String name,
            @JsonProperty("instance-id") Integer instanceId,
            @JsonProperty("version") Integer version,
            @JsonProperty("bytes") long bytes,
            @JsonProperty("parts") Integer parts,
            @JsonProperty("fields") JsonNode fields) {
    }
}
