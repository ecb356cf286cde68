package dev.vmmigrate.ownsections;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.vmmigrate.ram.RamHandler;
import dev.vmmigrate.savevm.DeviceHandler;
import dev.vmmigrate.vmstate.FieldValues;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** The capability bits of the {@code vm-migrate/capabilities} section are fixed wire values. */
class CapabilityTest {
    /** Golden: a changed bit would make streams unreadable by earlier vm-migrates and vice versa. */
    private static final Map<Capability, Integer> WIRE_BITS = Map.of(
            Capability.XBZRLE, 0,
            Capability.AUTO_CONVERGE, 1,
            Capability.ZERO_BLOCKS, 2,
            Capability.COMPRESS, 3,
            Capability.RDMA_PIN_ALL, 4,
            Capability.RETURN_PATH, 5,
            Capability.POSTCOPY_RAM, 6,
            Capability.MULTIFD, 7);

    @Test
    void wireBitsAreTheGoldenValues() {
        assertEquals(EnumSet.allOf(Capability.class), WIRE_BITS.keySet(), "a new capability needs a golden bit here");
        WIRE_BITS.forEach((capability, bit) -> {
            assertEquals(bit, capability.wireBit(), capability.qmpName());
            assertEquals(1L << bit, capability.wireMask(), capability.qmpName());
            assertEquals(capability, Capability.fromWireBit(bit));
        });
    }

    /** A receiver without multifd channels would miss the pages: it refuses the stream by name. */
    @Test
    void multifdNeedsAReceiverWithChannels() {
        DeviceHandler handler = new StreamCapabilities(new RamHandler(List.of())).handler();
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> handler.loader().accept(
                new FieldValues().put("capabilities", Capability.MULTIFD.wireMask()).put("compress_level", 1L)));
        assertEquals("the source sends its pages over multifd channels: receive with --capability multifd and the "
                + "source's --multifd-channels", e.getMessage());
    }

    @Test
    void fromWireBitRefusesUnknownBits() {
        for (int bit : new int[] {-1, 8, 31, 63}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Capability.fromWireBit(bit));
            assertEquals("unknown capability bit " + bit, e.getMessage());
        }
    }

    @Test
    void sectionCarriesTheWireBits() {
        StreamCapabilities capabilities = new StreamCapabilities(new RamHandler(List.of()));
        capabilities.use(Set.of(Capability.AUTO_CONVERGE, Capability.COMPRESS), 3);
        DeviceHandler handler = capabilities.handler();
        FieldValues saved = handler.saver().get();
        assertEquals(0b1010L, saved.getLong("capabilities"));
        assertEquals(3L, saved.getLong("compress_level"));
        assertEquals(Set.of(Capability.XBZRLE, Capability.RDMA_PIN_ALL), StreamCapabilities.announced(0b1_0001L));
        assertEquals(Set.of(Capability.ZERO_BLOCKS), StreamCapabilities.announced(0b1_0000_0100L), "inspect skips unknown bits");

        handler.loader().accept(new FieldValues().put("capabilities", 0b1_0101L).put("compress_level", 1L));
        assertEquals(Set.of(Capability.XBZRLE, Capability.ZERO_BLOCKS, Capability.RDMA_PIN_ALL), capabilities.received());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> handler.loader().accept(
                new FieldValues().put("capabilities", 0x101L).put("compress_level", 1L)));
        assertEquals("unknown capability bits 0x101", e.getMessage());
    }
}
