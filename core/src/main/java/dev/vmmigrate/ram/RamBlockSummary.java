package dev.vmmigrate.ram;

/** What a load found of one RAM block: for inspect's summary. */
public record RamBlockSummary(String id, long length, long zeroPages, long normalPages) {
}
