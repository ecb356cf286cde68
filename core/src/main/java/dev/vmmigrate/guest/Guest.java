package dev.vmmigrate.guest;

import dev.vmmigrate.block.Disk;
import dev.vmmigrate.ram.RamBlock;
import dev.vmmigrate.savevm.DeviceHandler;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;

/**
 * The built-in machine: RAM blocks, the devices of QEMU's machine {@code none} ({@code timer},
 * {@code globalstate}) plus {@code vm-migrate/workload}, optionally a disk (a raw image named
 * {@value #DEFAULT_DISK_ID} on the wire), a workload that writes the RAM and the disk, and a run
 * state with listeners. The guest owns its RAM blocks and disk and releases them on
 * {@link #close()}. Thread-safe.
 *
 * <pre>{@code
 * try (Guest guest = Guest.builder().ramSize(1L << 30).workload(WorkloadSpec.parse("random:64M/s")).seed(7).build()) {
 *     guest.start();
 *     ...
 *     guest.stop(RunState.FINISH_MIGRATE);
 * }
 * }</pre>
 */
public final class Guest implements AutoCloseable {
    /** QEMU's machine type this guest imitates by default. */
    public static final String DEFAULT_MACHINE = "none";
    /** Id of the default RAM block. */
    public static final String DEFAULT_RAM_ID = "ram";
    /** RAM size when none is given. */
    public static final long DEFAULT_RAM_SIZE = 64L << 20;
    /** Device name of the guest's disk in the {@code block} section (QEMU's drive id). */
    public static final String DEFAULT_DISK_ID = "disk0";

    private final String machineType;
    private final List<RamBlock> ramBlocks;
    private final Disk disk;
    private final TimerDevice timer = new TimerDevice();
    private final GlobalStateDevice globalState = new GlobalStateDevice();
    private final Workload workload;
    private final WorkloadDevice workloadDevice;
    private final List<Consumer<RunState>> listeners = new CopyOnWriteArrayList<>();
    /* Guarded by this. */
    private RunState runState;
    private boolean workloadStarted;
    private boolean closed;

    private Guest(String machineType, List<RamBlock> ramBlocks, Disk disk, WorkloadSpec spec, long seed,
                  RunState initial) {
        this.machineType = machineType;
        this.ramBlocks = List.copyOf(ramBlocks);
        this.disk = disk;
        this.workload = new Workload(this.ramBlocks, disk, spec, seed);
        this.workloadDevice = new WorkloadDevice(workload);
        this.runState = initial;
    }

    /** A builder with the defaults: machine none, one anonymous 64 MiB block "ram", workload none, seed 0. */
    public static Builder builder() {
        return new Builder();
    }

    /** The machine type name sent in the configuration section. */
    public String machineType() {
        return machineType;
    }

    /** The RAM blocks in section order. */
    public List<RamBlock> ramBlocks() {
        return ramBlocks;
    }

    /** Total RAM in bytes. */
    public long ramBytes() {
        return ramBlocks.stream().mapToLong(RamBlock::length).sum();
    }

    /** The guest's disk ({@value #DEFAULT_DISK_ID}), if it has one. */
    public Optional<Disk> disk() {
        return Optional.ofNullable(disk);
    }

    /** The {@code timer} device. */
    public TimerDevice timer() {
        return timer;
    }

    /** The {@code globalstate} device. */
    public GlobalStateDevice globalState() {
        return globalState;
    }

    /** The {@code vm-migrate/workload} device. */
    public WorkloadDevice workloadDevice() {
        return workloadDevice;
    }

    /** The workload writing this guest's RAM. */
    public Workload workload() {
        return workload;
    }

    /** Handlers for the FULL device sections, in section order: timer, globalstate, vm-migrate/workload. */
    public List<DeviceHandler> deviceHandlers() {
        return List.of(
                new DeviceHandler(TimerDevice.IDSTR, TimerDevice.INSTANCE_ID, TimerDevice.DESCRIPTION,
                        timer::save, timer::load),
                new DeviceHandler(GlobalStateDevice.IDSTR, GlobalStateDevice.INSTANCE_ID, GlobalStateDevice.DESCRIPTION,
                        globalState::save, globalState::load),
                new DeviceHandler(WorkloadDevice.IDSTR, WorkloadDevice.INSTANCE_ID, WorkloadDevice.DESCRIPTION,
                        workloadDevice::save, workloadDevice::load));
    }

    /** The current run state. */
    public synchronized RunState runState() {
        return runState;
    }

    /** Calls {@code listener} with each new run state, on the thread that changes it, in order. */
    public void addRunStateListener(Consumer<RunState> listener) {
        listeners.add(Objects.requireNonNull(listener, "listener"));
    }

    /** Removes a listener added before. */
    public void removeRunStateListener(Consumer<RunState> listener) {
        listeners.remove(listener);
    }

    /** Runs the guest (RUNNING): clocks on, the workload starts the first time and resumes later; no-op if running. */
    public synchronized void start() {
        requireOpen();
        if (runState == RunState.RUNNING) {
            return;
        }
        timer.enable();
        if (workloadStarted) {
            workload.resume();
        } else {
            workload.start();
            workloadStarted = true;
        }
        setState(RunState.RUNNING);
    }

    /** Same as {@link #start()}: continues a stopped guest (QEMU's {@code cont}). */
    public void resume() {
        start();
    }

