package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.MigrationOutput;
import java.io.IOException;

/**
 * State that is sent over several passes while the guest runs (QEMU's SaveVMHandlers with
 * save_live_*): RAM, disk. The engine frames each call as a START, PART or END section.
 */
public interface IterativeHandler {
    /** Section id string, e.g. {@code ram}. */
    String idstr();

    default int instanceId() {
        return 0;
    }

    int version();

    /** Begins: writes the START payload (QEMU's save_setup). */
    void saveSetup(MigrationOutput out) throws IOException;

    /**
     * Bytes still to send. When the estimate is under {@code threshold} the handler may sync
     * its dirty tracking first to get a true figure, as QEMU's save_live_pending does.
     */
    long pending(long threshold);

    /**
     * Writes one PART payload: as much as the output's rate limit allows.
     *
     * @return true when nothing is left to send right now
     */
    boolean saveIterate(MigrationOutput out) throws IOException;

    /** With the guest stopped: writes everything left (the END payload). */
    void saveComplete(MigrationOutput out) throws IOException;

    /** Reads one START, PART or END payload. */
    void load(MigrationInput in, SectionType type, int version) throws IOException;

    /**
     * For a resumed migration's RECV_BITMAP: by block, the pages this load holds (QEMU's
     * receivedmap); none for a handler that does not resume.
     */
    default java.util.Map<String, long[]> receivedPages() {
        return java.util.Map.of();
    }

    /** For progress: RAM bytes the stream announced to this handler; none for a handler without RAM. */
    default long announcedRamBytes() {
        return 0;
    }

    /** For progress: RAM pages this handler loaded so far (read from another thread while it loads). */
    default long loadedPages() {
        return 0;
    }

    /** Releases what a save or load held; also after failure and cancel. */
    default void cleanup() {
    }
}
