package dev.vmmigrate.migration;

import static dev.vmmigrate.migration.LiveMigrations.GUARD;
import static dev.vmmigrate.migration.LiveMigrations.acceptAndLoad;
import static dev.vmmigrate.migration.LiveMigrations.assertMigrated;
import static dev.vmmigrate.migration.LiveMigrations.awaitIncoming;
import static dev.vmmigrate.migration.LiveMigrations.awaitOutgoing;
import static dev.vmmigrate.migration.LiveMigrations.destination;
import static dev.vmmigrate.migration.LiveMigrations.incoming;
import static dev.vmmigrate.migration.LiveMigrations.outgoing;
import static dev.vmmigrate.migration.LiveMigrations.runningSource;
import static dev.vmmigrate.testing.Hex.indexOf;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.TestResources;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Live migrations in one process through the core API, over every transport, and how they end otherwise. */
@Timeout(90)
class LiveMigrationTest {
    private static final long RAM = 32L << 20;
    private static final String WORKLOAD = "random:32M/s";
    private static final long FAST = 256L << 20;
    private static final Duration TIMEOUT = Duration.ofSeconds(60);

    @TempDir
    Path dir;

    private final TestResources resources = new TestResources();

    @AfterEach
    void release() throws Exception {
        resources.close();
    }

    private <T extends AutoCloseable> T track(T resource) {
        return resources.track(resource);
    }

    /** Migrates a running 32 MiB guest through an endpoint listening on {@code listenUri}. */
    private void migrateThrough(String listenUri) throws Exception {
        Guest source = track(runningSource(RAM, WORKLOAD));
        Guest target = track(destination(RAM));
        IncomingEndpoint endpoint = track(MigrationUri.parse(listenUri).listen());
        IncomingMigration in = incoming(target);
        CompletableFuture<Void> accepted = acceptAndLoad(endpoint, in);
        OutgoingMigration out = outgoing(source, FAST, TIMEOUT);
        LiveMigrations.Recorder recorder = new LiveMigrations.Recorder();
        out.addListener(recorder);
        out.start(MigrationUri.parse(endpoint.boundAddress()).connect());
        assertMigrated(source, target, out, in);
        accepted.get(GUARD.toSeconds(), TimeUnit.SECONDS);
        assertEquals(List.of(MigrationStatus.SETUP, MigrationStatus.ACTIVE, MigrationStatus.COMPLETED),
                recorder.statuses());
    }

    @Test
    void migratesOverTcp() throws Exception {
        migrateThrough("tcp:127.0.0.1:0");
    }

    @Test
    void migratesOverUnix() throws Exception {
        migrateThrough("unix:" + dir.resolve("mig.sock"));
    }

    @Test
    void migratesThroughExecIntoAFileThenBackThroughExec() throws Exception {
        Path file = dir.resolve("stream.mig");
        Guest source = track(runningSource(RAM, WORKLOAD));
        OutgoingMigration out = outgoing(source, FAST, TIMEOUT);
        out.start(MigrationUri.parse("exec:cat > '" + file + "'").connect());
        assertEquals(MigrationStatus.COMPLETED, awaitOutgoing(out), out.error());
        assertTrue(Files.size(file) > RAM / 2, "the file holds at least the random half of RAM");

        Guest target = track(destination(RAM));
        IncomingEndpoint endpoint = track(MigrationUri.parse("exec:cat '" + file + "'").listen());
        IncomingMigration in = incoming(target);
        acceptAndLoad(endpoint, in).get(GUARD.toSeconds(), TimeUnit.SECONDS);
        assertMigrated(source, target, out, in);
    }

    @Test
    void migratesThroughExecIntoAFileReadBackAsFile() throws Exception {
        Path file = dir.resolve("stream.mig");
        Guest source = track(runningSource(RAM, WORKLOAD));
        OutgoingMigration out = outgoing(source, FAST, TIMEOUT);
        out.start(MigrationUri.parse("exec:cat > '" + file + "'").connect());
        assertEquals(MigrationStatus.COMPLETED, awaitOutgoing(out), out.error());

        assertLoadsAsMigrated(file, source, out);
    }

