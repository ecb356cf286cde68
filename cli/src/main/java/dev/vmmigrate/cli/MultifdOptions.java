package dev.vmmigrate.cli;

import dev.vmmigrate.multifd.IncomingMultifd;
import dev.vmmigrate.transport.IncomingEndpoint;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import picocli.CommandLine.Option;

/**
 * receive's --capability multifd and --multifd-channels, as QEMU's destination needs
 * migrate-set-capabilities multifd and migrate-set-parameters multifd-channels: QEMU's stream does
 * not say that the source uses multifd (7.2's main stream has no trace of it), and the receiver
 * must know how many channels to wait for at each sync point, or a channel still being accepted
 * could be passed over and its pages written after newer ones. multifd-compression needs no
 * option, unlike QEMU's destination: every packet's flags name its method (ChannelLoader).
 */
final class MultifdOptions {
    @Option(names = "--capability", paramLabel = "multifd[=on|off]",
            description = "multifd: take QEMU's multifd channels (extra connections to URI that carry RAM pages "
                    + "beside the main stream; tcp: and unix:), with QEMU's multifd-compression none, zstd or zlib: "
                    + "the method comes from each packet, nothing to set here. The only capability receive takes; "
                    + "the source must have it on too.")
    List<String> capabilities = new ArrayList<>();

    @Option(names = "--multifd-channels", paramLabel = "N",
            description = "How many multifd channels the source opens (QEMU's multifd-channels, which must be the "
                    + "same on both sides); 1 to 255, default " + IncomingMultifd.DEFAULT_CHANNELS + ".")
    Integer channels;

    /** Whether --capability multifd is on (the last setting wins). */
    boolean enabled() {
        boolean on = false;
        for (String option : capabilities) {
            String[] parts = option.split("=", 2);
            if (!parts[0].equals("multifd")) {
                throw new CliFailure(ExitCode.USAGE, "--capability " + option + ": receive takes only multifd "
                        + "(the source's other capabilities need nothing on this side)");
            }
            String state = parts.length == 2 ? parts[1] : "on";
            switch (state) {
                case "on" -> on = true;
                case "off" -> on = false;
                default -> throw new CliFailure(ExitCode.USAGE, "--capability " + option + ": state must be on or off");
            }
        }
        if (channels != null && (channels < 1 || channels > IncomingMultifd.MAX_CHANNELS)) {
            throw new CliFailure(ExitCode.USAGE, "--multifd-channels " + channels + ": must be 1 to "
                    + IncomingMultifd.MAX_CHANNELS);
        }
        if (channels != null && !on) {
            throw new CliFailure(ExitCode.USAGE, "--multifd-channels needs --capability multifd");
        }
        return on;
    }

    /**
     * The channels' receiver, handed every multifd connection {@code endpoint} accepts from now on;
     * null without --capability multifd. Call before the endpoint accepts the migration.
     */
    IncomingMultifd open(IncomingEndpoint endpoint, String uri, Consumer<String> notices) {
        if (!enabled()) {
            return null;
        }
        IncomingMultifd multifd = new IncomingMultifd(channels == null ? IncomingMultifd.DEFAULT_CHANNELS : channels,
                notices);
        if (!endpoint.handOverMultifdChannels(multifd::offer)) {
            throw new CliFailure(ExitCode.USAGE, "--capability multifd needs a tcp: or unix: URI without --tls-creds "
                    + "(" + uri + " has one connection)");
        }
        return multifd;
    }
}
