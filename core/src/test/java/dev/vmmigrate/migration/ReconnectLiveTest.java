package dev.vmmigrate.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.ownsections.Capability;
import dev.vmmigrate.testing.FaultProxy;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Resume after a dropped link (send and receive --reconnect), through a proxy whose first
 * connection breaks and whose later ones go through: the migration goes on where the
 * destination got to, the guest running at the source meanwhile, and ends with the same RAM.
 */
class ReconnectLiveTest {
    private static final long RAM = 32L << 20;
    private static final long BANDWIDTH = 16L << 20;
    private static final Duration STALL = Duration.ofSeconds(1);
    private static final Duration WINDOW = Duration.ofSeconds(4);

    /** What one migration through the proxy left. */
    private record Outcome(MigrationStatus source, String sourceError, boolean sourceRuns, MigrationStatus destination,
                           String destinationError, boolean destinationRuns, long wireBytes, MigrationInfo info,
                           List<String> sourceLinkEvents, List<String> destinationLinkEvents, boolean ramEqual,
                           List<String> refused) {
        @Override
        public String toString() {
            return "source " + source + " (" + sourceError + ", runs " + sourceRuns + "), destination " + destination
                    + " (" + destinationError + ", runs " + destinationRuns + "), " + wireBytes + " bytes on the wire, "
                    + (info.reconnect() == null ? "no reconnect figures" : info.reconnect().toString())
                    + ", link events " + sourceLinkEvents + " / " + destinationLinkEvents;
        }
    }

    private static Outcome migrate(FaultProxy.Fault fault, boolean sourceResumes, boolean destinationResumes)
            throws Exception {
        return migrate(fault, sourceResumes, destinationResumes, MigrationParameters.DEFAULT_DOWNTIME_LIMIT);
    }

    private static Outcome migrate(FaultProxy.Fault fault, boolean sourceResumes, boolean destinationResumes,
                                   Duration downtimeLimit) throws Exception {
        try (Guest source = LiveMigrations.runningSource(RAM, "random:4M/s");
             Guest destination = LiveMigrations.destination(RAM);
             IncomingEndpoint endpoint = MigrationUri.parse("tcp:127.0.0.1:0").listen()) {
            IncomingMigration incoming = LiveMigrations.incoming(destination);
            incoming.stallTimeout(STALL);
            List<String> refused = new CopyOnWriteArrayList<>();
            if (destinationResumes) {
                incoming.resumeWithin(WINDOW, endpoint, refused::add);
            }
            LiveMigrations.LinkEvents destinationLink = new LiveMigrations.LinkEvents();
            incoming.addListener(destinationLink);
            java.util.concurrent.CompletableFuture<Void> accepted =
                    LiveMigrations.acceptMigrationAndLoad(endpoint, incoming, refused::add);
            int port = Integer.parseInt(endpoint.boundAddress().substring(endpoint.boundAddress().lastIndexOf(':') + 1));
            try (FaultProxy proxy = FaultProxy.restoring(port, fault)) {
                OutgoingMigration outgoing = LiveMigrations.outgoing(source, BANDWIDTH, null);
                outgoing.setParameters(new MigrationParameters(BANDWIDTH, downtimeLimit, null));
                outgoing.setCapabilities(MigrationCapabilities.none().with(Capability.RETURN_PATH, true));
                outgoing.setStallTimeout(STALL);
                MigrationUri through = MigrationUri.parse("tcp:127.0.0.1:" + proxy.port());
                if (sourceResumes) {
                    outgoing.setReconnect(WINDOW, through, MigrationUri::connect);
                }
                LiveMigrations.LinkEvents sourceLink = new LiveMigrations.LinkEvents();
                outgoing.addListener(sourceLink);
                outgoing.start(through.connect());
                MigrationStatus sourceEnd = LiveMigrations.awaitOutgoing(outgoing);
                // A first connection broken before its header is screened out: no migration began there.
                // The source has ended, so an admission has come by now or never will (2 s for a
                // screening still under way).
                MigrationStatus destinationEnd = startedWithin(accepted, Duration.ofSeconds(2))
                        ? LiveMigrations.awaitIncoming(incoming) : MigrationStatus.NONE;
                boolean ramEqual = source.ramBlocks().getFirst().memory()
                        .mismatch(destination.ramBlocks().getFirst().memory()) == -1;
                return new Outcome(sourceEnd, outgoing.error(), source.isRunning(), destinationEnd, incoming.error(),
                        destination.isRunning(), proxy.forwarded(), outgoing.info(), sourceLink.events,
                        destinationLink.events, ramEqual, refused);
            }
        }
    }

