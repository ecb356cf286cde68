package dev.vmmigrate.savevm;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.Pipe;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The switch to postcopy as the loader sees it: PACKAGED's blob walked as a stream of its own up
 * to POSTCOPY_RUN, then the main stream again to an EOF without vmdesc, which must not wait for
 * more bytes (QEMU waits for the SHUT there); and each malformed package refused.
 */
class LoadVmPostcopyTest {
    private static final String MACHINE = "none";

    /** A listener that takes every command and records it. */
    private static class Recording implements LoadVm.Listener {
        final List<MigrationCommand> commands = new ArrayList<>();

        @Override
        public void command(Section.Command command) {
            commands.add(command.command());
        }
    }

    private static byte[] commands(MigrationCommand... commands) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            for (MigrationCommand command : commands) {
                SaveVm.writeCommand(out, command, command == MigrationCommand.PING ? new byte[4] : new byte[0]);
            }
        }
        return bytes.toByteArray();
    }

    /** Preamble, PACKAGED of {@code declared} bytes followed by {@code blob}, then {@code tail}. */
    private static byte[] stream(long declared, byte[] blob, byte[] tail) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            new StreamPreamble(MACHINE).write(out);
            SaveVm.writeCommand(out, MigrationCommand.PACKAGED, ByteBuffer.allocate(4).putInt((int) declared).array());
            out.putBytes(blob);
            out.putBytes(tail);
        }
        return bytes.toByteArray();
    }

    private static byte[] eof() {
        return new byte[] {(byte) SectionType.EOF.code()};
    }

    @Test
    void thePackageRunsUpToRunAndTheEofNeedsNoVmdesc() throws Exception {
        byte[] blob = commands(MigrationCommand.POSTCOPY_LISTEN, MigrationCommand.PING, MigrationCommand.POSTCOPY_RUN);
        byte[] bytes = stream(blob.length, blob, eof());
        // The source keeps the connection open after its EOF: a loader that peeked for a vmdesc would wait.
        Pipe pipe = Pipe.open();
        pipe.sink().write(ByteBuffer.wrap(bytes));
        Recording listener = new Recording();
        LoadVm.Result result = assertTimeoutPreemptively(Duration.ofSeconds(30),
                () -> new LoadVm(new HandlerRegistry(), MACHINE).load(new MigrationInput(pipe.source()), listener));
        assertEquals(List.of(MigrationCommand.PACKAGED, MigrationCommand.POSTCOPY_LISTEN, MigrationCommand.PING,
                MigrationCommand.POSTCOPY_RUN), listener.commands);
        assertEquals(null, result.vmdesc());
        pipe.sink().close();
    }

    private static StreamFormatException refused(byte[] bytes) {
        return assertThrows(StreamFormatException.class,
                () -> new LoadVm(new HandlerRegistry(), MACHINE).load(MigrationInput.of(bytes), new Recording()));
    }

    @Test
    void aPackageWithoutRunIsRefused() throws Exception {
        byte[] blob = commands(MigrationCommand.POSTCOPY_LISTEN);
        StreamFormatException e = refused(stream(blob.length, blob, eof()));
        assertTrue(e.getMessage().contains("ended without POSTCOPY_RUN"), e.getMessage());
    }

    @Test
    void anEofInsideThePackageIsRefused() throws Exception {
        byte[] blob = eof();
        StreamFormatException e = refused(stream(blob.length, blob, eof()));
        assertTrue(e.getMessage().contains("EOF inside PACKAGED"), e.getMessage());
    }

    @Test
    void aPackageLargerThanQemusLimitIsRefusedBeforeItIsRead() throws Exception {
        StreamFormatException e = refused(stream(LoadVm.MAX_PACKAGED + 1L, new byte[0], new byte[0]));
        assertTrue(e.getMessage().contains("PACKAGED of 16777217 bytes") && e.getMessage().contains("offset"),
                e.getMessage());
    }

    @Test
    void aStreamCutInsideThePackageIsRefused() throws Exception {
        byte[] blob = commands(MigrationCommand.POSTCOPY_LISTEN, MigrationCommand.POSTCOPY_RUN);
        assertThrows(IOException.class, () -> new LoadVm(new HandlerRegistry(), MACHINE)
                .load(MigrationInput.of(stream(blob.length + 10, blob, new byte[0])), new Recording()));
    }

    /**
     * Postcopy recovery: a link that breaks after POSTCOPY_RUN is offered to the listener, whose
     * new input goes on (here with QEMU's recovery commands and the EOF); one that breaks inside
     * the package is not.
     */
    @Test
    void aBreakAfterRunIsOfferedToResumeAndOneInsideThePackageIsNot() throws Exception {
        byte[] blob = commands(MigrationCommand.POSTCOPY_LISTEN, MigrationCommand.POSTCOPY_RUN);
        byte[] cutAfterRun = stream(blob.length, blob, new byte[0]);
        List<Long> offered = new ArrayList<>();
        Recording resuming = new Recording() {
            @Override
            public MigrationInput linkBroken(IOException cause, long wholeUpTo) throws IOException {
                offered.add(wholeUpTo);
                ByteArrayOutputStream next = new ByteArrayOutputStream();
                try (MigrationOutput out = MigrationOutput.to(next)) {
                    SaveVm.writeCommand(out, MigrationCommand.RECV_BITMAP, new RecvBitmapRequest("pc.ram").encode());
                    SaveVm.writeCommand(out, MigrationCommand.POSTCOPY_RESUME, new byte[0]);
                    out.putBytes(eof());
                }
                return MigrationInput.of(next.toByteArray());
            }
        };
        new LoadVm(new HandlerRegistry(), MACHINE).load(MigrationInput.of(cutAfterRun), resuming);
        assertEquals(List.of((long) cutAfterRun.length), offered, "offered once, whole up to the cut");
        assertEquals(List.of(MigrationCommand.PACKAGED, MigrationCommand.POSTCOPY_LISTEN, MigrationCommand.POSTCOPY_RUN,
                MigrationCommand.RECV_BITMAP, MigrationCommand.POSTCOPY_RESUME), resuming.commands);

        offered.clear();
        byte[] cutInside = stream(blob.length + 10, blob, new byte[0]);
        assertThrows(IOException.class, () -> new LoadVm(new HandlerRegistry(), MACHINE)
                .load(MigrationInput.of(cutInside), resuming));
        assertEquals(List.of(), offered, "a package cut short is not resumed");
    }

    /** Without a paused postcopy to recover, QEMU's recovery commands are refused by name. */
    @Test
    void recoveryCommandsOutsideARecoveryAreRefused() throws Exception {
        for (MigrationCommand command : List.of(MigrationCommand.RECV_BITMAP, MigrationCommand.POSTCOPY_RESUME)) {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            try (MigrationOutput out = MigrationOutput.to(bytes)) {
                new StreamPreamble(MACHINE).write(out);
                SaveVm.writeCommand(out, command, command == MigrationCommand.RECV_BITMAP
                        ? new RecvBitmapRequest("pc.ram").encode() : new byte[0]);
                out.putBytes(eof());
            }
            StreamFormatException e = assertThrows(StreamFormatException.class, () -> new LoadVm(new HandlerRegistry(),
                    MACHINE).load(MigrationInput.of(bytes.toByteArray())));
            assertTrue(e.getMessage().startsWith("QEMU's postcopy recovery comes only on the new link of a postcopy "
                    + "migration that broke after the switch") && e.getMessage().contains("(COMMAND " + command + ")"),
                    e.getMessage());
        }
    }
}
