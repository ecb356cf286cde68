package dev.vmmigrate.ownsections;

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
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.stream.LongStream;
import java.util.zip.CRC32C;

/**
 * End-to-end integrity, which QEMU's protocol lacks: at switchover the source digests its RAM
 * and the encoded state of every other device into a {@code vm-migrate/digest} section (sent
 * last); the destination digests what it loaded and refuses to run the guest on a mismatch.
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
    private volatile FieldValues received;
    /** The RAM digest begun at switchover, computed while the last pages go out. */
    private volatile CompletableFuture<Long> switchoverRamCrc;

    /**
     * @param blocks the guest's RAM
     * @param devices the other devices, whose states are digested in this order
     */
    public IntegrityDigest(List<RamBlock> blocks, List<DeviceHandler> devices) {
        this.blocks = List.copyOf(blocks);
        this.devices = List.copyOf(devices);
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
            ram = switchoverRamCrc();
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
     * Starts digesting RAM on a thread of its own, once RAM no longer changes: at the source when
     * the guest has stopped for the switchover, so the digest runs while the last dirty pages go
     * out (the digest section then takes this result); at the destination when the load reached
     * the device sections ({@link dev.vmmigrate.savevm.LoadVm#whenRamIsFinal}), so it runs while
     * the source is still digesting and sending them, not after the EOF (about 65 ms of every
     * 1 GiB migration's downtime here). {@link #mismatch} then takes this result.
     */
    public void beginSwitchover() {
        CompletableFuture<Long> result = new CompletableFuture<>();
        switchoverRamCrc = result;
        Thread.ofPlatform().name("switchover-digest").daemon().start(() -> {
            try {
                result.complete(ramCrc());
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
                .put("ram_crc32c", switchoverRamCrc())
                .put("devices_crc32c", crc.getValue());
    }

    /** The digest {@link #beginSwitchover} began, or one computed now. */
    private long switchoverRamCrc() {
        CompletableFuture<Long> begun = switchoverRamCrc;
        if (begun == null) {
            return ramCrc();
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

    /**
     * CRC32C of each 32 MiB slice, computed in parallel (the guest is stopped, so this is
     * downtime), then a CRC32C over the block ids and slice values.
     */
    private long ramCrc() {
        CRC32C crc = new CRC32C();
        for (RamBlock block : blocks) {
            crc.update(block.id().getBytes(StandardCharsets.UTF_8));
            long slices = (block.length() + SLICE - 1) / SLICE;
            long[] sliceCrcs = LongStream.range(0, slices).parallel().map(i -> {
                CRC32C slice = new CRC32C();
                long offset = i * SLICE;
                block.updateCrc(slice, offset, Math.min(SLICE, block.length() - offset));
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
