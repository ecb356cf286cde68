package dev.vmmigrate.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.vmmigrate.qmp.Qmp;
import dev.vmmigrate.qmp.QmpException;
import dev.vmmigrate.units.Units;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/**
 * The monitor's commands, named and shaped as QEMU's HMP (hmp-cmds.c): each one runs the QMP
 * command it stands for and prints the reply in HMP's layout, so the monitor and the QMP socket
 * can never disagree.
 */
final class HmpCommands {
    /** Command, arguments, what it does: the help text, and the names tab completion offers. */
    static final List<String[]> HELP = List.of(
            new String[] {"info migrate", "", "show migration status"},
            new String[] {"info migrate_capabilities", "", "show current migration capabilities"},
            new String[] {"info migrate_parameters", "", "show current migration parameters"},
            new String[] {"info migrate_cache_size", "", "show the XBZRLE cache size"},
            new String[] {"info status", "", "show the current VM status (running|paused)"},
            new String[] {"migrate_set_capability", "NAME on|off", "enable or disable a migration capability"},
            new String[] {"migrate_set_parameter", "NAME VALUE", "set a migration parameter (sizes take K/M/G)"},
            new String[] {"migrate", "[-d] URI", "migrate the VM to URI (-d: do not wait for it to end)"},
            new String[] {"migrate_cancel", "", "cancel the current migration"},
            new String[] {"migrate_start_postcopy", "", "switch the current migration to postcopy (needs postcopy-ram)"},
            new String[] {"stop", "", "stop the VM"},
            new String[] {"cont", "", "resume the VM"},
            new String[] {"help", "", "list the commands"},
            new String[] {"quit", "", "quit vm-migrate (a migration in flight is cancelled)"});

    /** The parameters migrate_set_parameter takes, and how their values read. */
    static final Map<String, String> PARAMETERS = Map.of("max-bandwidth", "size", "downtime-limit", "ms",
            "xbzrle-cache-size", "size", "compress-level", "int", "multifd-channels", "int", "multifd-compression",
            "name", "multifd-zlib-level", "int", "multifd-zstd-level", "int");

    private final Qmp qmp;
    /** Waits for a migration started without -d to end; returns its final status. */
    private final Supplier<String> awaitMigration;

    HmpCommands(Qmp qmp, Supplier<String> awaitMigration) {
        this.qmp = qmp;
        this.awaitMigration = awaitMigration;
    }

    /** Runs one command line; returns what to print (may be empty), errors included, as HMP prints them. */
    String run(String line) {
        String[] words = line.trim().split("\\s+");
        if (words.length == 0 || words[0].isEmpty()) {
            return "";
        }
        try {
            return switch (words[0]) {
                case "info" -> info(words);
                case "migrate_set_capability" -> {
                    expect(words, 3, "migrate_set_capability NAME on|off");
                    if (!words[2].equals("on") && !words[2].equals("off")) {
                        yield "Error: state must be on or off, not '" + words[2] + "'";
                    }
                    ObjectNode args = qmp.arguments();
                    args.putArray("capabilities").addObject().put("capability", words[1]).put("state", words[2].equals("on"));
                    qmp.execute("migrate-set-capabilities", args);
                    yield "";
                }
                case "migrate_set_parameter" -> {
                    expect(words, 3, "migrate_set_parameter NAME VALUE");
                    qmp.execute("migrate-set-parameters", parameter(words[1], words[2]));
                    yield "";
                }
                case "migrate" -> migrate(words);
                case "migrate_cancel", "stop", "cont", "quit" -> {
                    expect(words, 1, words[0]);
                    qmp.execute(words[0], null);
                    yield "";
                }
                case "migrate_start_postcopy" -> {
                    expect(words, 1, words[0]);
                    qmp.execute("migrate-start-postcopy", null);
                    yield "";
                }
                case "help", "?" -> help();
                default -> "unknown command: '" + words[0] + "' (help lists the commands)";
            };
        } catch (QmpException | IllegalArgumentException e) {
            return "Error: " + e.getMessage();
        }
    }

    private static void expect(String[] words, int count, String usage) {
        if (words.length != count) {
            throw new IllegalArgumentException("usage: " + usage);
        }
    }

    private ObjectNode parameter(String name, String value) {
        String kind = PARAMETERS.get(name);
        if (kind == null) {
            throw new IllegalArgumentException("unknown parameter '" + name + "' (valid: "
                    + String.join(", ", PARAMETERS.keySet().stream().sorted().toList()) + ")");
        }
        ObjectNode args = qmp.arguments();
        switch (kind) {
            case "size" -> args.put(name, Units.parseSize(value));
            case "name" -> args.put(name, value);
            case "ms" -> args.put(name, value.matches("\\d+") ? Long.parseLong(value) : Units.parseDuration(value).toMillis());
            default -> {
                try {
                    args.put(name, Integer.parseInt(value));
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(name + " takes a whole number, not '" + value + "'");
                }
            }
        }
        return args;
    }

    private String migrate(String[] words) throws QmpException {
        boolean detach = words.length == 3 && words[1].equals("-d");
        if (words.length != (detach ? 3 : 2)) {
            throw new IllegalArgumentException("usage: migrate [-d] URI");
        }
        ObjectNode args = qmp.arguments().put("uri", words[words.length - 1]);
        qmp.execute("migrate", args);
        return detach ? "" : "migration " + awaitMigration.get();
    }

