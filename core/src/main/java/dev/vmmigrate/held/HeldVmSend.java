package dev.vmmigrate.held;

import dev.vmmigrate.migration.MigrationInfo;
import dev.vmmigrate.migration.MigrationListener;
import dev.vmmigrate.migration.MigrationStatus;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.ram.RamStats;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.transport.Connection;
import java.io.IOException;

/**
 * Sends a held VM once, stopped, as one compact stream ({@code send --load} of a QEMU VM): there
 * is nothing to iterate, since it does not run, and QEMU's destination resumes it or not as its
 * globalstate says.
 */
public final class HeldVmSend {
    private HeldVmSend() {
    }

    /** Writes {@code vm} to {@code connection} and closes it; the listener sees active, then completed or failed. */
    public static MigrationInfo send(HeldVm vm, Connection connection, MigrationListener listener) {
        long start = System.currentTimeMillis();
        listener.statusChanged(MigrationStatus.ACTIVE, MigrationInfo.of(MigrationStatus.ACTIVE.qmpName(), 0L, null));
        MigrationStatus end;
        String error = null;
        long sent = 0;
        RamStats ram = new RamStats();
        try (connection; MigrationOutput out = new MigrationOutput(connection.output(), connection::shutdown)) {
            ram = vm.save(out);
            sent = out.position();
            end = MigrationStatus.COMPLETED;
        } catch (IOException | RuntimeException e) {
            end = MigrationStatus.FAILED;
            error = "sending the VM failed: " + (e.getMessage() == null ? e.toString() : e.getMessage());
        }
        long total = System.currentTimeMillis() - start;
        MigrationInfo info = new MigrationInfo(end.qmpName(), total, 0L, end == MigrationStatus.COMPLETED ? total : null,
                null, new MigrationInfo.Ram(sent, 0, vm.ramBytes(), ram.duplicatePages.get(), 0, ram.normalPages.get(),
                        ram.normalBytes.get(), 0, total == 0 ? 0 : sent * 8.0 / 1000 / total, 1, TargetPage.SIZE,
                        0, 0, sent, 0, 0, 0),
                null, null, null, null, null, error);
        listener.statusChanged(end, info);
        return info;
    }
}
