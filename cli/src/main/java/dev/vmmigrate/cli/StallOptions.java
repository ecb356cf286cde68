package dev.vmmigrate.cli;

import java.time.Duration;
import picocli.CommandLine.Option;

/** --stall-timeout, shared by send, receive and relay. */
final class StallOptions {
    @Option(names = "--stall-timeout", paramLabel = "DURATION", converter = UnitConverters.PositiveTime.class,
            defaultValue = "30s",
            description = "Fail when the peer moves no bytes for this long: for send, a destination that takes none "
                    + "or sends no verdict at the end (the guest runs on); for receive and relay, a source that "
                    + "sends none (receive also gives up on a commit that does not come). Default: ${DEFAULT-VALUE}.")
    Duration stallTimeout;
}