    private String info(String[] words) throws QmpException {
        if (words.length != 2) {
            return "usage: info migrate|migrate_capabilities|migrate_parameters|migrate_cache_size|status";
        }
        return switch (words[1]) {
            case "migrate" -> infoMigrate(qmp.execute("query-migrate", null));
            case "migrate_capabilities" -> {
                StringBuilder text = new StringBuilder();
                for (JsonNode capability : qmp.execute("query-migrate-capabilities", null)) {
                    text.append(capability.get("capability").asText()).append(": ")
                            .append(capability.get("state").asBoolean() ? "on" : "off").append('\n');
                }
                yield text.toString();
            }
            case "migrate_parameters" -> infoParameters(qmp.execute("query-migrate-parameters", null));
            case "migrate_cache_size" -> "xbzrle cache size: " + (qmp.execute("query-migrate-cache-size", null).asLong() >> 10)
                    + " kbytes\n";
            case "status" -> {
                JsonNode status = qmp.execute("query-status", null);
                String state = status.get("status").asText();
                yield "VM status: " + (status.get("running").asBoolean() ? "running"
                        : "paused" + (state.equals("paused") ? "" : " (" + state + ")")) + "\n";
            }
            default -> "unknown info command: '" + words[1] + "'";
        };
    }

    /** QEMU 7.2's hmp_info_migrate layout, for the members the reply has. */
    static String infoMigrate(JsonNode info) {
        StringBuilder text = new StringBuilder();
        if (!info.has("status")) {
            return "";
        }
        text.append("Migration status: ").append(info.get("status").asText());
        if (info.has("error-desc")) {
            text.append(" (").append(info.get("error-desc").asText()).append(')');
        }
        text.append('\n');
        line(text, info, "total-time", "total time: %d ms");
        line(text, info, "expected-downtime", "expected downtime: %d ms");
        line(text, info, "downtime", "downtime: %d ms");
        line(text, info, "setup-time", "setup: %d ms");
        JsonNode ram = info.get("ram");
        if (ram != null) {
            text.append(String.format("transferred ram: %d kbytes%n", ram.get("transferred").asLong() >> 10));
            text.append(String.format("throughput: %.2f mbps%n", ram.get("mbps").asDouble()));
            text.append(String.format("remaining ram: %d kbytes%n", ram.get("remaining").asLong() >> 10));
            text.append(String.format("total ram: %d kbytes%n", ram.get("total").asLong() >> 10));
            text.append(String.format("duplicate: %d pages%n", ram.get("duplicate").asLong()));
            text.append(String.format("skipped: %d pages%n", ram.get("skipped").asLong()));
            text.append(String.format("normal: %d pages%n", ram.get("normal").asLong()));
            text.append(String.format("normal bytes: %d kbytes%n", ram.get("normal-bytes").asLong() >> 10));
            text.append(String.format("dirty sync count: %d%n", ram.get("dirty-sync-count").asLong()));
            text.append(String.format("page size: %d kbytes%n", ram.get("page-size").asLong() >> 10));
            text.append(String.format("pages-per-second: %d%n", ram.get("pages-per-second").asLong()));
            if (ram.get("precopy-bytes").asLong() != 0) {
                text.append(String.format("precopy ram: %d kbytes%n", ram.get("precopy-bytes").asLong() >> 10));
            }
            if (ram.get("downtime-bytes").asLong() != 0) {
                text.append(String.format("downtime ram: %d kbytes%n", ram.get("downtime-bytes").asLong() >> 10));
            }
            if (ram.get("dirty-pages-rate").asLong() != 0) {
                text.append(String.format("dirty pages rate: %d pages%n", ram.get("dirty-pages-rate").asLong()));
            }
        }
        JsonNode disk = info.get("disk");
        if (disk != null) {
            text.append(String.format("transferred disk: %d kbytes%nremaining disk: %d kbytes%ntotal disk: %d kbytes%n",
                    disk.get("transferred").asLong() >> 10, disk.get("remaining").asLong() >> 10,
                    disk.get("total").asLong() >> 10));
        }
        JsonNode xbzrle = info.get("xbzrle-cache");
        if (xbzrle != null) {
            text.append(String.format("cache size: %d bytes%nxbzrle transferred: %d kbytes%nxbzrle pages: %d pages%n"
                            + "xbzrle cache miss: %d pages%nxbzrle cache miss rate: %.2f%nxbzrle encoding rate: %.2f%n"
                            + "xbzrle overflow: %d%n",
                    xbzrle.get("cache-size").asLong(), xbzrle.get("bytes").asLong() >> 10, xbzrle.get("pages").asLong(),
                    xbzrle.get("cache-miss").asLong(), xbzrle.get("cache-miss-rate").asDouble(),
                    xbzrle.get("encoding-rate").asDouble(), xbzrle.get("overflow").asLong()));
        }
        line(text, info, "cpu-throttle-percentage", "cpu throttle percentage: %d");
        return text.toString();
    }

    private static void line(StringBuilder text, JsonNode info, String member, String format) {
        if (info.has(member)) {
            text.append(String.format(format, info.get(member).asLong())).append('\n');
        }
    }

    /** QEMU 7.2's hmp_info_migrate_parameters units. */
    private static String infoParameters(JsonNode parameters) {
        Map<String, String> units = Map.of("max-bandwidth", " bytes/second", "downtime-limit", " ms",
                "xbzrle-cache-size", " bytes");
        StringBuilder text = new StringBuilder();
        parameters.fieldNames().forEachRemaining(name -> text.append(name).append(": ")
                .append(parameters.get(name).asText()).append(units.getOrDefault(name, "")).append('\n'));
        return text.toString();
    }

    private static String help() {
        StringBuilder text = new StringBuilder();
        for (String[] command : HELP) {
            text.append(String.format("%-40s -- %s%n", command[0] + (command[1].isEmpty() ? "" : " " + command[1]),
                    command[2]));
        }
        return text.toString();
    }
}
