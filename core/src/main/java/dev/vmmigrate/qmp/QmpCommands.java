package dev.vmmigrate.qmp;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.migration.AutoConverge;
import dev.vmmigrate.migration.MigrationCapabilities;
import dev.vmmigrate.migration.MigrationException;
import dev.vmmigrate.migration.MigrationInfo;
import dev.vmmigrate.migration.MigrationParameters;
import dev.vmmigrate.multifd.IncomingMultifd;
import dev.vmmigrate.multifd.MultifdCompression;
import dev.vmmigrate.multifd.MultifdCompressionParameters;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.migration.OutgoingMigration;
import dev.vmmigrate.migration.VmControl;
import dev.vmmigrate.ownsections.Capability;
import dev.vmmigrate.transport.MigrationUri;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * The QMP commands vm-migrate answers, with QEMU 7.2's names, argument names and reply shapes
 * (qapi/migration.json, qapi/run-state.json), executed on one {@link VmControl}.
 */
final class QmpCommands {
    /**
     * QEMU 7.2's migration capabilities, in its order (query-migrate-capabilities lists them
     * all): vm-migrate's own are switched for real, "events" gates the MIGRATION and
     * MIGRATION_PASS events as in QEMU, and the rest stay off (on is refused by name).
     */
    static final List<String> QEMU_CAPABILITIES = List.of("xbzrle", "rdma-pin-all", "auto-converge", "zero-blocks",
            "compress", "events", "postcopy-ram", "x-colo", "release-ram", "block", "return-path",
            "pause-before-switchover", "multifd", "dirty-bitmaps", "postcopy-blocktime", "late-block-activate",
            "x-ignore-shared", "validate-uuid", "background-snapshot", "zero-copy-send", "postcopy-preempt");
    static final String EVENTS = "events";
    static final String MULTIFD = "multifd";

    /** The parameters migrate-set-parameters takes; the auto-converge ones are QEMU's defaults, fixed here. */
    private static final Set<String> PARAMETERS = Set.of("max-bandwidth", "downtime-limit", "xbzrle-cache-size",
            "compress-level", "cpu-throttle-initial", "cpu-throttle-increment", "max-cpu-throttle",
            "throttle-trigger-threshold", "multifd-channels", "multifd-compression", "multifd-zlib-level",
            "multifd-zstd-level");

    private final ObjectMapper json;
    private final VmControl vm;
    private final QmpEvents events;
    private final ObjectNode version;

    QmpCommands(ObjectMapper json, VmControl vm, QmpEvents events, ObjectNode version) {
        this.json = json;
        this.vm = vm;
        this.events = events;
        this.version = version;
    }

    /** The commands, for query-commands and the CommandNotFound check. */
    static final List<String> NAMES = List.of("qmp_capabilities", "query-commands", "query-version", "query-status",
            "query-migrate", "query-migrate-capabilities", "migrate-set-capabilities", "query-migrate-parameters",
            "migrate-set-parameters", "query-migrate-cache-size", "migrate-set-cache-size", "migrate",
            "migrate_cancel", "migrate-start-postcopy", "stop", "cont", "quit");

