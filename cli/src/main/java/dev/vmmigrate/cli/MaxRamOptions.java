package dev.vmmigrate.cli;

import dev.vmmigrate.ram.RamLimit;
import picocli.CommandLine.Option;

/** --max-ram, shared by receive and inspect: how much RAM a stream may claim before anything is allocated. */
final class MaxRamOptions {
    @Option(names = "--max-ram", paramLabel = "SIZE", converter = UnitConverters.Size.class,
            description = "The most RAM a stream may announce in all where the stream sizes what is allocated or "
                    + "written (receive without --ram, a new --ram-file, a held VM; inspect --extract and its digest "
                    + "check) (K/M/G/T); a larger claim is refused before anything is allocated or written. "
                    + "Default: this host's physical memory.")
    Long maxRam;

    long bytes() {
        return maxRam != null ? maxRam : RamLimit.hostMemory();
    }
}
