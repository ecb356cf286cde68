package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;

import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** Rates are shown in the binary prefix --max-bandwidth was typed with. */
class RateUnitTest {
    @Test
    void theTypedPrefixNamesTheUnit() {
        assertEquals(RateUnit.KIB_PER_S, RateUnit.of("512K/s"));
        assertEquals(RateUnit.MIB_PER_S, RateUnit.of("128M/s"));
        assertEquals(RateUnit.GIB_PER_S, RateUnit.of("1G"));
        assertEquals(RateUnit.GIB_PER_S, RateUnit.of("2GiB/s"));
        assertEquals(RateUnit.TIB_PER_S, RateUnit.of("1tb/s"));
    }

    @Test
    void noPrefixMeansMibPerSecond() {
        assertEquals(RateUnit.MIB_PER_S, RateUnit.of("unlimited"));
        assertEquals(RateUnit.MIB_PER_S, RateUnit.of("0"));
        assertEquals(RateUnit.MIB_PER_S, RateUnit.of("134217728"));
        assertEquals(RateUnit.MIB_PER_S, RateUnit.of(null));
    }

    @Test
    void oneDecimalBelowAHundred() {
        assertEquals("99.9 MiB/s", RateUnit.MIB_PER_S.format(99.9 * (1 << 20)));
        assertEquals("100 MiB/s", RateUnit.MIB_PER_S.format(99.96 * (1 << 20)));
        assertEquals("0.5 GiB/s", RateUnit.GIB_PER_S.format(1 << 29));
    }

    @Test
    void theCommandLineGivesTheUnit() {
        assertEquals(RateUnit.GIB_PER_S, outputOptionsOf("send", "tcp:127.0.0.1:1", "--max-bandwidth", "1G/s").rateUnit());
        assertEquals(RateUnit.KIB_PER_S, outputOptionsOf("demo", "--max-bandwidth", "900K").rateUnit());
        // The default, 128M/s, as the help shows it.
        assertEquals(RateUnit.MIB_PER_S, outputOptionsOf("send", "tcp:127.0.0.1:1").rateUnit());
        assertEquals(RateUnit.MIB_PER_S, outputOptionsOf("receive", "tcp:127.0.0.1:0").rateUnit());
    }

    private static OutputOptions outputOptionsOf(String... args) {
        CommandLine top = VmMigrate.commandLine();
        CommandLine.ParseResult parsed = top.parseArgs(args);
        Object command = parsed.subcommand().commandSpec().userObject();
        return switch (command) {
            case SendCommand send -> send.outputOptions;
            case DemoCommand demo -> demo.outputOptions;
            case ReceiveCommand receive -> receive.outputOptions;
            default -> throw new AssertionError(command);
        };
    }
}