    @Test
    void statsAfterCompletionReadLikeQueryMigrate() throws Exception {
        Guest source = track(runningSource(RAM, WORKLOAD));
        Guest target = track(destination(RAM));
        IncomingEndpoint endpoint = track(MigrationUri.parse("tcp:127.0.0.1:0").listen());
        IncomingMigration in = incoming(target);
        acceptAndLoad(endpoint, in);
        OutgoingMigration out = outgoing(source, FAST, TIMEOUT);
        out.start(MigrationUri.parse(endpoint.boundAddress()).connect());
        assertMigrated(source, target, out, in);

        MigrationInfo info = out.info();
        assertEquals("completed", info.status());
        assertNotNull(info.downtime());
        assertTrue(info.downtime() >= 0);
        assertNotNull(info.totalTime());
        assertNull(info.errorDesc());
        MigrationInfo.Ram ram = info.ram();
        assertNotNull(ram);
        assertEquals(RAM, ram.total());
        assertEquals(0, ram.remaining());
        assertTrue(ram.transferred() > 0);
        assertTrue(ram.dirtySyncCount() >= 2, "dirty-sync-count " + ram.dirtySyncCount());
        assertEquals(TargetPage.SIZE, ram.pageSize());
        assertEquals(ram.normal() * TargetPage.SIZE, ram.normalBytes());
        long nonZeroPages = 0;
        RamBlock block = source.ramBlocks().getFirst();
        for (long p = 0; p < block.pageCount(); p++) {
            if (!block.isZeroPage(p)) {
                nonZeroPages++;
            }
        }
        assertTrue(ram.normal() >= nonZeroPages, "every non-zero page went whole at least once");
        assertTrue(ram.normal() + ram.duplicate() >= RAM / TargetPage.SIZE, "every page went at least once");
        assertTrue(ram.transferred() >= ram.normalBytes(), "transferred counts headers too");

        JsonNode json = new ObjectMapper().valueToTree(info);
        assertEquals("completed", json.get("status").textValue());
        assertTrue(json.has("total-time"), json.toString());
        assertTrue(json.has("downtime"), json.toString());
        assertTrue(json.get("ram").has("normal-bytes"), json.toString());
        assertEquals(ram.normalBytes(), json.get("ram").get("normal-bytes").longValue());
        assertEquals(RAM, json.get("ram").get("total").longValue());
        assertTrue(json.get("ram").has("dirty-sync-count"), json.toString());
        assertFalse(json.has("error-desc"), json.toString());
        assertFalse(json.has("expected-downtime"), "only while active: " + json);
    }

    // ---------------------------------------------------------------- cancel

