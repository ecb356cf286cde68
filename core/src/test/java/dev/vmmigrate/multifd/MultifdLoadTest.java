package dev.vmmigrate.multifd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.migration.IncomingMigration;
import dev.vmmigrate.migration.MachineStreams;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.ram.CapturedStreams;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.BytesConnection;
import dev.vmmigrate.testing.LoadedPageCrcs;
import dev.vmmigrate.testing.ResidentPages;
import java.io.ByteArrayOutputStream;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Real QEMU 7.2 and 10.0 multifd migrations (2 channels, qemu-streams/multifd: machine none,
 * block "mem" of 2 MiB, 40 patterned pages, marked page 300) played back into an incoming
 * migration: the main stream and each channel as a connection of its own.
 */
@org.junit.jupiter.api.Timeout(60)
class MultifdLoadTest {
    private static final long RAM = 2L << 20;
    private static final byte[] EXPECTED = CapturedStreams.generatedRam(RAM, 40, 300);
    /** Where channel 0's first page-carrying packet begins in both captures (after the handshake and a SYNC packet). */
    private static final int FIRST_PAGES_PACKET = MultifdInit.BYTES + MultifdPacket.BYTES;

    private final List<String> notices = new CopyOnWriteArrayList<>();

    @ParameterizedTest
    @ValueSource(strings = {"qemu-7.2", "qemu-10.0"})
    void loadsQemusMultifdMigrationByteForByte(String qemu) throws Throwable {
        try (Guest guest = guest()) {
            Outcome outcome = load(guest, qemu, channel(qemu, 0), channel(qemu, 1));
            assertEquals(MigrationStatus.COMPLETED, outcome.status(), outcome.error());
            assertEquals(nonZeroPages(EXPECTED), ResidentPages.count(guest.ramBlocks().getFirst().memory()),
                    "the load backed each page it wrote (RamBlock.populate) and no zero page");
            assertArrayEquals(EXPECTED, ram(guest));
            LoadedPageCrcs.assertMatchMemory(streams.ram(), guest.ramBlocks());
            assertEquals(List.of(), notices);
        }
    }

    private static long nonZeroPages(byte[] ram) {
        byte[] zero = new byte[TargetPage.SIZE];
        return java.util.stream.IntStream.range(0, ram.length / TargetPage.SIZE)
                .filter(page -> !Arrays.equals(ram, page * TargetPage.SIZE, (page + 1) * TargetPage.SIZE, zero, 0, zero.length))
                .count();
    }

