package dev.vmmigrate.ram;

/** What a load found of one RAM block: for inspect's summary. */
public record RamBlockSummary(
        @com.fasterxml.jackson.annotation.JsonProperty("id") String id,
        @com.fasterxml.jackson.annotation.JsonProperty("length") long length,
        @com.fasterxml.jackson.annotation.JsonProperty("zero-pages") long zeroPages,
        @com.fasterxml.jackson.annotation.JsonProperty("normal-pages") long normalPages) {
}