    /** A tcp listener that accepts and never reads, so the sender blocks once the socket buffers are full. */
    private ServerSocket deafListener(List<Socket> accepted) throws IOException {
        ServerSocket server = track(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
        Thread.ofPlatform().daemon().start(() -> {
            try {
                accepted.add(track(server.accept()));
            } catch (IOException ignored) {
                // closed by the test
            }
        });
        return server;
    }

    @Test
    void cancelRightAfterStartEndsCancelledWithTheGuestRunning() throws Exception {
        List<Socket> accepted = new CopyOnWriteArrayList<>();
        ServerSocket server = deafListener(accepted);
        Guest source = track(runningSource(256L << 20, "none"));
        OutgoingMigration out = outgoing(source, FAST, TIMEOUT);
        LiveMigrations.Recorder recorder = new LiveMigrations.Recorder();
        out.addListener(recorder);
        out.start(MigrationUri.parse("tcp:127.0.0.1:" + server.getLocalPort()).connect());
        out.cancel();
        assertEquals(MigrationStatus.CANCELLED, awaitOutgoing(out));
        assertEquals(RunState.RUNNING, source.runState());
        assertTrue(source.workload().isRunning() || source.workload().spec().idle());
        List<MigrationStatus> seen = recorder.statuses();
        assertTrue(seen.equals(List.of(MigrationStatus.SETUP, MigrationStatus.CANCELLING, MigrationStatus.CANCELLED))
                || seen.equals(List.of(MigrationStatus.SETUP, MigrationStatus.ACTIVE, MigrationStatus.CANCELLING,
                        MigrationStatus.CANCELLED)), seen.toString());
        assertEquals("cancelled", out.info().status());
        assertNull(out.info().errorDesc());
    }

    /** error() is "why the migration failed, or null": a cancelled migration did not fail. */
    @Test
    void aCancelledMigrationHasNoFailureReason() throws Exception {
        List<Socket> accepted = new CopyOnWriteArrayList<>();
        ServerSocket server = deafListener(accepted);
        Guest source = track(runningSource(256L << 20, "none"));
        OutgoingMigration out = outgoing(source, MigrationParameters.UNLIMITED, TIMEOUT);
        LiveMigrations.Recorder recorder = new LiveMigrations.Recorder();
        out.addListener(recorder);
        out.start(MigrationUri.parse("tcp:127.0.0.1:" + server.getLocalPort()).connect());
        recorder.awaitActive();
        out.cancel();
        assertEquals(MigrationStatus.CANCELLED, awaitOutgoing(out));
        assertNull(out.error(), "error() of a cancelled migration");
    }

    @Test
    void cancelWhileActiveEndsCancelledAndTheDestinationNeverRuns() throws Exception {
        Guest source = track(runningSource(RAM, WORKLOAD));
        Guest target = track(destination(RAM));
        List<RunState> targetStates = new CopyOnWriteArrayList<>();
        target.addRunStateListener(targetStates::add);
        IncomingEndpoint endpoint = track(MigrationUri.parse("tcp:127.0.0.1:0").listen());
        IncomingMigration in = incoming(target);
        acceptAndLoad(endpoint, in);
        OutgoingMigration out = outgoing(source, 8L << 20, TIMEOUT);
        LiveMigrations.Recorder recorder = new LiveMigrations.Recorder();
        out.addListener(recorder);
        out.start(MigrationUri.parse(endpoint.boundAddress()).connect());
        recorder.awaitActive();
        out.cancel();
        assertEquals(MigrationStatus.CANCELLED, awaitOutgoing(out));
        assertEquals(List.of(MigrationStatus.SETUP, MigrationStatus.ACTIVE, MigrationStatus.CANCELLING,
                MigrationStatus.CANCELLED), recorder.statuses());
        assertEquals(RunState.RUNNING, source.runState());
        assertTrue(source.workload().isRunning(), "the workload runs again");

        assertEquals(MigrationStatus.FAILED, awaitIncoming(in));
        assertEquals(RunState.INTERNAL_ERROR, target.runState());
        assertFalse(targetStates.contains(RunState.RUNNING), targetStates.toString());
        assertNotNull(in.error());
    }

    @Test
    void cancelAfterTheEndChangesNothing() throws Exception {
        Guest source = track(runningSource(4L << 20, WORKLOAD));
        OutgoingMigration out = outgoing(source, FAST, TIMEOUT);
        out.start(MigrationUri.parse("file:" + dir.resolve("f.mig")).connect());
        assertEquals(MigrationStatus.COMPLETED, awaitOutgoing(out));
        out.cancel();
        assertEquals(MigrationStatus.COMPLETED, out.status());
        assertEquals(RunState.POSTMIGRATE, source.runState());
    }

    /**
     * After a cancelled migration the same OutgoingMigration may start again (start refuses only
     * while one is active), and awaitFinished must then wait for the new one.
     */
    @Test
    void aSecondMigrationAfterACancelIsAwaitedAndCompletes() throws Exception {
        Guest source = track(runningSource(RAM, WORKLOAD));
        OutgoingMigration out = outgoing(source, 8L << 20, TIMEOUT);
        LiveMigrations.Recorder recorder = new LiveMigrations.Recorder();
        out.addListener(recorder);
        out.start(MigrationUri.parse("file:" + dir.resolve("first.mig")).connect());
        recorder.awaitActive();
        out.cancel();
        assertEquals(MigrationStatus.CANCELLED, awaitOutgoing(out));

        out.setParameters(new MigrationParameters(FAST, MigrationParameters.DEFAULT_DOWNTIME_LIMIT, TIMEOUT));
        Path second = dir.resolve("second.mig");
        out.start(MigrationUri.parse("file:" + second).connect());
        assertEquals(MigrationStatus.COMPLETED, awaitOutgoing(out), "awaitFinished returned while " + out.status());

        assertLoadsAsMigrated(second, source, out);
    }

    // ---------------------------------------------------------------- failures

    @Test
    void receiverDyingMidStreamFailsTheMigrationAndTheGuestRunsOn() throws Exception {
        ServerSocket server = track(new ServerSocket(0, 1, InetAddress.getLoopbackAddress()));
        CompletableFuture<Long> receiver = CompletableFuture.supplyAsync(() -> {
            try (Socket socket = server.accept(); InputStream in = socket.getInputStream()) {
                byte[] buffer = new byte[64 * 1024];
                long total = 0;
                while (total < (1 << 20)) {
                    int n = in.read(buffer);
                    if (n < 0) {
                        break;
                    }
                    total += n;
                }
                return total;
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        });
        Guest source = track(runningSource(64L << 20, WORKLOAD));
        OutgoingMigration out = outgoing(source, FAST, TIMEOUT);
        LiveMigrations.Recorder recorder = new LiveMigrations.Recorder();
        out.addListener(recorder);
        out.start(MigrationUri.parse("tcp:127.0.0.1:" + server.getLocalPort()).connect());
        assertTrue(receiver.get(GUARD.toSeconds(), TimeUnit.SECONDS) >= 1 << 20);
        assertEquals(MigrationStatus.FAILED, awaitOutgoing(out));
        assertEquals(RunState.RUNNING, source.runState());
        assertNotNull(out.error());
        assertEquals("failed", out.info().status());
        assertEquals(out.error(), out.info().errorDesc());
        assertEquals(MigrationStatus.FAILED, recorder.statuses().getLast());
    }

    /** The guest is already stopped for switchover when the peer fails: it must run again. */
    @Test
    void failureAtSwitchoverResumesTheStoppedGuest() throws Exception {
        Guest source = track(runningSource(4L << 20, WORKLOAD));
        List<RunState> states = new CopyOnWriteArrayList<>();
        source.addRunStateListener(states::add);
        OutgoingMigration out = outgoing(source, FAST, TIMEOUT);
        out.start(MigrationUri.parse("exec:cat > /dev/null; exit 3").connect());
        assertEquals(MigrationStatus.FAILED, awaitOutgoing(out));
        assertTrue(out.error().contains("status 3"), out.error());
        assertEquals(List.of(RunState.FINISH_MIGRATE, RunState.RUNNING), states);
        assertEquals(RunState.RUNNING, source.runState());
        assertTrue(source.workload().isRunning(), "the workload runs again");
    }

    @Test
    void migrationThatCannotConvergeFailsAtTheTimeout() throws Exception {
        Guest source = track(runningSource(8L << 20, "random:unlimited"));
        Guest target = track(destination(8L << 20));
        IncomingEndpoint endpoint = track(MigrationUri.parse("tcp:127.0.0.1:0").listen());
        IncomingMigration in = incoming(target);
        acceptAndLoad(endpoint, in);
        OutgoingMigration out = outgoing(source, 4L << 20, Duration.ofSeconds(3));
        out.start(MigrationUri.parse(endpoint.boundAddress()).connect());
        assertEquals(MigrationStatus.FAILED, awaitOutgoing(out));
        assertNotNull(out.error());
        assertTrue(out.error().contains("3000 ms timeout"), out.error());
        assertEquals(RunState.RUNNING, source.runState());
        assertTrue(source.workload().isRunning());

        assertEquals(MigrationStatus.FAILED, awaitIncoming(in));
        assertEquals(RunState.INTERNAL_ERROR, target.runState());
    }

    // ---------------------------------------------------------------- refusals

    @Test
    void startingTwiceIsRefused() throws Exception {
        List<Socket> accepted = new CopyOnWriteArrayList<>();
        ServerSocket server = deafListener(accepted);
        Guest source = track(runningSource(RAM, "none"));
        OutgoingMigration out = outgoing(source, 8L << 20, TIMEOUT);
        out.start(MigrationUri.parse("tcp:127.0.0.1:" + server.getLocalPort()).connect());
        LiveMigrations.MemoryConnection spare = new LiveMigrations.MemoryConnection();
        MigrationException e = assertThrows(MigrationException.class, () -> out.start(spare));
        assertTrue(e.getMessage().contains("already"), e.getMessage());
        assertFalse(spare.used(), "a refused start leaves its connection alone");
        out.cancel();
        assertEquals(MigrationStatus.CANCELLED, awaitOutgoing(out));
        assertEquals(RunState.RUNNING, source.runState());
    }

    @Test
    void aBlockerRefusesWithItsReason() throws Exception {
        Guest source = track(runningSource(1L << 20, "none"));
        OutgoingMigration out = outgoing(source, FAST, TIMEOUT);
        out.addBlocker("device 'vfio0' cannot be migrated");
        LiveMigrations.MemoryConnection connection = new LiveMigrations.MemoryConnection();
        MigrationException e = assertThrows(MigrationException.class, () -> out.start(connection));
        assertTrue(e.getMessage().contains("device 'vfio0' cannot be migrated"), e.getMessage());
        assertEquals(MigrationStatus.NONE, out.status());
        assertEquals(RunState.RUNNING, source.runState());
        assertFalse(connection.used());

        out.removeBlocker("device 'vfio0' cannot be migrated");
        out.start(connection);
        assertEquals(MigrationStatus.COMPLETED, awaitOutgoing(out), out.error());
        assertTrue(connection.bytes.size() > 0);
    }

    /** The seeds' migrate_fd_error: a transport that failed before any byte fails the migration. */
    @Test
    void aTransportFailureBeforeTheStartFailsTheMigration() throws Exception {
        Guest source = track(runningSource(1L << 20, "none"));
        OutgoingMigration out = outgoing(source, FAST, TIMEOUT);
        LiveMigrations.Recorder recorder = new LiveMigrations.Recorder();
        out.addListener(recorder);
        out.failBeforeStart(new MigrationException("cannot connect to tcp:127.0.0.1:1: Connection refused"));
        assertEquals(List.of(MigrationStatus.FAILED), recorder.statuses());
        MigrationInfo failed = MigrationInfo.of("failed", null, "cannot connect to tcp:127.0.0.1:1: Connection refused");
        assertEquals(failed, recorder.infos().getFirst(), "listeners get query-migrate's record of a failure");
        assertEquals(failed, out.info());
        assertEquals(RunState.RUNNING, source.runState());

        out.start(MigrationUri.parse("file:" + dir.resolve("after.mig")).connect());
        assertEquals(MigrationStatus.COMPLETED, awaitOutgoing(out), out.error());
        assertNull(out.info().errorDesc());
    }

    @Test
    void aGuestWaitingForAnIncomingMigrationCannotMigrateOut() {
        Guest waiting = track(destination(1L << 20));
        OutgoingMigration out = outgoing(waiting, FAST, TIMEOUT);
        MigrationException e = assertThrows(MigrationException.class,
                () -> out.start(new LiveMigrations.MemoryConnection()));
        assertTrue(e.getMessage().contains("waiting for an incoming migration"), e.getMessage());
        assertEquals(MigrationStatus.NONE, out.status());
    }

    /**
     * A connection that cannot carry the stream (here a read-only one) must not leave the
     * migration stuck in SETUP: a later start with a good connection must be accepted.
     */
    @Test
    void aConnectionThatCannotSendDoesNotLeaveTheMigrationStuckInSetup() throws Exception {
        Path file = Files.write(dir.resolve("some.mig"), new byte[] {1, 2, 3});
        Guest source = track(runningSource(1L << 20, "none"));
        OutgoingMigration out = outgoing(source, FAST, TIMEOUT);
        try (IncomingEndpoint endpoint = MigrationUri.parse("file:" + file).listen()) {
            dev.vmmigrate.transport.Connection readOnly = track(endpoint.accept());
            assertThrows(RuntimeException.class, () -> out.start(readOnly));
        }
        assertFalse(out.status().isActive(), "status after a refused start: " + out.status());
        out.start(MigrationUri.parse("file:" + dir.resolve("good.mig")).connect());
        assertEquals(MigrationStatus.COMPLETED, awaitOutgoing(out), out.error());
    }

    // ---------------------------------------------------------------- corrupt incoming streams

    /** A stopped 1 MiB guest (half random pages, no workload) saved to bytes. */
    private Guest savedSource() throws InterruptedException {
        return track(runningSource(1L << 20, "none"));
    }

    private static byte[] savedStream(Guest source) throws IOException {
        source.stop(RunState.FINISH_MIGRATE);
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (MigrationOutput out = MigrationOutput.to(bytes)) {
            MachineStreams.of(source, false).saveVm(source).saveStopped(out);
        }
        return bytes.toByteArray();
    }

    private IncomingMigration loadFile(Guest target, byte[] stream, List<RunState> states) throws Exception {
        Path file = Files.write(dir.resolve("corrupt.mig"), stream);
        target.addRunStateListener(states::add);
        IncomingMigration in = MachineStreams.of(target, false).incoming(target, false);
        loadFrom(file, in);
        return in;
    }

    /** Loads the stream file {@code file} into a fresh destination and checks it against the source. */
    private void assertLoadsAsMigrated(Path file, Guest source, OutgoingMigration out) throws Exception {
        Guest target = track(destination(RAM));
        IncomingMigration in = incoming(target);
        loadFrom(file, in);
        assertMigrated(source, target, out, in);
    }

    /** Runs {@code in} on the stream file {@code file} until its load has started. */
    private void loadFrom(Path file, IncomingMigration in) throws Exception {
        acceptAndLoad(track(MigrationUri.parse("file:" + file).listen()), in).get(GUARD.toSeconds(), TimeUnit.SECONDS);
    }

    /** Header 17 bytes, START 17 + 28 (one block "ram") + footer 5: the END section starts here. */
    /** Header, START ram and its footer, then the early vm-migrate/capabilities FULL section (50 bytes). */
    private static final int END_SECTION = 17 + 17 + 28 + 5 + 50;

    @Test
    void corruptRecordFailsTheIncomingMigrationAndTheGuestNeverRuns() throws Exception {
        byte[] stream = savedStream(savedSource());
        assertEquals(0x03, stream[END_SECTION], "END section");
        int firstRecord = END_SECTION + 5;
        stream[firstRecord + 7] = (byte) (stream[firstRecord + 7] | 0x80); // RDMA's hook: never valid here
        Guest target = track(destination(1L << 20));
        List<RunState> states = new CopyOnWriteArrayList<>();
        IncomingMigration in = loadFile(target, stream, states);
        assertEquals(MigrationStatus.FAILED, awaitIncoming(in));
        assertEquals(RunState.INTERNAL_ERROR, target.runState());
        assertFalse(states.contains(RunState.RUNNING), states.toString());
        assertTrue(in.error().contains("unknown RAM record flags"), in.error());
        assertTrue(in.error().contains("at offset " + firstRecord), in.error());
        assertEquals(IncomingMigration.Failure.STREAM, in.failure());
    }

    @Test
    void corruptPageFailsVerificationAndTheGuestNeverRuns() throws Exception {
        Guest source = savedSource();
        byte[] stream = savedStream(source);
        RamBlock block = source.ramBlocks().getFirst();
        long page = 0;
        while (block.isZeroPage(page)) {
            page++;
        }
        byte[] content = block.memory().asSlice(page * TargetPage.SIZE, TargetPage.SIZE)
                .toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        int at = indexOf(stream, content);
        assertTrue(at > END_SECTION, "page " + page + " is in the stream");
        stream[at + 100] ^= 0x01;
        Guest target = track(destination(1L << 20));
        List<RunState> states = new CopyOnWriteArrayList<>();
        IncomingMigration in = loadFile(target, stream, states);
        assertEquals(MigrationStatus.FAILED, awaitIncoming(in));
        assertEquals(RunState.INTERNAL_ERROR, target.runState());
        assertFalse(states.contains(RunState.RUNNING), states.toString());
        assertTrue(in.error().contains("verification failed"), in.error());
        assertTrue(in.error().contains("RAM digest mismatch"), in.error());
        assertEquals(IncomingMigration.Failure.VERIFICATION, in.failure());
    }

    @Test
    void intactSavedStreamLoadsAndRuns() throws Exception {
        Guest source = savedSource();
        byte[] stream = savedStream(source);
        Guest target = track(destination(1L << 20));
        List<RunState> states = new CopyOnWriteArrayList<>();
        IncomingMigration in = loadFile(target, stream, states);
        assertEquals(MigrationStatus.COMPLETED, awaitIncoming(in), in.error());
        assertEquals(RunState.RUNNING, target.runState());
        assertEquals(List.of(RunState.RUNNING), states);
        assertEquals(-1, source.ramBlocks().getFirst().memory().mismatch(target.ramBlocks().getFirst().memory()));
    }
}
