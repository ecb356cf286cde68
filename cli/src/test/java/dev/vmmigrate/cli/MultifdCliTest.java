package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** receive's --capability multifd and --multifd-channels: what is refused as bad usage (exit 2). */
class MultifdCliTest {
    @TempDir
    Path dir;

    @Test
    void anotherCapabilityIsRefused() {
        assertUsage("--capability xbzrle: receive takes only multifd", "receive", "tcp:127.0.0.1:0",
                "--capability", "xbzrle");
        assertUsage("--capability multifd=maybe: state must be on or off", "receive", "tcp:127.0.0.1:0",
                "--capability", "multifd=maybe");
    }

    @Test
    void channelsNeedTheCapabilityAndAFittingCount() {
        assertUsage("--multifd-channels needs --capability multifd", "receive", "tcp:127.0.0.1:0",
                "--multifd-channels", "4");
        assertUsage("--multifd-channels 0: must be 1 to 255", "receive", "tcp:127.0.0.1:0",
                "--capability", "multifd", "--multifd-channels", "0");
        assertUsage("--multifd-channels needs --capability multifd", "receive", "tcp:127.0.0.1:0",
                "--capability", "multifd", "--multifd-channels", "4", "--capability", "multifd=off"); // the last wins
    }

    @Test
    void aTransportWithOneConnectionIsRefused() throws Exception {
        java.nio.file.Files.write(dir.resolve("stream"), new byte[] {'Q', 'E', 'V', 'M'});
        assertUsage("--capability multifd needs a tcp: or unix: URI without --tls-creds", "receive",
                "file:" + dir.resolve("stream"), "--capability", "multifd");
    }

    private void assertUsage(String expected, String... args) {
        CliProcess.Result result = CliProcess.run(dir, args);
        assertEquals(2, result.exitCode(), result.describe());
        assertTrue(result.stderr().contains(expected), result.describe());
    }
}
