package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

/**
 * What opens every stream: magic, version and the configuration section naming the machine type
 * (QEMU's vmstate "configuration", with its optional capabilities and uuid subsections).
 *
 * @param machineType e.g. {@code none} or {@code pc-i440fx-7.2}
 * @param capabilities migration capabilities the source declared (the configuration/capabilities subsection)
 */
public record StreamPreamble(String machineType, List<String> capabilities) {
    public static final int MAGIC = 0x5145564d;
    public static final int VERSION = 3;
    /** What a multifd channel starts with instead (MULTIFD_MAGIC in QEMU's multifd.c). */
    public static final int MULTIFD_MAGIC = 0x11223344;

    /** What a TLS client's first record starts with: content type 22 (handshake), version 3.x. */
    private static final int TLS_HANDSHAKE_RECORD = 0x16030000;
    /** Where the machine type name starts: after magic, version, the 0x07 byte and its length. */
    public static final long MACHINE_NAME_OFFSET = 13;
    /** Bounds a configuration's machine name: QEMU's are short, so a huge value means corruption. */
    private static final int MAX_MACHINE_NAME = 256;
    private static final String CAPABILITIES_SUBSECTION = "configuration/capabilities";
    private static final String UUID_SUBSECTION = "configuration/uuid";

    public StreamPreamble {
        capabilities = List.copyOf(capabilities);
    }

    public StreamPreamble(String machineType) {
        this(machineType, List.of());
    }

    public void write(MigrationOutput out) throws IOException {
        out.putBe32(MAGIC);
        out.putBe32(VERSION);
        out.putU8(SectionType.CONFIGURATION.code());
        byte[] name = machineType.getBytes(StandardCharsets.UTF_8);
        out.putBe32(name.length);
        out.putBytes(name);
        if (!capabilities.isEmpty()) {
            out.putU8(SectionType.SUBSECTION.code());
            out.putCountedString(CAPABILITIES_SUBSECTION);
            out.putBe32(1);
            out.putBe32(capabilities.size());
            for (String capability : capabilities) {
                out.putCountedString(capability);
            }
        }
    }

    /** The preamble at the start of {@code head} (bytes peeked at a stream), or empty when it does not parse. */
    public static java.util.Optional<StreamPreamble> peek(byte[] head) {
        try {
            return java.util.Optional.of(read(MigrationInput.of(head)));
        } catch (IOException e) {
            return java.util.Optional.empty(); // the load itself will say what is wrong
        }
    }

    public static StreamPreamble read(MigrationInput in) throws IOException {
        long at = in.position();
        int magic = in.readBe32();
        if (magic == MULTIFD_MAGIC) {
            throw new StreamFormatException(String.format("this is one of QEMU's multifd channels (magic 0x%08x), "
                    + "not its main stream: receive with --capability multifd to take multifd channels beside it", magic), at);
        }
        if ((magic & 0xffff0000) == TLS_HANDSHAKE_RECORD) {
            throw new StreamFormatException(String.format("the source uses TLS (QEMU's tls-creds) and this end "
                    + "does not: a TLS handshake (0x%08x) instead of QEMU's magic", magic), at);
        }
        if (magic != MAGIC) {
            throw new StreamFormatException(String.format(
                    "not a QEMU migration stream: magic 0x%08x, expected 0x%08x (\"QEVM\")", magic, MAGIC), at);
        }
        at = in.position();
        int version = in.readBe32();
        if (version != VERSION) {
            throw new StreamFormatException("unsupported stream version " + version + ", expected " + VERSION, at);
        }
        at = in.position();
        int type = in.readU8();
        if (type != SectionType.CONFIGURATION.code()) {
            throw new StreamFormatException(String.format(
                    "expected the configuration section (0x07) after the header, found 0x%02x", type), at);
        }
        at = in.position();
        int length = in.readBe32();
        if (length < 0 || length > MAX_MACHINE_NAME) {
            throw new StreamFormatException("machine type name of " + Integer.toUnsignedString(length)
                    + " bytes in the configuration section (at most " + MAX_MACHINE_NAME + ")", at);
        }
        String machine = new String(in.readBytes(length), StandardCharsets.UTF_8);
        List<String> capabilities = new ArrayList<>();
        while (in.peekU8() == SectionType.SUBSECTION.code()) {
            readSubsection(in, capabilities);
        }
        return new StreamPreamble(machine, capabilities);
    }

    private static void readSubsection(MigrationInput in, List<String> capabilities) throws IOException {
        in.readU8();
        long at = in.position();
        String name = in.readCountedString();
        in.readBe32(); // subsection version: both known subsections are version 1
        switch (name) {
            case CAPABILITIES_SUBSECTION -> {
                long countAt = in.position();
                int count = in.readBe32();
                if (count < 0 || count > 256) {
                    throw new StreamFormatException("configuration lists " + Integer.toUnsignedString(count)
                            + " capabilities", countAt);
                }
                for (int i = 0; i < count; i++) {
                    capabilities.add(in.readCountedString());
                }
            }
            case UUID_SUBSECTION -> in.skip(16);
            default -> throw new StreamFormatException("unknown configuration subsection " + StreamText.quote(name) + "", at);
        }
    }
}