    /**
     * Stops the guest if it runs (returns once the workload is quiescent and the clocks frozen)
     * and enters {@code target}, any state but RUNNING. Entering FINISH_MIGRATE first stores the
     * state the guest had in {@code globalstate}, as QEMU's migration completion does.
     */
    public synchronized void stop(RunState target) {
        Objects.requireNonNull(target, "target");
        if (target == RunState.RUNNING) {
            throw new IllegalArgumentException("stop() cannot enter running: use start() or resume()");
        }
        requireOpen();
        RunState before = runState;
        if (before == RunState.RUNNING) {
            workload.pause();
            timer.disable();
        }
        if (target == RunState.FINISH_MIGRATE && before != RunState.FINISH_MIGRATE) {
            globalState.store(before);
        }
        if (before != target) {
            setState(target);
        }
    }

    /** Whether the guest is RUNNING. */
    public synchronized boolean isRunning() {
        return runState == RunState.RUNNING;
    }

    /** Stops the workload, unmaps the RAM and closes the disk; the run state stays as it was. Idempotent. */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        workload.stop();
        timer.disable();
        for (RamBlock block : ramBlocks) {
            block.close();
        }
        if (disk != null) {
            try {
                disk.close();
            } catch (IOException ignored) {
                // closing a read-write image loses nothing: every write went to the file already
            }
        }
    }

    private void setState(RunState state) {
        runState = state;
        for (Consumer<RunState> listener : listeners) {
            listener.accept(state);
        }
    }

    private void requireOpen() {
        if (closed) {
            throw new IllegalStateException("guest is closed");
        }
    }

    /** Options of a {@link Guest}; every setter returns this. */
    public static final class Builder {
        private String machineType = DEFAULT_MACHINE;
        private Long ramSize;
        private String ramId = DEFAULT_RAM_ID;
        private Path ramFile;
        private Path diskImage;
        private final List<RamBlock> blocks = new ArrayList<>();
        private WorkloadSpec workload = WorkloadSpec.NONE;
        private long seed;
        private boolean incoming;

        private Builder() {
        }

        /** Machine type name (default {@code none}). */
        public Builder machine(String machineType) {
            this.machineType = Objects.requireNonNull(machineType, "machineType");
            return this;
        }

        /** Size of the default RAM block (default 64 MiB; with a RAM file, the file's size). */
        public Builder ramSize(long bytes) {
            this.ramSize = bytes;
            return this;
        }

        /** Id of the default RAM block (default {@code ram}). */
        public Builder ramId(String id) {
            this.ramId = Objects.requireNonNull(id, "id");
            return this;
        }

        /** Maps this file shared as the default RAM block instead of anonymous memory. */
        public Builder ramFile(Path file) {
            this.ramFile = file;
            return this;
        }

        /** Adds a block the guest takes ownership of; with any added, there is no default block. */
        public Builder addRamBlock(RamBlock block) {
            blocks.add(Objects.requireNonNull(block, "block"));
            return this;
        }

        /**
         * Gives the guest a disk: this existing raw image, opened read-write and locked, named
         * {@value #DEFAULT_DISK_ID} on the wire; the workload writes it too (default: no disk).
         */
        public Builder disk(Path image) {
            this.diskImage = image;
            return this;
        }

        /** The workload (default none). */
        public Builder workload(WorkloadSpec spec) {
            this.workload = Objects.requireNonNull(spec, "spec");
            return this;
        }

        /** The workload's seed (default 0). */
        public Builder seed(long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * Starts in INMIGRATE, waiting for an incoming migration, instead of PRELAUNCH. Its own
         * anonymous RAM is then on 4 KiB pages ({@link RamBlock.Pages#SMALL}), else on huge pages.
         */
        public Builder incoming(boolean incoming) {
            this.incoming = incoming;
            return this;
        }

        /**
         * Maps the RAM, opens the disk and builds the guest, stopped (PRELAUNCH or INMIGRATE).
         *
         * @throws UncheckedIOException when the disk image cannot be opened (missing, empty, in use)
         */
        public Guest build() {
            if (!blocks.isEmpty() && (ramFile != null || ramSize != null)) {
                throw new IllegalArgumentException("give either RAM blocks or a RAM size/file, not both");
            }
            List<RamBlock> ram = new ArrayList<>(blocks);
            boolean ownDefault = ram.isEmpty();
            if (ownDefault) {
                ram.add(ramFile != null
                        ? RamBlock.mapFile(ramId, ramFile, ramSize != null ? ramSize : -1)
                        : RamBlock.anonymous(ramId, ramSize != null ? ramSize : DEFAULT_RAM_SIZE,
                                incoming ? RamBlock.Pages.SMALL : RamBlock.Pages.HUGE));
            }
            Disk disk = null;
            try {
                if (diskImage != null) {
                    try {
                        disk = Disk.open(DEFAULT_DISK_ID, diskImage);
                    } catch (IOException e) {
                        throw new UncheckedIOException(e.getMessage(), e);
                    }
                }
                for (int i = 0; i < ram.size(); i++) {
                    for (int j = 0; j < i; j++) {
                        if (ram.get(i).id().equals(ram.get(j).id())) {
                            throw new IllegalArgumentException("two RAM blocks named '" + ram.get(i).id() + "'");
                        }
                    }
                }
                return new Guest(machineType, ram, disk, workload, seed, incoming ? RunState.INMIGRATE : RunState.PRELAUNCH);
            } catch (RuntimeException e) {
                if (ownDefault) {
                    ram.getFirst().close();
                }
                if (disk != null) {
                    try {
                        disk.close();
                    } catch (IOException suppressed) {
                        e.addSuppressed(suppressed);
                    }
                }
                throw e;
            }
        }
    }
}
