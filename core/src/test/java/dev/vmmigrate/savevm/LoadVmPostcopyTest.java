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
    private static final class Recording implements LoadVm.Listener {
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
}
