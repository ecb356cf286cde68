package dev.vmmigrate.ownsections;

import dev.vmmigrate.savevm.HandlerRegistry;
import dev.vmmigrate.savevm.LoadVm;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.stream.StreamText;
import java.util.Collection;
import java.util.List;
import java.util.Set;

/**
 * Which sections a whole stream must carry for a receiver, checked at its EOF. QEMU's loader
 * accepts a stream that leaves sections out (the device keeps its reset state); a receiver that
 * then resumes the guest runs one that was never sent, so here a stream must carry every section
 * of the guest. A stream that announces vm-migrate's capabilities comes from vm-migrate, which
 * always ends it with its digest: without one, pages could have been changed unseen.
 */
public final class RequiredSections {
    private RequiredSections() {
    }

    /**
     * @param guestSections the id strings of the guest's sections; those of vm-migrate's own
     *     ({@code vm-migrate/...}) are required only from a vm-migrate source (one that announced
     *     its capabilities), as QEMU and {@code --compat qemu} send none
     */
    public static LoadVm.Completeness of(Collection<String> guestSections) {
        List<String> guest = List.copyOf(guestSections);
        return (sections, postcopy, at) -> check(sections, postcopy, guest, at);
    }

    /**
     * A postcopy stream carries no digest: its guest ran at the destination before the last page
     * came, so no digest of RAM taken at either end could match.
     */
    static void check(Set<String> sections, boolean postcopy, List<String> guest, long at)
            throws StreamFormatException {
        boolean fromVmMigrate = sections.contains(StreamCapabilities.IDSTR);
        if (fromVmMigrate && !postcopy && !sections.contains(IntegrityDigest.IDSTR)) {
            throw new StreamFormatException("the stream announces vm-migrate's capabilities but carries no "
                    + IntegrityDigest.IDSTR + " section: its content cannot be verified", at);
        }
        List<String> missing = guest.stream()
                .filter(id -> fromVmMigrate || !id.startsWith(HandlerRegistry.OWN_PREFIX))
                .filter(id -> !(postcopy && id.equals(IntegrityDigest.IDSTR)))
                .filter(id -> !sections.contains(id))
                .map(StreamText::quote)
                .toList();
        if (!missing.isEmpty()) {
            throw new StreamFormatException("the stream ended without section " + String.join(", ", missing)
                    + " of this guest: a guest it leaves out is not resumed", at);
        }
    }
}
