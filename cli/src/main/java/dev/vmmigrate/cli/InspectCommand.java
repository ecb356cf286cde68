package dev.vmmigrate.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.vmmigrate.inspect.StreamInspector;
import dev.vmmigrate.inspect.StreamReport;
import dev.vmmigrate.migration.StreamDigestCheck;
import dev.vmmigrate.ownsections.IntegrityDigest;
import dev.vmmigrate.stream.StreamText;
import dev.vmmigrate.ram.RamBlockSummary;
import dev.vmmigrate.units.Units;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code vm-migrate inspect FILE}: what a stream file holds, ours or QEMU's. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Read a migration stream file (written by vm-migrate or by QEMU) and print its header, "
                + "configuration, sections, RAM summary, block-migration chunk counts and device fields decoded "
                + "through the stream's vmdesc."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:The stream was read whole (and its vm-migrate/digest, if any, matches).",
            "1:The file could not be read (I/O error).",
            "2:Bad usage, no such file, or a malformed stream (the message names the byte offset).",
            "4:The stream's vm-migrate/digest does not match what it loads to (receive would refuse it)."})
final class InspectCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "The stream file.")
    Path file;

    @Option(names = "--json", description = "Print the report as one JSON document on stdout.")
    boolean json;

    @Option(names = "--extract", paramLabel = "DIR",
            description = "Write each RAM block to DIR/<block>.ram (created if missing).")
    Path extractDir;

    @Mixin
    MaxRamOptions maxRam;

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(file)) {
            throw new CliFailure(ExitCode.USAGE, "no such stream file: " + file);
        }
        if (extractDir != null) {
            Files.createDirectories(extractDir);
        }
        long limit = maxRam.bytes();
        StreamReport report = new StreamInspector(extractDir, limit).inspect(file);
        String digest = checkDigest(report, limit);
        PrintStream out = System.out;
        if (json) {
            ObjectMapper mapper = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
            com.fasterxml.jackson.databind.node.ObjectNode tree = mapper.valueToTree(report);
            tree.put("digest", digest);
            out.println(mapper.writeValueAsString(tree));
        } else {
            printText(report, out);
            out.printf("digest: %s%n", digest);
        }
        out.flush();
        return ExitCode.OK;
    }

    /**
     * Checks the stream's vm-migrate/digest as receive does: "verified", "none" (QEMU's streams
     * carry none), or "not checked (why)"; a mismatch ends inspect with exit 4.
     */
    private String checkDigest(StreamReport report, long limit) throws java.io.IOException {
        java.util.Set<String> names = new java.util.HashSet<>();
        report.sections().forEach(s -> names.add(s.name()));
        return switch (StreamDigestCheck.check(file, names, limit)) {
            case StreamDigestCheck.Verdict.Absent a -> "none";
            case StreamDigestCheck.Verdict.Verified v -> "verified (" + IntegrityDigest.IDSTR + ")";
            case StreamDigestCheck.Verdict.NotChecked n -> "not checked (" + n.why() + ")";
            case StreamDigestCheck.Verdict.Mismatch m ->
                    throw new CliFailure(ExitCode.VERIFICATION, "verification failed: " + m.what());
        };
    }

    private void printText(StreamReport report, PrintStream out) {
        out.printf("stream: %s, %d bytes, QEMU migration stream version %d%n", file, report.sizeBytes(), report.version());
        out.printf("machine: %s%n", StreamText.escape(report.machineType()));
        if (!report.capabilities().isEmpty()) {
            out.printf("capabilities: %s%n", String.join(", ",
                    report.capabilities().stream().map(StreamText::escape).toList()));
        }
        out.printf("sections: %d%n", report.sections().size());
        out.printf("  %-10s %-7s %4s  %-28s %4s %4s %10s%n", "offset", "type", "id", "name", "inst", "ver", "bytes");
        for (StreamReport.Section s : report.sections()) {
            out.printf("  %-10d %-7s %4s  %-28s %4s %4s %10d%s%n", s.offset(), s.type(), orDash(s.sectionId()),
                    StreamText.escape(s.name()),
                    orDash(s.instanceId()), orDash(s.version()), s.bytes(),
                    s.parts() == null ? "" : "  (" + s.parts() + " parts)");
        }
        out.println("ram blocks:");
        for (RamBlockSummary b : report.ram()) {
            out.printf("  %-28s %12d bytes (%s): %d normal pages, %d zero pages%n", StreamText.escape(b.id()), b.length(),
                    Units.formatSize(b.length()), b.normalPages(), b.zeroPages());
        }
        if (report.block() != null) {
            out.printf("block: %d data chunks, %d zero chunks of 1 MiB%n", report.block().dataChunks(),
                    report.block().zeroChunks());
            report.block().chunks().forEach((device, count) -> out.printf("  %-28s %d chunk records%n",
                    StreamText.escape(device), count));
        }
        if (extractDir != null) {
            out.printf("extracted RAM to %s%n", extractDir);
        }
        out.printf("vmdesc: %d bytes%n", report.vmdescBytes());
        out.println("devices:");
        for (StreamReport.Section s : report.sections()) {
            if (s.fields() == null) {
                continue;
            }
            out.printf("  %s (instance %d, version %d)%n", StreamText.escape(s.name()), s.instanceId(), s.version());
            printFields(out, s.fields(), "    ");
        }
    }

    /** COMMAND sections have no id, instance or version. */
    private static String orDash(Integer value) {
        return value == null ? "-" : value.toString();
    }

    private static void printFields(PrintStream out, com.fasterxml.jackson.databind.JsonNode node, String indent) {
        for (Iterator<Map.Entry<String, com.fasterxml.jackson.databind.JsonNode>> it = node.fields(); it.hasNext(); ) {
            Map.Entry<String, com.fasterxml.jackson.databind.JsonNode> field = it.next();
            if (field.getValue().isObject()) {
                out.printf("%s%s:%n", indent, StreamText.escape(field.getKey()));
                printFields(out, field.getValue(), indent + "  ");
            } else {
                String value = StreamText.escape(field.getValue().toString());
                out.printf("%s%s = %s%n", indent, StreamText.escape(field.getKey()), value);
            }
        }
    }
}
