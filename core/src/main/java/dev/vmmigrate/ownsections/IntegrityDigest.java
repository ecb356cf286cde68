package dev.vmmigrate.ownsections;

import dev.vmmigrate.ram.PageCrcs;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.savevm.DeviceHandler;
import dev.vmmigrate.stream.TargetPage;
import dev.vmmigrate.vmstate.FieldType;
import dev.vmmigrate.vmstate.FieldValues;
import dev.vmmigrate.vmstate.VmStateCodec;
import dev.vmmigrate.vmstate.VmStateDescription;
import dev.vmmigrate.vmstate.VmStateField;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.LongSupplier;
import java.util.function.Supplier;
import java.util.stream.LongStream;
import java.util.zip.CRC32C;

/**
 * End-to-end integrity, which QEMU's protocol lacks: at switchover the source digests its RAM
 * and the encoded state of every other device into a {@code vm-migrate/digest} section (sent
 * last); the destination digests what it loaded (RAM it loaded into fresh memory from the CRCs
 * the load took of each page, {@link PageCrcs}) and refuses to run the guest on a mismatch.
 * CRC32C: hardware-assisted, so digesting RAM costs little of the downtime, and it is meant to
 * catch corruption and bugs, not an attacker.
 */
public final class IntegrityDigest {
    public static final String IDSTR = "vm-migrate/digest";
    static final VmStateDescription DESCRIPTION = new VmStateDescription(IDSTR, 1, List.of(
            VmStateField.integer("ram_bytes", FieldType.UINT64),
            VmStateField.integer("ram_crc32c", FieldType.UINT32),
            VmStateField.integer("devices_crc32c", FieldType.UINT32)));
    /** Digest RAM in slices: parallel work, and no giant ByteBuffer for a huge block. */
    private static final long SLICE = 32L << 20;

    private final List<RamBlock> blocks;
    private final List<DeviceHandler> devices;
    /** What the load recorded of the pages it wrote, by block (empty at a source). */
    private final Supplier<Map<RamBlock, PageCrcs>> loadedPages;
    private volatile FieldValues received;
    /** The RAM digest begun at switchover, computed while the last pages go out. */
    private volatile CompletableFuture<Long> switchoverRamCrc;

    /**
     * @param blocks the guest's RAM
     * @param devices the other devices, whose states are digested in this order
     * @param loadedPages by block, the CRC32C of each page as the load wrote it, where the load
     *     recorded them ({@link dev.vmmigrate.ram.RamHandler#loadedPageCrcs}): the destination
     *     combines these instead of reading the block again
     */
    public IntegrityDigest(List<RamBlock> blocks, List<DeviceHandler> devices,
                           Supplier<Map<RamBlock, PageCrcs>> loadedPages) {
        this.blocks = List.copyOf(blocks);
        this.devices = List.copyOf(devices);
        this.loadedPages = Objects.requireNonNull(loadedPages, "loadedPages");
    }

    /** The section that carries the digest; register it after every other device. */
    public DeviceHandler handler() {
        return new DeviceHandler(IDSTR, 0, DESCRIPTION, this::sourceDigest, values -> received = values);
    }

    /** Whether the loaded stream carried a digest (streams from QEMU or --compat qemu do not). */
    public boolean received() {
        return received != null;
    }

    /**
     * Compares the digest the stream carried with what was loaded.
     *
     * @param loadedDevices the device states the load produced, by id string
     * @return null when they agree (or the stream had no digest), else what differs
     */
    public String mismatch(Map<String, FieldValues> loadedDevices) {
        FieldValues expected = received;
        if (expected == null) {
            return null;
        }
        long ramBytes = totalRamBytes();
        if (expected.getLong("ram_bytes") != ramBytes) {
            return "digest covers " + expected.getLong("ram_bytes") + " bytes of RAM, this guest has " + ramBytes;
        }
        long ram;
        try {
            ram = switchoverRamCrc(this::loadedRamCrc);
        } finally {
            endSwitchover(); // the next load digests afresh
        }
        if (expected.getLong("ram_crc32c") != ram) {
            return String.format("RAM digest mismatch: source crc32c %08x, received %08x",
                    expected.getLong("ram_crc32c"), ram);
        }
        CRC32C crc = new CRC32C();
        for (DeviceHandler device : devices) {
            FieldValues values = loadedDevices.get(device.idstr());
            if (values != null) {
                update(crc, device, values);
            }
        }
        if (expected.getLong("devices_crc32c") != crc.getValue()) {
            return String.format("device state digest mismatch: source crc32c %08x, received %08x",
                    expected.getLong("devices_crc32c"), crc.getValue());
        }
        return null;
    }