    /** Executes {@code name}; the result is the "return" value. */
    JsonNode execute(String name, JsonNode request) throws QmpException {
        try {
            return switch (name) {
                case "query-commands" -> queryCommands(request);
                case "query-version" -> noArguments(request, version.deepCopy());
                case "query-status" -> noArguments(request, queryStatus());
                case "query-migrate" -> noArguments(request, queryMigrate());
                case "query-migrate-capabilities" -> noArguments(request, queryCapabilities());
                case "migrate-set-capabilities" -> setCapabilities(QmpArguments.of(request, Set.of("capabilities")));
                case "query-migrate-parameters" -> noArguments(request, queryParameters());
                case "migrate-set-parameters" -> setParameters(QmpArguments.of(request, PARAMETERS));
                case "query-migrate-cache-size" -> noArguments(request,
                        json.getNodeFactory().numberNode(vm.outgoing().capabilities().xbzrleCacheSize()));
                case "migrate-set-cache-size" -> setCacheSize(QmpArguments.of(request, Set.of("value")).integer("value"));
                case "migrate" -> migrate(QmpArguments.of(request, Set.of("uri", "blk", "inc", "detach", "resume")));
                case "migrate_cancel" -> {
                    String refusal = vm.outgoing().cancelRefusal();
                    if (refusal != null) {
                        throw QmpException.generic(refusal);
                    }
                    vm.cancel();
                    yield noArguments(request, json.createObjectNode());
                }
                case "migrate-start-postcopy" -> {
                    vm.startPostcopy();
                    yield noArguments(request, json.createObjectNode());
                }
                case "stop" -> {
                    vm.stop();
                    yield noArguments(request, json.createObjectNode());
                }
                case "cont" -> {
                    vm.cont();
                    yield noArguments(request, json.createObjectNode());
                }
                case "quit" -> {
                    noArguments(request, null);
                    events.emit("SHUTDOWN", json.createObjectNode().put("guest", false).put("reason", "host-qmp-quit"));
                    yield json.createObjectNode();
                }
                default -> throw new QmpException(QmpException.ErrorClass.COMMAND_NOT_FOUND,
                        "The command " + name + " has not been found");
            };
        } catch (MigrationException | IllegalArgumentException e) {
            throw QmpException.generic(e.getMessage());
        }
    }

    private static JsonNode noArguments(JsonNode request, JsonNode result) throws QmpException {
        QmpArguments.of(request, Set.of());
        return result;
    }

    private JsonNode queryCommands(JsonNode request) throws QmpException {
        ArrayNode list = json.createArrayNode();
        NAMES.forEach(name -> list.addObject().put("name", name));
        return noArguments(request, list);
    }

    /** QEMU 7.2's StatusInfo: status, singlestep (always false here), running. */
    private JsonNode queryStatus() {
        RunState state = vm.runState();
        return json.createObjectNode().put("status", state.qemuName()).put("singlestep", false)
                .put("running", state == RunState.RUNNING);
    }

    /** QEMU answers {} before any migration. */
    private JsonNode queryMigrate() {
        MigrationInfo info = vm.queryMigrate();
        if (info.status().equals(MigrationStatus.NONE.qmpName())) {
            return json.createObjectNode();
        }
        return json.valueToTree(info);
    }

    private JsonNode queryCapabilities() {
        MigrationCapabilities enabled = vm.outgoing().capabilities();
        ArrayNode list = json.createArrayNode();
        for (String name : QEMU_CAPABILITIES) {
            boolean on = name.equals(EVENTS) ? vm.events() : ours(name) != null && enabled.has(ours(name));
            on |= name.equals(MULTIFD) && vm.receivesMultifd(); // a receiver's; the outgoing side has none yet
            list.addObject().put("state", on).put("capability", name);
        }
        return list;
    }

    private static Capability ours(String name) {
        for (Capability capability : Capability.values()) {
            if (capability.qmpName().equals(name)) {
                return capability;
            }
        }
        return null;
    }

    /** All or nothing, as QEMU: every entry is checked before any is applied. */
    private JsonNode setCapabilities(QmpArguments arguments) throws QmpException {
        JsonNode list = arguments.node("capabilities");
        if (!list.isArray()) {
            throw QmpException.generic("Invalid parameter type for 'capabilities', expected: array");
        }
        MigrationCapabilities next = vm.outgoing().capabilities();
        Boolean events = null;
        for (JsonNode entry : list) {
            QmpArguments item = QmpArguments.of(json.createObjectNode().set("arguments", entry),
                    Set.of("capability", "state"));
            String name = item.string("capability");
            item.node("state"); // required: "Parameter 'state' is missing"
            boolean state = item.bool("state", false);
            if (!QEMU_CAPABILITIES.contains(name)) {
                throw QmpException.generic("Parameter 'capability' does not accept value '" + name + "'");
            }
            if (name.equals(EVENTS)) {
                events = state;
            } else if (ours(name) != null) {
                next = next.with(ours(name), state);
            } else if (state) {
                throw QmpException.generic("capability '" + name + "' is not supported by vm-migrate");
            }
        }
        if (vm.outgoing().status().isActive()) {
            throw QmpException.generic("There's a migration process in progress");
        }
        vm.outgoing().setCapabilities(next);
        if (events != null) {
            vm.events(events);
        }
        return json.createObjectNode();
    }

