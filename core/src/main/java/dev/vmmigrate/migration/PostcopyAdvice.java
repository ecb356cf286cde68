package dev.vmmigrate.migration;

import dev.vmmigrate.savevm.Section;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.TargetPage;
import java.nio.ByteBuffer;

/**
 * QEMU's POSTCOPY_ADVISE (loadvm_postcopy_handle_advise): a source with the postcopy-ram
 * capability sends it at the start, and switches to postcopy only if asked to later. A precopy
 * destination takes the advice after the same page-size check QEMU makes; a switch to postcopy
 * (LISTEN, RUN, PACKAGED) is refused by name when it comes.
 */
public final class PostcopyAdvice {
    private PostcopyAdvice() {
    }

    /** Payload: be64 summary of the source's host page sizes, be64 its target page size (or empty). */
    public static void check(Section.Command advise) throws StreamFormatException {
        byte[] payload = advise.payload();
        if (payload.length == 0) {
            return; // QEMU sends an empty advice when only other postcopy capabilities are on
        }
        if (payload.length != 16) {
            throw new StreamFormatException("POSTCOPY_ADVISE of " + payload.length + " bytes, expected 16",
                    advise.offset());
        }
        long targetPageSize = ByteBuffer.wrap(payload, 8, 8).getLong();
        if (targetPageSize != TargetPage.SIZE) {
            throw new StreamFormatException("POSTCOPY_ADVISE: the source's target page size is " + targetPageSize
                    + ", this side's " + TargetPage.SIZE, advise.offset());
        }
    }
}
