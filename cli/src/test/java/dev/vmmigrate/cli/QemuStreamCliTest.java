package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CLI on QEMU 7.2's own streams (core/src/test/resources/qemu-streams, core/src/test/resources/qemu-streams/FACTS.md). */
class QemuStreamCliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** pc-16m's FULL sections, in stream order (facts section 5). */
    private static final List<String> PC_DEVICES = List.of("timer", "slirp", "cpu_common", "cpu", "kvm-tpr-opt",
            "apic", "fw_cfg", "PCIHost", "PCIBUS", "0000:00:00.0/I440FX", "dma", "dma", "0000:00:01.0/PIIX3", "i8259",
            "i8259", "ioapic", "0000:00:02.0/vga", "hpet", "mc146818rtc", "i8254", "pcspk", "serial", "parallel_isa",
            "fdc", "ps2kbd", "ps2mouse", "pckbd", "vmmouse", "port92", "0000:00:03.0/e1000", "0000:00:01.1/ide",
            "i2c_bus", "0000:00:01.3/piix4_pm", "acpi_build", "globalstate");

    @TempDir
    Path dir;

    @Test
    void inspectNone() throws IOException {
        Path stream = QemuTestData.NONE_2M.copyTo(dir);
        CliProcess.Result r = CliProcess.run(dir, "inspect", stream.toString());
        assertEquals(0, r.exitCode(), r.describe());
        String text = r.stdoutText();
        assertTrue(text.contains("machine: none"), text);
        assertTrue(text.contains("1057804 bytes"), text);
        for (String device : List.of("timer", "globalstate")) {
            assertTrue(text.contains(device), device + " in\n" + text);
        }
        assertTrue(text.contains("mem") && text.contains("2097152"), "RAM block mem of 2 MiB in\n" + text);
        assertTrue(text.contains("cpu_ticks_offset") && text.contains("runstate"), "decoded device fields in\n" + text);
    }

    @Test
    void inspectPc() throws IOException {
        Path stream = QemuTestData.PC_16M.copyTo(dir);
        CliProcess.Result r = CliProcess.run(dir, "inspect", stream.toString());
        assertEquals(0, r.exitCode(), r.describe());
        String text = r.stdoutText();
        assertTrue(text.contains("pc-i440fx-7.2"), text);
        for (String device : PC_DEVICES) {
            assertTrue(text.contains(device), device + " in\n" + text);
        }
        for (String block : List.of("mem", "0000:00:02.0/vga.vram", "pc.bios", "/rom@etc/acpi/rsdp")) {
            assertTrue(text.contains(block), "RAM block " + block + " in\n" + text);
        }
    }

    @Test
    void inspectPcJson() throws IOException {
        Path stream = QemuTestData.PC_16M.copyTo(dir);
        CliProcess.Result r = CliProcess.run(dir, "inspect", "--json", stream.toString());
        assertEquals(0, r.exitCode(), r.describe());
        JsonNode report = JSON.readTree(r.stdout());
        assertEquals("pc-i440fx-7.2", report.path("machine").asText(), fieldNames(report));
        JsonNode sections = report.path("sections");
        assertTrue(sections.isArray(), "sections: " + fieldNames(report));
        assertEquals(36, sections.size(), "1 RAM section (START with its PART and END) + 35 FULL device sections");
        assertEquals("ram", sections.get(0).path("name").asText(), sections.get(0).toString());
        List<String> devices = new ArrayList<>();
        for (int i = 1; i < sections.size(); i++) {
            devices.add(sections.get(i).path("name").asText());
        }
        assertEquals(PC_DEVICES, devices);
        assertEquals(9, report.path("ram").size(), "9 RAM blocks: " + report.path("ram"));
        assertEquals(1158245, report.path("size").asLong());
    }

    @Test
    void inspectExtractWritesTheGuestRam() throws IOException {
        for (QemuTestData.Capture capture : List.of(QemuTestData.NONE_2M, QemuTestData.PC_16M)) {
            Path stream = capture.copyTo(dir);
            Path out = dir.resolve("extract-" + capture.file());
            CliProcess.Result r = CliProcess.run(dir, "inspect", "--extract", out.toString(), stream.toString());
            assertEquals(0, r.exitCode(), r.describe());
            Path mem = out.resolve("mem.ram");
            assertTrue(Files.isRegularFile(mem), "mem.ram in " + out + ": " + r.describe());
            QemuTestData.assertSameBytes(capture.ram(), Files.readAllBytes(mem), capture.file() + " mem.ram");
        }
    }

    @Test
    void receiveQemuStreamFromFile() throws IOException {
        Path stream = QemuTestData.NONE_2M.copyTo(dir);
        Path ram = dir.resolve("guest.ram");
        CliProcess.Result r = CliProcess.run(dir, "receive", "file:" + stream, "--ram-id", "mem",
                "--ram-file", ram.toString(), "--run-for", "0");
        assertEquals(0, r.exitCode(), r.describe());
        assertTrue(r.stderr().contains("migration completed"), r.describe());
        QemuTestData.assertSameBytes(QemuTestData.NONE_2M.ram(), Files.readAllBytes(ram), "received RAM file");
    }

    private static String fieldNames(JsonNode node) {
        List<String> names = new ArrayList<>();
        node.fieldNames().forEachRemaining(names::add);
        return "fields " + names;
    }
}
