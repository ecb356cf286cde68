package dev.vmmigrate.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.vmmigrate.inspect.StreamInspector;
import dev.vmmigrate.inspect.StreamReport;
import dev.vmmigrate.ram.RamBlockSummary;
import dev.vmmigrate.units.Units;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code vm-migrate inspect FILE}: what a stream file holds, ours or QEMU's. */
@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = {"Read a migration stream file (written by vm-migrate or by QEMU) and print its header, "
                + "configuration, sections, RAM summary, block-migration chunk counts and device fields decoded "
                + "through the stream's vmdesc."},
        exitCodeListHeading = "%nExit codes:%n",
        exitCodeList = {"0:The stream was read whole.", "1:The file could not be read (I/O error).",
            "2:Bad usage, no such file, or a malformed stream (the message names the byte offset)."})
final class InspectCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "FILE", description = "The stream file.")
    Path file;

    @Option(names = "--json", description = "Print the report as one JSON document on stdout.")
    boolean json;

    @Option(names = "--extract", paramLabel = "DIR",
            description = "Write each RAM block to DIR/<block>.ram (created if missing).")
    Path extractDir;

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(file)) {
            throw new CliFailure(ExitCode.USAGE, "no such stream file: " + file);
        }
        if (extractDir != null) {
            Files.createDirectories(extractDir);
        }
        StreamReport report = new StreamInspector(extractDir).inspect(file);
        PrintStream out = System.out;
        if (json) {
            out.println(new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(report));
        } else {
            printText(report, out);
        }
        out.flush();
        return ExitCode.OK;
    }

    private void printText(StreamReport report, PrintStream out) {
        out.printf("stream: %s, %d bytes, QEMU migration stream version %d%n", file, report.sizeBytes(), report.version());
        out.printf("machine: %s%n", report.machineType());
        if (!report.capabilities().isEmpty()) {
            out.printf("capabilities: %s%n", String.join(", ", report.capabilities()));
        }
        out.printf("sections: %d%n", report.sections().size());
        out.printf("  %-10s %-7s %4s  %-28s %4s %4s %10s%n", "offset", "type", "id", "name", "inst", "ver", "bytes");
        for (StreamReport.Section s : report.sections()) {
            out.printf("  %-10d %-7s %4s  %-28s %4s %4s %10d%s%n", s.offset(), s.type(), orDash(s.sectionId()), s.name(),
                    orDash(s.instanceId()), orDash(s.version()), s.bytes(),
                    s.parts() == null ? "" : "  (" + s.parts() + " parts)");
        }
        out.println("ram blocks:");
        for (RamBlockSummary b : report.ram()) {
            out.printf("  %-28s %12d bytes (%s): %d normal pages, %d zero pages%n", b.id(), b.length(),
                    Units.formatSize(b.length()), b.normalPages(), b.zeroPages());
        }
        if (report.block() != null) {
            out.printf("block: %d data chunks, %d zero chunks of 1 MiB%n", report.block().dataChunks(),
                    report.block().zeroChunks());
            report.block().chunks().forEach((device, count) -> out.printf("  %-28s %d chunk records%n", device, count));
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
            out.printf("  %s (instance %d, version %d)%n", s.name(), s.instanceId(), s.version());
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
                out.printf("%s%s:%n", indent, field.getKey());
                printFields(out, field.getValue(), indent + "  ");
            } else {
                String value = field.getValue().toString();
                if (value.length() > 100) {
                    value = value.substring(0, 97) + "...";
                }
                out.printf("%s%s = %s%n", indent, field.getKey(), value);
            }
        }
    }
}
