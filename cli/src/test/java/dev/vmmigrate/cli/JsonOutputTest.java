package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** --json is JSON only: every stderr line parses, errors are QMP's {"error": ...}, progress comes as snapshots. */
class JsonOutputTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    private static List<JsonNode> lines(CliProcess.Result result) throws Exception {
        List<JsonNode> lines = new ArrayList<>();
        for (String line : result.stderrLines()) {
            lines.add(JSON.readTree(line)); // throws on any line that is not JSON
        }
        return lines;
    }

    @Test
    void errorsAreJsonToo() throws Exception {
        CliProcess.Result usage = CliProcess.run(dir, "send", "tcp:127.0.0.1:1", "--json", "--max-bandwith", "1M");
        assertEquals(ExitCode.USAGE, usage.exitCode(), usage.describe());
        List<JsonNode> usageLines = lines(usage);
        assertEquals(1, usageLines.size(), usage.describe());
        assertEquals("GenericError", usageLines.getFirst().at("/error/class").asText());
        assertTrue(usageLines.getFirst().at("/error/desc").asText().contains("Did you mean: --max-bandwidth?"),
                usage.describe());

        CliProcess.Result refused = CliProcess.run(dir, "send", "tcp:127.0.0.1:1", "--ram", "4M", "--json");
        assertEquals(ExitCode.FAILED, refused.exitCode(), refused.describe());
        assertEquals("failed", lines(refused).getLast().at("/return/status").asText(), refused.describe());
    }

    @Test
    void listeningAddressAndProgressSnapshots() throws Exception {
        try (CliProcess receive = CliProcess.start(dir, "receive", "tcp:127.0.0.1:0", "--run-for", "0", "--json")) {
            String port = receive.awaitStderr(Pattern.compile("\"port\":(\\d+)"));
            CliProcess.Result sent = CliProcess.run(dir, "send", "tcp:127.0.0.1:" + port, "--ram", "16M", "--fill",
                    "half_random", "--max-bandwidth", "4M/s", "--json");
            assertEquals(0, sent.exitCode(), sent.describe());
            List<JsonNode> sendLines = lines(sent);
            assertTrue(sendLines.stream().anyMatch(line -> line.path("event").asText().equals("MIGRATION_INFO")
                    && line.at("/data/status").asText().equals("active") && line.at("/data/ram/total").asLong() > 0),
                    "a query-migrate snapshot while active: " + sent.describe());
            assertTrue(sendLines.getLast().has("return"), "the final record comes last: " + sent.describe());
            // QEMU's split of what went before and during the downtime, and the page rate.
            JsonNode ram = sendLines.getLast().at("/return/ram");
            assertTrue(ram.get("precopy-bytes").asLong() > 0 && ram.get("downtime-bytes").asLong() > 0, ram.toString());
            assertEquals(ram.get("transferred").asLong(),
                    ram.get("precopy-bytes").asLong() + ram.get("downtime-bytes").asLong(), ram.toString());
            assertTrue(sendLines.stream().anyMatch(line -> line.at("/data/ram/pages-per-second").asLong() > 0),
                    "pages-per-second while active: " + sent.describe());
            CliProcess.Result received = receive.await();
            JsonNode listening = lines(received).getFirst();
            assertEquals("LISTENING", listening.path("event").asText(), received.describe());
            assertEquals("127.0.0.1", listening.at("/data/host").asText());
            assertEquals(Integer.parseInt(port), listening.at("/data/port").asInt());
        }
    }
}