    /** QEMU 7.2's MigrationParameters members that vm-migrate has. */
    private JsonNode queryParameters() {
        OutgoingMigration outgoing = vm.outgoing();
        MigrationParameters parameters = outgoing.parameters();
        MigrationCapabilities capabilities = outgoing.capabilities();
        Map<String, Long> values = new TreeMap<>();
        values.put("max-bandwidth", parameters.maxBandwidth() == MigrationParameters.UNLIMITED
                ? 0 : parameters.maxBandwidth());
        values.put("downtime-limit", parameters.downtimeLimit().toMillis());
        values.put("xbzrle-cache-size", capabilities.xbzrleCacheSize());
        values.put("compress-level", (long) capabilities.compressLevel());
        values.put("cpu-throttle-initial", (long) AutoConverge.INITIAL);
        values.put("cpu-throttle-increment", (long) AutoConverge.INCREMENT);
        values.put("max-cpu-throttle", (long) AutoConverge.MAX);
        values.put("throttle-trigger-threshold", (long) AutoConverge.TRIGGER_PERCENT);
        values.put("multifd-channels", (long) outgoing.multifdChannels());
        MultifdCompressionParameters compression = outgoing.multifdCompression();
        values.put("multifd-zlib-level", (long) compression.zlibLevel());
        values.put("multifd-zstd-level", (long) compression.zstdLevel());
        ObjectNode result = json.createObjectNode();
        values.forEach(result::put);
        result.put("multifd-compression", compression.method().qemuName());
        return result;
    }

