package dev.vmmigrate.migration;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * A snapshot of a migration shaped like QMP's query-migrate reply, field names included, so
 * scripts written against QEMU read it unchanged. Times are milliseconds; absent values are null.
 */
@JsonInclude(JsonInclude.Include.NON_NULL)
public record MigrationInfo(
        @JsonProperty("status") String status,
        @JsonProperty("total-time") Long totalTime,
        @JsonProperty("setup-time") Long setupTime,
        @JsonProperty("downtime") Long downtime,
        @JsonProperty("expected-downtime") Long expectedDowntime,
        @JsonProperty("ram") Ram ram,
        @JsonProperty("disk") Disk disk,
        @JsonProperty("xbzrle-cache") XbzrleCache xbzrleCache,
        @JsonProperty("compression") Compression compression,
        @JsonProperty("cpu-throttle-percentage") Integer cpuThrottlePercentage,
        @JsonProperty("reconnect") Reconnect reconnect,
        @JsonProperty("error-desc") String errorDesc) {

    /** A status with nothing else known (the receiving side, a failure before any figure). */
    public static MigrationInfo of(String status, Long totalTime, String errorDesc) {
        return new MigrationInfo(status, totalTime, null, null, null, null, null, null, null, null, null, errorDesc);
    }

    /**
     * vm-migrate's own (QEMU resumes no precopy): a migration that may resume after a broken link
     * (send --reconnect). {@code resent-bytes}: stream bytes the destination never read whole,
     * whose pages went again (after the switch to postcopy: the bytes of the pages sent before
     * that the destination's received bitmaps lacked); {@code link-down-time}: milliseconds
     * without a link.
     */
    public record Reconnect(
            @JsonProperty("reconnects") long reconnects,
            @JsonProperty("resent-bytes") long resentBytes,
            @JsonProperty("link-down-time") long linkDownTime) {
    }

    /** query-migrate's "disk" object: block migration. */
    public record Disk(
            @JsonProperty("transferred") long transferred,
            @JsonProperty("remaining") long remaining,
            @JsonProperty("total") long total) {
    }

    /** query-migrate's "xbzrle-cache" object. */
    public record XbzrleCache(
            @JsonProperty("cache-size") long cacheSize,
            @JsonProperty("bytes") long bytes,
            @JsonProperty("pages") long pages,
            @JsonProperty("cache-miss") long cacheMiss,
            @JsonProperty("cache-miss-rate") double cacheMissRate,
            @JsonProperty("encoding-rate") double encodingRate,
            @JsonProperty("overflow") long overflow) {
    }

    /** query-migrate's "compression" object (zstd here). */
    public record Compression(
            @JsonProperty("pages") long pages,
            @JsonProperty("compressed-size") long compressedSize,
            @JsonProperty("compression-rate") double compressionRate) {
    }

    /** The "ram" object of query-migrate. */
    @JsonInclude(JsonInclude.Include.NON_NULL)
    public record Ram(
            @JsonProperty("transferred") long transferred,
            @JsonProperty("remaining") long remaining,
            @JsonProperty("total") long total,
            @JsonProperty("duplicate") long duplicate,
            @JsonProperty("skipped") long skipped,
            @JsonProperty("normal") long normal,
            @JsonProperty("normal-bytes") long normalBytes,
            @JsonProperty("dirty-pages-rate") long dirtyPagesRate,
            @JsonProperty("mbps") double mbps,
            @JsonProperty("dirty-sync-count") long dirtySyncCount,
            @JsonProperty("page-size") int pageSize,
            @JsonProperty("pages-per-second") long pagesPerSecond,
            @JsonProperty("precopy-bytes") long precopyBytes,
            @JsonProperty("downtime-bytes") long downtimeBytes,
            @JsonProperty("postcopy-requests") long postcopyRequests,
            @JsonProperty("postcopy-bytes") long postcopyBytes,
            @JsonProperty("multifd-bytes") long multifdBytes) {
    }
}
