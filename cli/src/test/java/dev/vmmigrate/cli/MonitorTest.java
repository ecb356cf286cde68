package dev.vmmigrate.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.guest.Workload;
import dev.vmmigrate.migration.MigrationParameters;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.transport.IncomingEndpoint;
import dev.vmmigrate.transport.MigrationUri;
import java.io.IOException;
import java.time.Duration;
import dev.vmmigrate.migration.VmControl;
import dev.vmmigrate.qmp.Qmp;
import java.io.ByteArrayOutputStream;
import java.io.PipedInputStream;
import java.io.PipedOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.jline.terminal.Terminal;
import org.jline.terminal.impl.DumbTerminal;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The HMP monitor on jline's dumb terminal over pipes: commands in, QEMU's HMP layouts out, history kept. */
class MonitorTest {
    @TempDir
    Path dir;

    @Test
    void hmpCommandsDriveTheVmAndPrintInQemusLayout() throws Exception {
        try (Guest guest = Guest.builder().ramSize(4L << 20).build()) {
            VmControl vm = VmControl.source(guest, false, null);
            CountDownLatch quit = new CountDownLatch(1);
            Qmp qmp = new Qmp(vm, "vm-migrate test", quit::countDown);
            HmpCommands hmp = new HmpCommands(qmp, () -> "none");
            assertEquals("VM status: paused (prelaunch)\n", hmp.run("info status"));
            assertEquals("", hmp.run("cont"));
            assertEquals("VM status: running\n", hmp.run("info status"));
            assertEquals("", hmp.run("migrate_set_parameter max-bandwidth 32M"));
            assertEquals("", hmp.run("migrate_set_parameter downtime-limit 500"));
            String parameters = hmp.run("info migrate_parameters");
            assertTrue(parameters.contains("max-bandwidth: 33554432 bytes/second\n"), parameters);
            assertTrue(parameters.contains("downtime-limit: 500 ms\n"), parameters);
            assertEquals("Error: invalid xbzrle cache size 67108864: cache size exceeds guest ram size",
                    hmp.run("migrate_set_capability xbzrle on"), "the default 64 MiB cache is more than this guest's RAM");
            assertEquals("", hmp.run("migrate_set_parameter xbzrle-cache-size 1M"));
            assertEquals("xbzrle cache size: 1024 kbytes\n", hmp.run("info migrate_cache_size"));
            assertEquals("", hmp.run("migrate_set_capability xbzrle on"));
            assertTrue(hmp.run("info migrate_capabilities").startsWith("xbzrle: on\nrdma-pin-all: off\n"));
            assertEquals("Error: Multifd is not compatible with xbzrle", hmp.run("migrate_set_capability multifd on"),
                    "QEMU 10.0's migrate_caps_check");
            assertEquals("", hmp.run("migrate_set_capability xbzrle off"));
            assertEquals("", hmp.run("migrate_set_capability multifd on"));
            assertEquals("", hmp.run("migrate_set_parameter multifd-channels 4"));
            assertTrue(hmp.run("info migrate_parameters").contains("multifd-channels: 4\n"));
            assertEquals("", hmp.run("migrate_set_parameter multifd-compression zlib"));
            assertTrue(hmp.run("info migrate_parameters").contains("multifd-compression: zlib\n"));
            assertTrue(hmp.run("info migrate_capabilities").contains("multifd: on\n"));
            assertEquals("unknown command: 'frobnicate' (help lists the commands)", hmp.run("frobnicate"));
            assertTrue(hmp.run("help").contains("migrate_set_parameter NAME VALUE"));
            assertEquals("", hmp.run("info migrate"), "no migration yet: nothing to show, as QEMU");

            // The same commands through the monitor's line reader, history saved at close.
            PipedOutputStream typed = new PipedOutputStream();
            PipedInputStream input = new PipedInputStream(typed);
            ByteArrayOutputStream screen = new ByteArrayOutputStream();
            Path history = dir.resolve("history");
            Terminal terminal = new DumbTerminal(input, screen);
            Monitor monitor = Monitor.on(terminal, history);
            monitor.start(qmp, vm.outgoing());
            typed.write("stop\ninfo status\nquit\n".getBytes(StandardCharsets.UTF_8));
            typed.flush();
            assertTrue(quit.await(30, TimeUnit.SECONDS), "quit reached QMP: " + screen);
            monitor.close();
            assertTrue(screen.toString(StandardCharsets.UTF_8).contains("VM status: paused"), screen.toString());
            assertTrue(Files.readString(history).contains("info status"), "history kept");
        }
    }

    /**
     * A migration in flight, seen and steered from the monitor's prompt: info migrate while it is
     * throttled to 64 KiB/s (8 MiB to send: two minutes) shows it active, migrate_set_parameter max-bandwidth lifts the limit and
     * it completes, info migrate then says so.
     */
    @Test
    void infoMigrateAndASpeedChangeWhileAMigrationRuns() throws Exception {
        try (Guest source = Guest.builder().ramSize(16L << 20).build();
             Guest destination = Guest.builder().ramSize(16L << 20).incoming(true).build();
             IncomingEndpoint endpoint = MigrationUri.parse("tcp:127.0.0.1:0").listen()) {
            for (RamBlock block : source.ramBlocks()) {
                Workload.fillHalfRandom(block, 3);
            }
            VmControl receiver = VmControl.destination(destination, null, true);
            Thread.ofVirtual().start(() -> {
                try {
                    receiver.incoming().start(endpoint.accept());
                } catch (IOException e) {
                    receiver.incoming().cancel();
                }
            });
            VmControl vm = VmControl.source(source, false, null);
            vm.outgoing().setParameters(new MigrationParameters(64 << 10, MigrationParameters.DEFAULT_DOWNTIME_LIMIT,
                    null));
            Qmp qmp = new Qmp(vm, "vm-migrate test", () -> { });
            PipedOutputStream typed = new PipedOutputStream();
            ByteArrayOutputStream screen = new ByteArrayOutputStream();
            Monitor monitor = Monitor.on(new DumbTerminal(new PipedInputStream(typed), screen), dir.resolve("history"));
            monitor.start(qmp, vm.outgoing());
            type(typed, "migrate -d " + endpoint.boundAddress());
            awaitScreen(typed, screen, "info migrate", "Migration status: active");
            assertEquals(MigrationStatus.ACTIVE, vm.outgoing().status(), "throttled: still running");
            type(typed, "migrate_set_parameter max-bandwidth 0");
            assertEquals(MigrationStatus.COMPLETED, vm.outgoing().awaitFinished(Duration.ofSeconds(60)),
                    "the lifted limit lets it finish within the minute: " + screen);
            awaitScreen(typed, screen, "info migrate", "Migration status: completed");
            assertEquals(MigrationStatus.COMPLETED, receiver.incoming().awaitFinished());
            monitor.close();
        }
    }

    private static void type(PipedOutputStream typed, String line) throws IOException {
        typed.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        typed.flush();
    }

    /** Types {@code command} until the screen shows {@code expected} (a minute at most). */
    private static void awaitScreen(PipedOutputStream typed, ByteArrayOutputStream screen, String command,
                                    String expected) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!screen.toString(StandardCharsets.UTF_8).contains(expected)) {
            assertTrue(System.nanoTime() < deadline, "no '" + expected + "' on the monitor: " + screen);
            type(typed, command);
            Thread.sleep(200);
        }
    }
}
