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
        @JsonProperty("error-desc") String errorDesc) {

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
            @JsonProperty("page-size") int pageSize) {
    }
}
