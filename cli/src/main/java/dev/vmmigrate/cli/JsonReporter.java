package dev.vmmigrate.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmmigrate.migration.MigrationInfo;
import dev.vmmigrate.migration.MigrationStatus;
import java.io.PrintStream;

/**
 * NDJSON on stderr in QMP's shapes: events as {"event", "data", "timestamp"} and the final
 * figures as a query-migrate reply {"return": {...}}, so one jq checks a run.
 */
final class JsonReporter implements Reporter {
    private final ObjectMapper mapper = new ObjectMapper();
    private final PrintStream err;
    /** The final record is out. Guarded by this. */
    private boolean summarized;
    private java.util.concurrent.ScheduledExecutorService ticker;

    JsonReporter(PrintStream err) {
        this.err = err;
    }

    @Override
    public void statusChanged(MigrationStatus status, MigrationInfo info) {
        ObjectNode data = mapper.createObjectNode().put("status", status.qmpName());
        if (info.errorDesc() != null) {
            data.put("error-desc", info.errorDesc());
        }
        event("MIGRATION", data);
    }

    @Override
    public void passStarted(long pass) {
        event("MIGRATION_PASS", mapper.createObjectNode().put("pass", pass));
    }

    @Override
    public void note(String event, String message) {
        event(event, mapper.createObjectNode().put("message", message));
    }

    @Override
    public void listening(String address, boolean socket) {
        ObjectNode data = mapper.createObjectNode()
                .put("message", Reporter.listeningLine(address, socket)).put("address", address);
        try {
            switch (dev.vmmigrate.transport.MigrationUri.parse(address)) {
                case dev.vmmigrate.transport.TcpUri tcp -> data.put("host", tcp.host()).put("port", tcp.port());
                case dev.vmmigrate.transport.UnixUri unix -> data.put("path", unix.path().toString());
                default -> {
                }
            }
        } catch (IllegalArgumentException ignored) {
            // an address this side printed itself: it parses; if not, the message says it
        }
        event("LISTENING", data);
    }

    /** A query-migrate snapshot a second (event MIGRATION_INFO) while the migration runs. */
    @Override
    public void track(java.util.function.Supplier<MigrationInfo> info) {
        if (ticker != null) {
            return;
        }
        ticker = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, "json-progress");
            thread.setDaemon(true);
            return thread;
        });
        ticker.scheduleAtFixedRate(() -> snapshot(info), 1, 1, java.util.concurrent.TimeUnit.SECONDS);
    }

    /** One MIGRATION_INFO while active (the snapshot is taken outside this object's lock: it takes the migration's). */
    private void snapshot(java.util.function.Supplier<MigrationInfo> info) {
        MigrationInfo now = info.get();
        if ("active".equals(now.status())) {
            progress(mapper.valueToTree(now));
        }
    }

    /**
     * Prints a snapshot unless the final record is out, under the lock {@link #summary} takes:
     * checked and printed apart, a snapshot came out after the final record now and then.
     */
    private synchronized void progress(ObjectNode data) {
        if (!summarized) {
            event("MIGRATION_INFO", data);
        }
    }

    @Override
    public void close() {
        if (ticker != null) {
            ticker.shutdownNow();
        }
    }

    /** The final record: nothing is printed after it. */
    @Override
    public synchronized void summary(MigrationInfo info) {
        summarized = true;
        ObjectNode line = mapper.createObjectNode();
        line.set("return", mapper.valueToTree(info));
        print(line);
    }

    /** A run that ends on an error before its figures still ends with the final record. */
    @Override
    public synchronized void failed(String reason) {
        if (!summarized) {
            statusChanged(MigrationStatus.FAILED, MigrationInfo.of(MigrationStatus.FAILED.qmpName(), null, reason));
            summary(MigrationInfo.of(MigrationStatus.FAILED.qmpName(), null, reason));
        }
    }

    private void event(String name, ObjectNode data) {
        long micros = System.currentTimeMillis() * 1000;
        ObjectNode line = mapper.createObjectNode().put("event", name);
        line.set("data", data);
        line.putObject("timestamp").put("seconds", micros / 1_000_000).put("microseconds", micros % 1_000_000);
        print(line);
    }

    private synchronized void print(ObjectNode line) {
        err.println(line.toString());
        err.flush();
    }
}