    private static boolean startedWithin(java.util.concurrent.CompletableFuture<Void> accepted, Duration limit)
            throws Exception {
        try {
            accepted.get(limit.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            return true;
        } catch (java.util.concurrent.TimeoutException e) {
            return false;
        }
    }

    private static long cleanRunBytes() throws Exception {
        Outcome clean = migrate(FaultProxy.Fault.none(), true, true);
        assertEquals(MigrationStatus.COMPLETED, clean.source(), clean.toString());
        assertEquals(0, clean.info().reconnect().reconnects(), clean.toString());
        return clean.wireBytes();
    }

    /** The case: a reset at 40 % with --reconnect on both ends completes, with the same RAM, for under 1.5x the bytes. */
    @Test
    void aResetAtFortyPercentResumesAndCompletes() throws Exception {
        long clean = cleanRunBytes();
        Outcome outcome = migrate(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, clean * 4 / 10,
                FaultProxy.Kind.RESET), true, true);
        System.out.println("[reconnect] reset at 40 %: " + outcome + " (clean run " + clean + " bytes)");
        assertEquals(MigrationStatus.COMPLETED, outcome.source(), outcome.toString());
        assertEquals(MigrationStatus.COMPLETED, outcome.destination(), outcome.toString());
        assertTrue(outcome.ramEqual(), "destination RAM differs from the source's");
        assertFalse(outcome.sourceRuns(), "the source retired its guest");
        MigrationInfo.Reconnect figures = outcome.info().reconnect();
        assertNotNull(figures);
        assertEquals(1, figures.reconnects());
        assertTrue(figures.resentBytes() > 0, "the bytes in flight when the link broke go again: " + figures);
        assertTrue(outcome.wireBytes() < clean * 3 / 2, outcome.wireBytes() + " bytes on the wire, clean " + clean);
        assertEquals(2, outcome.sourceLinkEvents().size(), outcome.sourceLinkEvents().toString());
        assertTrue(outcome.sourceLinkEvents().get(0).startsWith("down: link to the destination lost at stream offset"),
                outcome.sourceLinkEvents().toString());
        assertTrue(outcome.sourceLinkEvents().get(1).startsWith("up: link to the destination resumed"),
                outcome.sourceLinkEvents().toString());
        assertEquals(2, outcome.destinationLinkEvents().size(), outcome.destinationLinkEvents().toString());
        assertEquals(List.of(), outcome.refused());
    }