    /** Checked whole, then applied; speed and downtime take effect in the running migration's next window. */
    private JsonNode setParameters(QmpArguments arguments) throws QmpException {
        OutgoingMigration outgoing = vm.outgoing();
        MigrationParameters current = outgoing.parameters();
        long bandwidth = current.maxBandwidth();
        Duration downtime = current.downtimeLimit();
        if (arguments.has("max-bandwidth")) {
            bandwidth = arguments.integer("max-bandwidth");
            if (bandwidth < 0) {
                throw QmpException.generic("Parameter 'max-bandwidth' expects an integer in the range of 0 to "
                        + Long.MAX_VALUE + " bytes/second");
            }
        }
        if (arguments.has("downtime-limit")) {
            long millis = arguments.integer("downtime-limit");
            if (millis <= 0 || millis > 2_000_000) { // QEMU's MAX_MIGRATE_DOWNTIME in ms; 0 has no meaning here
                throw QmpException.generic("Parameter 'downtime_limit' expects an integer in the range of 1 to 2000000 "
                        + "milliseconds");
            }
            downtime = Duration.ofMillis(millis);
        }
        Integer level = null;
        if (arguments.has("compress-level")) {
            long value = arguments.integer("compress-level");
            if (value < -7 || value > 22) {
                throw QmpException.generic("Parameter 'compress_level' expects a zstd level, -7 to 22");
            }
            if (outgoing.status().isActive()) {
                throw QmpException.generic("compress-level cannot be changed while a migration is active");
            }
            level = (int) value;
        }
        for (Map.Entry<String, Integer> fixed : Map.of("cpu-throttle-initial", AutoConverge.INITIAL,
                "cpu-throttle-increment", AutoConverge.INCREMENT, "max-cpu-throttle", AutoConverge.MAX,
                "throttle-trigger-threshold", AutoConverge.TRIGGER_PERCENT).entrySet()) {
            if (arguments.has(fixed.getKey()) && arguments.integer(fixed.getKey()) != fixed.getValue()) {
                throw QmpException.generic("Parameter '" + fixed.getKey() + "' is fixed at " + fixed.getValue()
                        + " in vm-migrate");
            }
        }
        Integer channels = null;
        if (arguments.has("multifd-channels")) {
            long value = arguments.integer("multifd-channels");
            if (value < 1 || value > IncomingMultifd.MAX_CHANNELS) { // QEMU's migrate_params_check
                throw QmpException.generic("Parameter 'multifd_channels' expects a value between 1 and "
                        + IncomingMultifd.MAX_CHANNELS);
            }
            if (outgoing.status().isActive()) {
                throw QmpException.generic("There's a migration process in progress");
            }
            channels = (int) value;
        }
        MultifdCompressionParameters compression = null;
        if (arguments.has("multifd-compression") || arguments.has("multifd-zlib-level")
                || arguments.has("multifd-zstd-level")) {
            MultifdCompressionParameters now = outgoing.multifdCompression();
            try {
                compression = new MultifdCompressionParameters(
                        arguments.has("multifd-compression")
                                ? MultifdCompression.fromQemuName(arguments.string("multifd-compression"))
                                : now.method(),
                        level(arguments, "multifd-zlib-level", now.zlibLevel()),
                        level(arguments, "multifd-zstd-level", now.zstdLevel()));
            } catch (IllegalArgumentException e) {
                throw QmpException.generic(e.getMessage());
            }
            if (outgoing.status().isActive()) {
                throw QmpException.generic("There's a migration process in progress");
            }
        }
        long cacheSize = arguments.has("xbzrle-cache-size") ? arguments.integer("xbzrle-cache-size") : -1;
        if (cacheSize >= 0) {
            setCacheSize(cacheSize);
        }
        outgoing.setParameters(new MigrationParameters(bandwidth == 0 ? MigrationParameters.UNLIMITED : bandwidth,
                downtime, current.timeout()));
        if (channels != null) {
            outgoing.setMultifdChannels(channels);
        }
        if (compression != null) {
            outgoing.setMultifdCompression(compression);
        }
        if (level != null) {
            MigrationCapabilities caps = outgoing.capabilities();
            outgoing.setCapabilities(new MigrationCapabilities(caps.enabled(), caps.xbzrleCacheSize(), level));
        }
        return json.createObjectNode();
    }

    private JsonNode setCacheSize(long bytes) throws QmpException {
        vm.outgoing().setXbzrleCacheSize(bytes);
        return json.createObjectNode();
    }

    /** QEMU's migrate: returns at once; the MIGRATION events and query-migrate tell the rest. */
    private JsonNode migrate(QmpArguments arguments) throws QmpException {
        if (arguments.bool("blk", false) || arguments.bool("inc", false)) {
            throw QmpException.generic("block migration through QMP is not supported by vm-migrate (use send "
                    + "--copy-storage)");
        }
        if (arguments.bool("resume", false)) {
            // vm-migrate's source resumes a paused postcopy by itself, within send --reconnect's window.
            throw QmpException.generic("migrate resume is not taken: a paused postcopy migration resumes by itself "
                    + "within send --reconnect's window");
        }
        MigrationUri target = MigrationUri.parse(arguments.string("uri"));
        if (!vm.migrate(target)) {
            throw QmpException.generic(vm.outgoing().error());
        }
        return json.createObjectNode();
    }

    /**
     * The level {@code name} sets, or {@code current} when the request leaves it out; a value
     * beyond an int stays beyond the bounds MultifdCompressionParameters checks.
     */
    private static int level(QmpArguments arguments, String name, int current) throws QmpException {
        return arguments.has(name)
                ? Math.clamp(arguments.integer(name), Integer.MIN_VALUE, Integer.MAX_VALUE) : current;
    }
}
