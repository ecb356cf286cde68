package dev.vmmigrate.migration;

/**
 * How far the receiving side's load has come, for progress output: stream bytes read so far,
 * the RAM the stream announced (which the load checks against the guest it loads into), RAM
 * pages loaded (a page sent again in a later pass counts again), and milliseconds since the
 * load began. Taken while the load runs on another thread, so bytes read may be off by one
 * read-ahead chunk for a moment: good for people, not for arithmetic.
 */
public record LoadProgress(MigrationStatus status, long elapsedMillis, long bytesRead, long ramBytes,
                           long pagesLoaded) {
}