    @Test
    void channelsMayComeAfterTheMainStreamStarted() throws Exception {
        try (Guest guest = guest(); IncomingMultifd multifd = new IncomingMultifd(2, notices::add)) {
            IncomingMigration incoming = MachineStreams.of(guest, false).incoming(guest, true);
            incoming.multifd(multifd);
            incoming.start(new BytesConnection("main", main("qemu-10.0")));
            multifd.handshake(new BytesConnection("channel 1", channel("qemu-10.0", 1)));
            multifd.handshake(new BytesConnection("channel 0", channel("qemu-10.0", 0)));
            assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(), incoming.error());
            assertArrayEquals(EXPECTED, ram(guest));
        }
    }

    @Test
    void strangersAreRefusedWithALineAndTheLoadCompletes() throws Exception {
        try (Guest guest = guest(); IncomingMultifd multifd = new IncomingMultifd(2, notices::add)) {
            IncomingMigration incoming = MachineStreams.of(guest, false).incoming(guest, true);
            incoming.multifd(multifd);
            multifd.handshake(new BytesConnection("channel 0", channel("qemu-7.2", 0)));
            byte[] otherUuid = new byte[16];
            Arrays.fill(otherUuid, (byte) 0x5a);
            multifd.handshake(new BytesConnection("stranger uuid", handshake(otherUuid, 1)));
            multifd.handshake(new BytesConnection("stranger id", handshake(new byte[16], 2)));
            multifd.handshake(new BytesConnection("stranger twice", handshake(new byte[16], 0)));
            multifd.handshake(new BytesConnection("stranger version", Arrays.copyOf(new byte[] {0x11, 0x22, 0x33, 0x44,
                    0, 0, 0, 9}, 64)));
            multifd.handshake(new BytesConnection("channel 1", channel("qemu-7.2", 1)));
            incoming.start(new BytesConnection("main", main("qemu-7.2")));
            assertEquals(MigrationStatus.COMPLETED, incoming.awaitFinished(), incoming.error());
            assertArrayEquals(EXPECTED, ram(guest));
            assertEquals(List.of(
                    "refused a multifd connection (bytes stranger uuid): multifd channel 1 carries uuid "
                            + "5a5a5a5a-5a5a-5a5a-5a5a-5a5a5a5a5a5a, not this migration's 00000000-0000-0000-0000-000000000000",
                    "refused a multifd connection (bytes stranger id): multifd channel id 2, but this receiver takes 2 "
                            + "channels (--multifd-channels 2: the source must use as many)",
                    "refused a multifd connection (bytes stranger twice): multifd channel 0 is connected already",
                    "dropped a multifd connection (bytes stranger version): multifd channel version 9, expected 1 at offset 4"),
                    notices);
            multifd.close();
            multifd.handshake(new BytesConnection("late", handshake(new byte[16], 1)));
            assertEquals("refused a multifd connection (bytes late): multifd channel 1 came after this migration's "
                    + "load ended", notices.getLast());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qemu-7.2", "qemu-10.0"})
    void aChannelCutInsideItsPagesFailsTheLoadAndTheGuestNeverRuns(String qemu) throws Exception {
        byte[] cut = Arrays.copyOf(channel(qemu, 0), FIRST_PAGES_PACKET + MultifdPacket.BYTES + 5000);
        try (Guest guest = guest()) {
            Outcome outcome = load(guest, qemu, cut, channel(qemu, 1));
            assertEquals(MigrationStatus.FAILED, outcome.status());
            assertTrue(outcome.error().startsWith("load of migration failed: multifd channel 0: "), outcome.error());
            assertTrue(outcome.error().contains("at offset"), outcome.error());
            assertEquals(1, outcome.error().lines().count(), outcome.error());
            assertEquals(RunState.INTERNAL_ERROR, guest.runState());
        }
    }

    @Test
    void aChannelThatEndsBeforeASyncPointFailsTheLoad() throws Exception {
        byte[] cut = Arrays.copyOf(channel("qemu-10.0", 0), FIRST_PAGES_PACKET);
        try (Guest guest = guest()) {
            Outcome outcome = load(guest, "qemu-10.0", cut, channel("qemu-10.0", 1));
            assertEquals(MigrationStatus.FAILED, outcome.status());
            assertTrue(outcome.error().matches("load of migration failed: multifd channel 0 ended before the sync "
                    + "point at stream offset \\d+"), outcome.error());
            assertNotEquals(RunState.RUNNING, guest.runState());
        }
    }

    @Test
    void aPacketForABlockNeverAnnouncedFailsTheLoad() throws Exception {
        byte[] renamed = channel("qemu-7.2", 0);
        renamed[FIRST_PAGES_PACKET + 64 + 2] = 'x'; // "mem" -> "mex"
        try (Guest guest = guest()) {
            Outcome outcome = load(guest, "qemu-7.2", renamed, channel("qemu-7.2", 1));
            assertEquals(MigrationStatus.FAILED, outcome.status());
            assertEquals("load of migration failed: multifd channel 0: multifd packet for RAM block 'mex' that MEM_SIZE "
                    + "did not announce at offset " + (FIRST_PAGES_PACKET + 64), outcome.error());
        }
    }

    @Test
    void anOffsetBeyondTheBlockFailsTheLoadBeforeAnyPageOfItIsWritten() throws Exception {
        byte[] beyond = channel("qemu-10.0", 0);
        ByteBuffer.wrap(beyond).putLong(FIRST_PAGES_PACKET + MultifdPacket.HEADER_BYTES + 8 * 39, RAM);
        try (Guest guest = guest()) {
            Outcome outcome = load(guest, "qemu-10.0", beyond, channel("qemu-10.0", 1));
            assertEquals(MigrationStatus.FAILED, outcome.status());
            assertEquals("load of migration failed: multifd channel 0: multifd packet offset 0x200000 is beyond RAM block "
                    + "'mem' (2097152 bytes) at offset " + (FIRST_PAGES_PACKET + MultifdPacket.HEADER_BYTES), outcome.error());
            byte[] ram = ram(guest);
            assertArrayEquals(new byte[40 * 4096], Arrays.copyOf(ram, 40 * 4096), "no page of the packet was written");
        }
    }

    /** The compressed captures' RAM (README of qemu-streams: P = 400, M = 450). */
    private static final byte[] EXPECTED_COMPRESSED = CapturedStreams.generatedRam(RAM, 400, 450);
    /** Where channel 0's first compressed packet begins in the compressed captures, and its payload. */
    private static final int FIRST_PAYLOAD = FIRST_PAGES_PACKET + MultifdPacket.BYTES;

    @ParameterizedTest
    @ValueSource(strings = {"qemu-7.2-zstd", "qemu-10.0-zstd", "qemu-7.2-zlib", "qemu-10.0-zlib"})
    void loadsQemusCompressedMultifdMigrationByteForByte(String qemu) throws Exception {
        try (Guest guest = guest()) {
            Outcome outcome = load(guest, qemu, channel(qemu, 0), channel(qemu, 1));
            assertEquals(MigrationStatus.COMPLETED, outcome.status(), outcome.error());
            assertArrayEquals(EXPECTED_COMPRESSED, ram(guest));
            LoadedPageCrcs.assertMatchMemory(streams.ram(), guest.ramBlocks());
            assertEquals(List.of(), notices);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"qemu-7.2-zstd", "qemu-10.0-zlib"})
    void aCorruptPayloadFailsTheLoadWithOneLineBeforeAnyPageOfItIsWritten(String qemu) throws Exception {
        byte[] corrupt = channel(qemu, 0);
        for (int i = FIRST_PAYLOAD + 30; i < FIRST_PAYLOAD + 400; i += 5) {
            corrupt[i] ^= (byte) 0xa5;
        }
        String method = qemu.substring(qemu.lastIndexOf('-') + 1);
        try (Guest guest = guest()) {
            Outcome outcome = load(guest, qemu, corrupt, channel(qemu, 1));
            assertEquals(MigrationStatus.FAILED, outcome.status());
            assertTrue(outcome.error().matches("load of migration failed: multifd channel 0: multifd packet 2 \\(" + method
                    + "\\): its \\d+ bytes .* at offset " + FIRST_PAYLOAD), outcome.error());
            assertEquals(1, outcome.error().lines().count(), outcome.error());
            assertArrayEquals(new byte[128 * 4096], Arrays.copyOf(ram(guest), 128 * 4096), "no page of the packet was written");
            assertEquals(RunState.INTERNAL_ERROR, guest.runState());
        }
    }

    @Test
    void aMethodThisReceiverDoesNotLoadFailsTheLoad() throws Exception {
        byte[] qpl = channel("qemu-10.0-zstd", 0);
        ByteBuffer.wrap(qpl).putInt(FIRST_PAGES_PACKET + 8, MultifdCompression.QPL.code());
        try (Guest guest = guest()) {
            Outcome outcome = load(guest, "qemu-10.0-zstd", qpl, channel("qemu-10.0-zstd", 1));
            assertEquals(MigrationStatus.FAILED, outcome.status());
            assertEquals("load of migration failed: multifd channel 0: multifd packet 2 is compressed with qpl (QEMU's "
                    + "multifd-compression), which this receiver does not load (none, zlib and zstd) at offset "
                    + (FIRST_PAGES_PACKET + 8), outcome.error());
        }
    }

    @Test
    void aMethodThatChangesWithinAChannelFailsTheLoad() throws Exception {
        byte[] switched = channel("qemu-7.2-zstd", 0);
        int second = FIRST_PAYLOAD + 810; // packet 4, after packet 2's 810 bytes of payload
        ByteBuffer.wrap(switched).putInt(second + 8, MultifdCompression.ZLIB.code());
        try (Guest guest = guest()) {
            Outcome outcome = load(guest, "qemu-7.2-zstd", switched, channel("qemu-7.2-zstd", 1));
            assertEquals(MigrationStatus.FAILED, outcome.status());
            assertEquals("load of migration failed: multifd channel 0: multifd packet 4 is compressed with zlib, but this "
                    + "channel's earlier packets were zstd at offset " + (second + 8), outcome.error());
        }
    }

    @Test
    void aPayloadBeyondQemusBoundFailsTheLoadBeforeItIsRead() throws Exception {
        byte[] huge = channel("qemu-10.0-zstd", 0);
        ByteBuffer.wrap(huge).putInt(FIRST_PAGES_PACKET + 20, MultifdCodec.MAX_PAYLOAD + 1);
        try (Guest guest = guest()) {
            Outcome outcome = load(guest, "qemu-10.0-zstd", huge, channel("qemu-10.0-zstd", 1));
            assertEquals(MigrationStatus.FAILED, outcome.status());
            assertEquals("load of migration failed: multifd channel 0: multifd packet 2 (zstd) announces 1048577 bytes of "
                    + "compressed page data, more than QEMU's bound of 1048576 at offset " + (FIRST_PAGES_PACKET + 20),
                    outcome.error());
        }
    }

    private record Outcome(MigrationStatus status, String error) {
    }

    /** The last load's streams: its RAM handler holds the page CRCs the load took. */
    private MachineStreams streams;

    private Outcome load(Guest guest, String qemu, byte[] channel0, byte[] channel1) throws Exception {
        try (IncomingMultifd multifd = new IncomingMultifd(2, notices::add)) {
            streams = MachineStreams.of(guest, false);
            IncomingMigration incoming = streams.incoming(guest, true);
            incoming.multifd(multifd);
            multifd.handshake(new BytesConnection("channel 0", channel0));
            multifd.handshake(new BytesConnection("channel 1", channel1));
            incoming.start(new BytesConnection("main", main(qemu)));
            return new Outcome(incoming.awaitFinished(), incoming.error());
        }
    }

    private static Guest guest() {
        return Guest.builder().incoming(true).ramId("mem").ramSize(RAM).build();
    }

    private static byte[] ram(Guest guest) {
        return guest.ramBlocks().getFirst().memory().toArray(ValueLayout.JAVA_BYTE);
    }

    private static byte[] main(String qemu) {
        return CapturedStreams.multifdMain(qemu);
    }

    private static byte[] channel(String qemu, int id) {
        return CapturedStreams.multifdChannel(qemu, id);
    }

    private static byte[] handshake(byte[] uuid, int id) throws Exception {
        ByteArrayOutputStream sink = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(sink)) {
            new MultifdInit(uuid, id).write(out);
        }
        return sink.toByteArray();
    }

}
