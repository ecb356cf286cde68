package dev.vmmigrate.migration;

import dev.vmmigrate.savevm.MigrationCommand;
import dev.vmmigrate.savevm.SaveVm;
import dev.vmmigrate.savevm.SectionType;
import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import dev.vmmigrate.stream.StreamFormatException;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * vm-migrate's commit, the last step of a confirmed handoff between two vm-migrate processes
 * (QEMU has none): the destination loads and verifies the VM and says so on the return path
 * (SHUT 0) but does not run it; the source then retires its guest for good and sends this commit
 * after the stream's end, and only then does the destination run the guest. A commit that never
 * comes leaves the verified guest paused at the destination, so two copies never run.
 * On the wire: a COMMAND PING carrying {@link #COMMIT} after the vmdesc, where only a vm-migrate
 * destination that asked for it reads.
 */
final class Handoff {
    /** "VMMC". */
    static final int COMMIT = 0x564d4d43;
    /**
     * "VMMS": the value of a vm-migrate source's first PING, so that its destination knows before
     * anything can fail that the source reads its reasons and will commit.
     */
    static final int VM_MIGRATE_SOURCE = 0x564d4d53;

    private Handoff() {
    }

    static void writeCommit(MigrationOutput out) throws IOException {
        SaveVm.writeCommand(out, MigrationCommand.PING, ByteBuffer.allocate(4).putInt(COMMIT).array());
        out.flush();
    }

    /** Reads the commit; throws when the bytes there are anything else. */
    static void readCommit(MigrationInput in) throws IOException {
        long at = in.position();
        int type = in.readU8();
        int command = in.readBe16();
        int length = in.readBe16();
        if (type != SectionType.COMMAND.code() || command != MigrationCommand.PING.code() || length != 4
                || in.readBe32() != COMMIT) {
            throw new StreamFormatException("expected the source's commit after the stream's end", at);
        }
    }
}