    /**
     * About how long the switchover digest will take, from timing samples now: the migration
     * spends that much of the downtime budget on it, so the convergence threshold leaves room.
     * The samples are distinct slices (one slice read three times is in cache the second time
     * and runs several times faster than the real digest), after a small warm-up that pays for
     * compiling CRC32C's loop; the slowest counts. One core is left to the sender or loader,
     * which runs beside the digest.
     */
    public long estimateMillis() {
        long total = totalRamBytes();
        if (total == 0) {
            return 0;
        }
        RamBlock first = blocks.getFirst();
        long sample = Math.min(first.length(), 16L << 20);
        first.updateCrc(new CRC32C(), 0, Math.min(sample, 1L << 20));
        double nanosPerByte = 0;
        for (int round = 0; round < 3; round++) {
            long offset = (first.length() - sample) * round / 2 / TargetPage.SIZE * TargetPage.SIZE;
            long start = System.nanoTime();
            first.updateCrc(new CRC32C(), offset, sample);
            nanosPerByte = Math.max(nanosPerByte, (double) (System.nanoTime() - start) / sample);
        }
        int workers = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors() - 1,
                (int) Math.min(Integer.MAX_VALUE, (total + SLICE - 1) / SLICE)));
        return (long) Math.ceil(nanosPerByte * total / workers / 1_000_000);
    }

    /**
     * At the source, the guest has stopped for the switchover: starts digesting its RAM on a
     * thread of its own, so the digest runs while the last dirty pages go out; the digest
     * section then takes this result. RAM is read whole: the digest vouches for what the source
     * holds, whatever the dirty tracking said was sent.
     */
    public void beginSwitchover() {
        begin(this::memoryRamCrc);
    }

    /**
     * At the destination, the load has written RAM's last page
     * ({@link dev.vmmigrate.savevm.LoadVm#whenRamIsFinal}): starts the digest of what it loaded
     * while the source still sends the device sections, for {@link #mismatch}. Blocks the load
     * found fresh are digested from the CRCs it took of each page as it wrote it (no read of
     * RAM: 1 GiB in about a millisecond), the others by reading them.
     */
    public void ramIsFinal() {
        begin(this::loadedRamCrc);
    }

    private void begin(LongSupplier digest) {
        CompletableFuture<Long> result = new CompletableFuture<>();
        switchoverRamCrc = result;
        Thread.ofPlatform().name("switchover-digest").daemon().start(() -> {
            try {
                result.complete(digest.getAsLong());
            } catch (Throwable t) {
                result.completeExceptionally(t);
            }
        });
    }

    /** The switchover ended (completed, failed or cancelled): a later save digests afresh. */
    public void endSwitchover() {
        switchoverRamCrc = null;
    }

    private FieldValues sourceDigest() {
        CRC32C crc = new CRC32C();
        for (DeviceHandler device : devices) {
            update(crc, device, device.saver().get());
        }
        return new FieldValues()
                .put("ram_bytes", totalRamBytes())
                .put("ram_crc32c", switchoverRamCrc(this::memoryRamCrc))
                .put("devices_crc32c", crc.getValue());
    }

    /** The digest {@link #beginSwitchover} or {@link #ramIsFinal} began, or {@code now}'s. */
    private long switchoverRamCrc(LongSupplier now) {
        CompletableFuture<Long> begun = switchoverRamCrc;
        if (begun == null) {
            return now.getAsLong();
        }
        try {
            return begun.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof RuntimeException cause) {
                throw cause; // e.g. the guest's RAM was closed under the digest
            }
            throw e;
        }
    }

    private long totalRamBytes() {
        return blocks.stream().mapToLong(RamBlock::length).sum();
    }

    /** The RAM digest from RAM as it is now. */
    private long memoryRamCrc() {
        return ramCrc(Map.of());
    }

    /** The RAM digest of what the load wrote: from its page CRCs where it took them. */
    private long loadedRamCrc() {
        return ramCrc(loadedPages.get());
    }

    /**
     * CRC32C of each 32 MiB slice, computed in parallel (the guest is stopped, so this is
     * downtime), then a CRC32C over the block ids and slice values. A slice of a block in
     * {@code pageCrcs} is combined from its pages' CRCs instead of read.
     */
    private long ramCrc(Map<RamBlock, PageCrcs> pageCrcs) {
        CRC32C crc = new CRC32C();
        for (RamBlock block : blocks) {
            crc.update(block.id().getBytes(StandardCharsets.UTF_8));
            PageCrcs pages = pageCrcs.get(block);
            long slices = (block.length() + SLICE - 1) / SLICE;
            long[] sliceCrcs = LongStream.range(0, slices).parallel().map(i -> {
                long offset = i * SLICE;
                long length = Math.min(SLICE, block.length() - offset);
                if (pages != null) {
                    return pages.crc(offset >>> TargetPage.BITS, length >>> TargetPage.BITS);
                }
                CRC32C slice = new CRC32C();
                block.updateCrc(slice, offset, length);
                return slice.getValue();
            }).toArray();
            for (long value : sliceCrcs) {
                crc.update((int) (value >>> 24));
                crc.update((int) (value >>> 16));
                crc.update((int) (value >>> 8));
                crc.update((int) value);
            }
        }
        return crc.getValue();
    }

    /** The device's id string as a counted string, then its encoded state. */
    private static void update(CRC32C crc, DeviceHandler device, FieldValues values) {
        byte[] idstr = device.idstr().getBytes(StandardCharsets.UTF_8);
        crc.update(idstr.length);
        crc.update(idstr);
        crc.update(VmStateCodec.encode(device.description(), values));
    }
}
