package dev.vmmigrate.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.ownsections.Capability;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.testing.FaultProxy;
import dev.vmmigrate.testing.FaultProxy.Direction;
import dev.vmmigrate.testing.FaultProxy.Kind;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import java.lang.foreign.MemorySegment;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Postcopy recovery (send and receive --reconnect, QEMU's postcopy-paused and recover): the link
 * breaks after the switch, both sides pause, the source's guest stays stopped with every page,
 * the destination's runs on and waits for the pages it lacks; the source connects again, asks
 * for the destination's received bitmaps, sends what it lacks, and the migration completes with
 * the RAM a clean run gives. When the window runs out neither side runs the guest.
 */
class PostcopyRecoveryLiveTest {
    private static final long RAM = 64L << 20;
    private static final Duration STALL = Duration.ofSeconds(1);
    private static final Duration WINDOW = Duration.ofSeconds(4);

    /** What one postcopy migration through the proxy left. */
    private record Outcome(MigrationStatus source, String sourceError, List<MigrationStatus> sourceStatuses,
                           List<String> sourceLink, MigrationStatus destination, String destinationError,
                           List<MigrationStatus> destinationStatuses, List<String> destinationLink,
                           RunState sourceState, boolean destinationRuns, MigrationInfo info, String faults,
                           long pagesDiffering, long pagesWrittenThere, boolean fired) {
        @Override
        public String toString() {
            return "source " + source + " (" + sourceError + ") " + sourceStatuses + " " + sourceLink
                    + ", destination " + destination + " (" + destinationError + ") " + destinationStatuses + " "
                    + destinationLink + ", " + info.reconnect() + ", " + faults;
        }
    }

    /**
     * A guest dirtying 64 MiB/s of 64 MiB over 16 MiB/s switches to postcopy after its first pass
     * (at about 50 MB of about 115 MB on the wire); {@code fault} hits the first connection.
     */
    private static Outcome migrate(FaultProxy.Fault fault, boolean restoring, boolean sourceResumes,
                                   boolean destinationResumes) throws Exception {
        try (Guest source = LiveMigrations.runningSource(RAM, "random:64M/s");
             Guest destination = LiveMigrations.destination(RAM);
             IncomingEndpoint endpoint = MigrationUri.parse("tcp:127.0.0.1:0").listen()) {
            VmControl receiver = VmControl.destination(destination, null, false);
            IncomingMigration incoming = receiver.incoming();
            incoming.stallTimeout(STALL);
            List<String> refused = new CopyOnWriteArrayList<>();
            if (destinationResumes) {
                incoming.resumeWithin(WINDOW, endpoint, refused::add);
            }
            LiveMigrations.Recorder destinationStatuses = new LiveMigrations.Recorder();
            incoming.addListener(destinationStatuses);
            LiveMigrations.LinkEvents destinationLink = new LiveMigrations.LinkEvents();
            incoming.addListener(destinationLink);
            LiveMigrations.acceptMigrationAndLoad(endpoint, incoming, refused::add);
            int port = Integer.parseInt(endpoint.boundAddress().substring(endpoint.boundAddress().lastIndexOf(':') + 1));
            try (FaultProxy proxy = restoring ? FaultProxy.restoring(port, fault) : new FaultProxy(port, fault)) {
                OutgoingMigration out = LiveMigrations.outgoing(source, 16L << 20, LiveMigrations.GUARD);
                out.setCapabilities(out.capabilities().with(Capability.RETURN_PATH, true)
                        .with(Capability.POSTCOPY_RAM, true));
                out.setPostcopyAfter(1);
                out.setStallTimeout(STALL);
                MigrationUri through = MigrationUri.parse("tcp:127.0.0.1:" + proxy.port());
                if (sourceResumes) {
                    out.setReconnect(WINDOW, through, MigrationUri::connect);
                }
                LiveMigrations.Recorder sourceStatuses = new LiveMigrations.Recorder();
                out.addListener(sourceStatuses);
                LiveMigrations.LinkEvents sourceLink = new LiveMigrations.LinkEvents();
                out.addListener(sourceLink);
                out.start(through.connect());
                MigrationStatus sourceEnd = LiveMigrations.awaitOutgoing(out);
                MigrationStatus destinationEnd = LiveMigrations.awaitIncoming(incoming);
                boolean runs = destination.isRunning();
                destination.stop(RunState.PAUSED); // the comparison needs RAM that stays put
                long differing = 0;
                long written = 0;
                RamBlock from = source.ramBlocks().getFirst();
                RamBlock to = destination.ramBlocks().getFirst();
                for (long page = 0; page < from.pageCount(); page++) {
                    if (to.dirty().isDirty(page)) {
                        written++; // the destination's guest wrote it after the switch
                        continue;
                    }
                    MemorySegment a = from.memory().asSlice(page * TargetPage.SIZE, TargetPage.SIZE);
                    MemorySegment b = to.memory().asSlice(page * TargetPage.SIZE, TargetPage.SIZE);
                    if (a.mismatch(b) != -1) {
                        differing++;
                    }
                }
                assertEquals(List.of(), refused, "only the resuming source came back");
                return new Outcome(sourceEnd, out.error(), sourceStatuses.statuses(), sourceLink.events, destinationEnd,
                        incoming.error(), destinationStatuses.statuses(), destinationLink.events, source.runState(),
                        runs, out.info(), incoming.postcopySummary(), differing, written, proxy.fired());
            }
        }
    }

    /**
     * A stream cut, reset or stall, or a return path cut or reset, after the switch: both sides
     * pause, recover and complete; every page the destination's guest did not write is the
     * source's at the switch; the counters say one reconnect and whole pages sent again.
     */
    @ParameterizedTest(name = "{0} {2} at {1}")
    // The return path carries the token's echo (12 bytes) and a PONG (8), then 23 bytes a page request:
    // the first two requests come right after the switch, long before the last page.
    @CsvSource({"FORWARD,62000000,CUT", "FORWARD,75000000,RESET", "FORWARD,90000000,STALL", "BACK,30,CUT",
            "BACK,50,RESET"})
    void aBreakAfterTheSwitchPausesAndRecovers(Direction direction, long offset, Kind kind) throws Exception {
        FaultProxy.Fault fault = new FaultProxy.Fault(direction, offset, kind);
        Outcome outcome = migrate(fault, true, true, true);
        System.out.println("[postcopy recovery] " + fault + ": " + outcome);
        assertTrue(outcome.fired(), fault + " fired");
        assertEquals(MigrationStatus.COMPLETED, outcome.source(), outcome.toString());
        assertEquals(MigrationStatus.COMPLETED, outcome.destination(), outcome.toString());
        assertEquals(List.of(MigrationStatus.SETUP, MigrationStatus.ACTIVE, MigrationStatus.POSTCOPY_ACTIVE,
                MigrationStatus.POSTCOPY_PAUSED, MigrationStatus.POSTCOPY_RECOVER, MigrationStatus.POSTCOPY_ACTIVE,
                MigrationStatus.COMPLETED), outcome.sourceStatuses(), outcome.toString());
        assertEquals(List.of(MigrationStatus.ACTIVE, MigrationStatus.POSTCOPY_ACTIVE, MigrationStatus.POSTCOPY_PAUSED,
                MigrationStatus.POSTCOPY_RECOVER_SETUP, MigrationStatus.POSTCOPY_RECOVER,
                MigrationStatus.POSTCOPY_ACTIVE, MigrationStatus.COMPLETED), outcome.destinationStatuses(),
                outcome.toString());
        assertEquals(RunState.POSTMIGRATE, outcome.sourceState(), "the source's guest is retired");
        assertTrue(outcome.destinationRuns(), "the destination's guest ran on through the pause and after");
        assertEquals(0, outcome.pagesDiffering(), "pages that differ from the source's at the switch: " + outcome);
        assertTrue(outcome.pagesWrittenThere() > 0, outcome.toString());

        MigrationInfo.Reconnect figures = outcome.info().reconnect();
        assertNotNull(figures);
        assertEquals(1, figures.reconnects(), outcome.toString());
        assertEquals(0, figures.resentBytes() % TargetPage.SIZE, "whole pages go again: " + figures);
        if (direction == Direction.FORWARD) {
            assertTrue(figures.resentBytes() > 0, "pages in flight on the broken stream go again: " + figures);
        }
        assertTrue(outcome.info().ram().postcopyRequests() > 0, "the source served requests: " + outcome.info());
        assertFalse(outcome.faults().startsWith("0 "), "the guest waited for pages: " + outcome.faults());

        assertEquals(2, outcome.sourceLink().size(), outcome.toString());
        assertTrue(outcome.sourceLink().get(0).startsWith("down: link to the destination lost after the switch to "
                + "postcopy"), outcome.toString());
        assertTrue(outcome.sourceLink().get(1).startsWith("up: postcopy resumed on a new link"), outcome.toString());
        java.util.regex.Matcher lost = java.util.regex.Pattern.compile(", (\\d+) of them sent before and lost with the "
                + "old link$").matcher(outcome.sourceLink().get(1));
        assertTrue(lost.find(), outcome.sourceLink().get(1));
        assertEquals(Long.parseLong(lost.group(1)) * TargetPage.SIZE, figures.resentBytes(),
                "resent-bytes counts the pages lost with the old link");
        assertTrue(outcome.destinationLink().get(0).startsWith("down: link to the source lost after the switch"),
                outcome.toString());
        assertTrue(outcome.destinationLink().getLast().startsWith("up: postcopy resumed"), outcome.toString());
    }

    /**
     * The source cannot come back within the window (the link stays down): both sides fail and
     * neither guest runs; each side's error says what it holds.
     */
    @Test
    void aLinkThatStaysDownFailsBothSidesAndNeitherGuestRuns() throws Exception {
        long started = System.nanoTime();
        Outcome outcome = migrate(new FaultProxy.Fault(Direction.FORWARD, 70_000_000, Kind.RESET), false, true, true);
        assertEquals(MigrationStatus.FAILED, outcome.source(), outcome.toString());
        assertEquals(MigrationStatus.FAILED, outcome.destination(), outcome.toString());
        assertTrue(outcome.sourceStatuses().contains(MigrationStatus.POSTCOPY_PAUSED), outcome.toString());
        assertTrue(outcome.destinationStatuses().contains(MigrationStatus.POSTCOPY_PAUSED), outcome.toString());
        assertTrue(outcome.sourceError().startsWith("postcopy failed after the destination started the guest, so it "
                + "stays stopped here with its RAM as it was at the switch"), outcome.sourceError());
        assertTrue(outcome.sourceError().endsWith("and the destination could not be reached again within "
                + WINDOW.toSeconds() + " s"), outcome.sourceError());
        assertTrue(outcome.destinationError().startsWith("postcopy failed after the guest started here, so it is "
                + "stopped with its RAM incomplete"), outcome.destinationError());
        assertTrue(outcome.destinationError().contains("the source did not resume within " + WINDOW.toSeconds() + " s"),
                outcome.destinationError());
        assertEquals(RunState.POSTMIGRATE, outcome.sourceState());
        assertFalse(outcome.destinationRuns(), "the incomplete guest stops");
        assertTrue(System.nanoTime() - started > WINDOW.toNanos(), "both waited the window out");
    }

    /** Without receive --reconnect the source does not wait: postcopy fails as before, both guests stopped. */
    @Test
    void aDestinationThatDoesNotResumeFailsAtOnce() throws Exception {
        Outcome outcome = migrate(new FaultProxy.Fault(Direction.FORWARD, 70_000_000, Kind.RESET), true, true, false);
        assertEquals(MigrationStatus.FAILED, outcome.source(), outcome.toString());
        assertEquals(MigrationStatus.FAILED, outcome.destination(), outcome.toString());
        assertTrue(outcome.sourceError().endsWith("(the destination was not started with --reconnect, so the "
                + "migration cannot resume)"), outcome.sourceError());
        assertFalse(outcome.sourceStatuses().contains(MigrationStatus.POSTCOPY_PAUSED), outcome.toString());
        assertFalse(outcome.destinationStatuses().contains(MigrationStatus.POSTCOPY_PAUSED), outcome.toString());
        assertEquals(RunState.POSTMIGRATE, outcome.sourceState());
        assertFalse(outcome.destinationRuns());
    }
}
