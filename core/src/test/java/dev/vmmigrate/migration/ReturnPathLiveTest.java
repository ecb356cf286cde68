package dev.vmmigrate.migration;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.RunState;
import dev.vmmigrate.ownsections.Capability;
import dev.vmmigrate.testing.FaultProxy;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The return path between two vm-migrate ends, through a fault-injecting proxy: whatever breaks
 * and wherever, at most one side runs the guest, the source reports completed only when the
 * destination loaded and verified it, and nothing waits longer than the stall timeout.
 */
class ReturnPathLiveTest {
    private static final long RAM = 4L << 20;
    private static final Duration STALL = Duration.ofSeconds(1);

    /** The outcome of one migration through the proxy. */
    private record Outcome(MigrationStatus source, String sourceError, boolean sourceRuns,
                           MigrationStatus destination, IncomingMigration.Failure destinationFailure,
                           String destinationError, boolean destinationRuns, long streamBytes, boolean faulted) {
        @Override
        public String toString() {
            return (faulted ? "" : "(fault not reached) ") + "source " + source + " (" + sourceError + ", runs "
                    + sourceRuns + "), destination " + destination + " " + destinationFailure + " ("
                    + destinationError + ", runs " + destinationRuns + ")";
        }
    }

    /**
     * One test case: a fault, on a running guest whose workload dirties pages (so its stream
     * iterates, and its length varies a little from run to run), or on a paused one, whose
     * stream has the same length every time, so faults can be aimed at its device state and
     * trailer.
     */
    record Case(FaultProxy.Fault fault, boolean running) {
        @Override
        public String toString() {
            return fault + (running ? ", running guest" : ", paused guest");
        }
    }

    private static Outcome migrate(FaultProxy.Fault fault, long destinationRam) throws Exception {
        return migrate(fault, destinationRam, true);
    }

    private static Outcome migrate(FaultProxy.Fault fault, long destinationRam, boolean running) throws Exception {
        try (Guest source = running ? LiveMigrations.runningSource(RAM, "random:4M/s") : pausedSource();
             Guest destination = LiveMigrations.destination(destinationRam);
             IncomingEndpoint endpoint = MigrationUri.parse("tcp:127.0.0.1:0").listen()) {
            IncomingMigration incoming = MachineStreams.of(destination, false).incoming(destination, false);
            incoming.stallTimeout(STALL);
            LiveMigrations.acceptAndLoad(endpoint, incoming);
            int port = Integer.parseInt(endpoint.boundAddress().substring(endpoint.boundAddress().lastIndexOf(':') + 1));
            try (FaultProxy proxy = new FaultProxy(port, fault)) {
                OutgoingMigration outgoing = LiveMigrations.outgoing(source, 32L << 20, null);
                outgoing.setCapabilities(MigrationCapabilities.none().with(Capability.RETURN_PATH, true));
                outgoing.setStallTimeout(STALL);
                long started = System.nanoTime();
                outgoing.start(MigrationUri.parse("tcp:127.0.0.1:" + proxy.port()).connect());
                MigrationStatus sourceEnd = LiveMigrations.awaitOutgoing(outgoing);
                MigrationStatus destinationEnd = LiveMigrations.awaitIncoming(incoming);
                long seconds = (System.nanoTime() - started) / 1_000_000_000L;
                assertTrue(seconds < 10, fault + ": took " + seconds + " s (stall timeout " + STALL + ")");
                return new Outcome(sourceEnd, outgoing.error(), source.isRunning(), destinationEnd,
                        incoming.failure(), incoming.error(), destination.isRunning(), proxy.forwarded(), proxy.fired());
            }
        }
    }

    private static Guest pausedSource() throws InterruptedException {
        Guest guest = LiveMigrations.runningSource(RAM, "none");
        guest.stop(RunState.PAUSED);
        return guest;
    }

    @Test
    void cleanRunIsConfirmedAndHandedOver() throws Exception {
        Outcome outcome = migrate(FaultProxy.Fault.none(), RAM);
        assertEquals(MigrationStatus.COMPLETED, outcome.source(), outcome.toString());
        assertEquals(MigrationStatus.COMPLETED, outcome.destination(), outcome.toString());
        assertFalse(outcome.sourceRuns());
        assertTrue(outcome.destinationRuns(), "the destination runs the guest once the source committed");
    }

    /** The case: a 4 MiB guest, whose whole stream fits in the socket buffers, refused by a 2 MiB destination. */
    @Test
    void aRefusalFailsTheSourceWithTheDestinationsReason() throws Exception {
        Outcome outcome = migrate(FaultProxy.Fault.none(), RAM / 2);
        assertEquals(MigrationStatus.FAILED, outcome.source(), outcome.toString());
        assertTrue(outcome.sourceError().startsWith("the destination refused the migration: RAM block 'ram' has "
                + RAM + " bytes in the stream but " + RAM / 2 + " in this guest"), outcome.sourceError());
        assertTrue(outcome.sourceRuns(), "the source guest runs again");
        assertFalse(outcome.destinationRuns());
    }

    static Stream<Case> faults() throws Exception {
        long running = migrate(FaultProxy.Fault.none(), RAM, true).streamBytes();
        long paused = migrate(FaultProxy.Fault.none(), RAM, false).streamBytes();
        List<Case> cases = new ArrayList<>();
        for (FaultProxy.Kind kind : FaultProxy.Kind.values()) {
            // Setup, bulk and iteration of a running guest.
            for (long offset : new long[] {0, 17, 60, 300, running / 10, running / 2, running * 9 / 10}) {
                cases.add(new Case(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, offset, kind), true));
            }
            // The completion, device state and trailer (digest, EOF, vmdesc, commit) of a paused one.
            for (long offset : new long[] {paused - 1500, paused - 600, paused - 300, paused - 100, paused - 9}) {
                cases.add(new Case(new FaultProxy.Fault(FaultProxy.Direction.FORWARD, offset, kind), false));
            }
            for (long offset : new long[] {0, 4, 8, 12}) { // the PONG, then the SHUT
                cases.add(new Case(new FaultProxy.Fault(FaultProxy.Direction.BACK, offset, kind), true));
            }
        }
        return cases.stream();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("faults")
    void anyFaultLeavesAtMostOneRunningCopyAndNoFalseSuccess(Case test) throws Exception {
        Outcome outcome = migrate(test.fault(), RAM, test.running());
        System.out.println("[return path] " + test + ": " + outcome);
        if (!test.running()) {
            assertTrue(outcome.faulted(), "a paused guest's stream has a fixed length: the fault must be reached");
        }
        assertFalse(outcome.sourceRuns() && outcome.destinationRuns(), "two copies run: " + outcome);
        if (outcome.source() == MigrationStatus.COMPLETED) {
            assertTrue(outcome.destination() == MigrationStatus.COMPLETED
                            || outcome.destinationFailure() == IncomingMigration.Failure.UNCOMMITTED,
                    "the source completed but the destination did not load and verify: " + outcome);
        } else {
            assertEquals(MigrationStatus.FAILED, outcome.source(), outcome.toString());
            assertEquals(test.running(), outcome.sourceRuns(), "a failed migration leaves the source as it was: "
                    + outcome);
        }
        if (outcome.destinationFailure() == IncomingMigration.Failure.UNCOMMITTED) {
            assertFalse(outcome.destinationRuns(), "an uncommitted guest stays paused: " + outcome);
        }
    }
}