    /**
     * A break while the switchover's last pages come (the END section) resumes too: the source
     * keeps its guest stopped, connects again and sends the switchover again from where the
     * destination read whole. A downtime limit the whole RAM fits in makes the first pass the
     * switchover, so that half the clean run's bytes is inside its END.
     */
    @Test
    void aResetAmongTheSwitchoversLastPagesResumesAndCompletes() throws Exception {
        Duration everythingFits = Duration.ofSeconds(60);
        Outcome clean = migrate(FaultProxy.Fault.none(), true, true, everythingFits);
        assertEquals(MigrationStatus.COMPLETED, clean.source(), clean.toString());
        assertTrue(clean.info().ram().downtimeBytes() > clean.wireBytes() / 2,
                "the END section carries most bytes: " + clean.info().ram().downtimeBytes() + " of " + clean.wireBytes());
        Outcome outcome = migrate(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, clean.wireBytes() / 2,
                FaultProxy.Kind.RESET), true, true, everythingFits);
        System.out.println("[reconnect] reset in the END section: " + outcome);
        assertEquals(MigrationStatus.COMPLETED, outcome.source(), outcome.toString());
        assertEquals(MigrationStatus.COMPLETED, outcome.destination(), outcome.toString());
        assertTrue(outcome.ramEqual(), "destination RAM differs from the source's");
        assertEquals(1, outcome.info().reconnect().reconnects(), outcome.toString());
        assertTrue(outcome.sourceLinkEvents().getFirst().endsWith("the guest stays stopped"),
                outcome.sourceLinkEvents().toString());
        assertEquals(2, outcome.destinationLinkEvents().size(), outcome.destinationLinkEvents().toString());
    }

    /** A link that stalls (peer alive, no bytes) is given up after the stall timeout and resumed like a broken one. */
    @Test
    void aStalledLinkIsGivenUpAndResumed() throws Exception {
        long clean = cleanRunBytes();
        Outcome outcome = migrate(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, clean / 2,
                FaultProxy.Kind.STALL), true, true);
        assertEquals(MigrationStatus.COMPLETED, outcome.source(), outcome.toString());
        assertEquals(MigrationStatus.COMPLETED, outcome.destination(), outcome.toString());
        assertTrue(outcome.ramEqual(), "destination RAM differs from the source's");
        // Either end may notice first; the other then sees the link close.
        assertTrue(outcome.sourceLinkEvents().getFirst().contains("stalled")
                || outcome.destinationLinkEvents().getFirst().contains("stalled"), outcome.toString());
    }

    /** Without receive --reconnect the source cannot resume, says why, and its guest runs on. */
    @Test
    void aDestinationThatDoesNotResumeFailsTheSourceWithTheReason() throws Exception {
        long clean = cleanRunBytes();
        Outcome outcome = migrate(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, clean * 4 / 10,
                FaultProxy.Kind.RESET), true, false);
        assertEquals(MigrationStatus.FAILED, outcome.source(), outcome.toString());
        assertTrue(outcome.sourceError().endsWith("(the destination was not started with --reconnect, so the "
                + "migration cannot resume)"), outcome.sourceError());
        assertTrue(outcome.sourceRuns(), "the source guest runs on");
        assertFalse(outcome.destinationRuns());
    }

    /** A destination that resumes does not wait for a source that never offered to: it fails at once; the guest never runs there. */
    @Test
    void aSourceThatDoesNotResumeLeavesTheDestinationFailedAtOnce() throws Exception {
        long clean = cleanRunBytes();
        long started = System.nanoTime();
        Outcome outcome = migrate(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, clean * 4 / 10,
                FaultProxy.Kind.CUT), false, true);
        assertEquals(MigrationStatus.FAILED, outcome.source(), outcome.toString());
        assertEquals(MigrationStatus.FAILED, outcome.destination(), outcome.toString());
        assertTrue(outcome.destinationError().startsWith("load of migration failed: truncated stream"),
                outcome.destinationError());
        assertTrue(outcome.destinationLinkEvents().isEmpty(), outcome.toString());
        assertTrue(System.nanoTime() - started < WINDOW.toNanos(), "waited for a source that cannot resume");
        assertTrue(outcome.sourceRuns());
        assertFalse(outcome.destinationRuns());
    }

    static Stream<FaultProxy.Fault> faults() throws Exception {
        long clean = cleanRunBytes();
        List<FaultProxy.Fault> faults = new ArrayList<>();
        for (FaultProxy.Kind kind : new FaultProxy.Kind[] {FaultProxy.Kind.RESET, FaultProxy.Kind.CUT}) {
            // Setup (before RAM iterates: not resumable), bulk and iteration, the switchover's end.
            for (long offset : new long[] {0, 17, 60, 300, clean / 10, clean / 4, clean * 7 / 10, clean - 200}) {
                faults.add(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, offset, kind));
            }
        }
        return faults.stream();
    }

    /** Wherever the link breaks, a resumable migration completes with the same RAM or fails with the guest at the source only. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("faults")
    void anyBreakCompletesWithTheSameRamOrLeavesTheSourceRunning(FaultProxy.Fault fault) throws Exception {
        Outcome outcome = migrate(fault, true, true);
        System.out.println("[reconnect] " + fault + ": " + outcome);
        assertFalse(outcome.sourceRuns() && outcome.destinationRuns(), "two copies run: " + outcome);
        if (outcome.source() == MigrationStatus.COMPLETED) {
            assertEquals(MigrationStatus.COMPLETED, outcome.destination(), outcome.toString());
            assertTrue(outcome.ramEqual(), "completed with different RAM: " + outcome);
        } else {
            assertEquals(MigrationStatus.FAILED, outcome.source(), outcome.toString());
            assertTrue(outcome.sourceRuns(), "a failed migration leaves the source running: " + outcome);
            assertFalse(outcome.destinationRuns(), outcome.toString());
            assertTrue(outcome.destination() == MigrationStatus.FAILED || outcome.destination() == MigrationStatus.NONE,
                    outcome.toString());
        }
    }
}
