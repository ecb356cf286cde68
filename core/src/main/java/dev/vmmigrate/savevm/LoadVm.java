package dev.vmmigrate.savevm;

import dev.vmmigrate.stream.MigrationInput;
import dev.vmmigrate.stream.StreamFormatException;
import dev.vmmigrate.vmstate.FieldValues;
import dev.vmmigrate.vmstate.VmStateCodec;
import java.io.IOException;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * Reads a stream into a machine's handlers (savevm.c's qemu_loadvm_state): checks the preamble
 * and machine type, dispatches every section to its handler by id string and instance, checks
 * every footer, and stops at EOF, reading the vmdesc if one follows.
 *
 * <p>Device state is applied only after the whole stream has been read and checked, so a stream
 * that fails half way leaves no device half loaded. RAM is written as it arrives; the caller must
 * not resume a guest whose load failed.
 */
public final class LoadVm {
    /** Bounds the vmdesc: QEMU's for a full PC is a few hundred KiB. */
    private static final int MAX_VMDESC = 64 << 20;

    private final HandlerRegistry registry;
    private final String machineType;

    public LoadVm(HandlerRegistry registry, String machineType) {
        this.registry = registry;
        this.machineType = machineType;
    }

    /**
     * What a load found besides the state it applied.
     *
     * @param devices the state loaded for each device section, by id string, in stream order
     */
    public record Result(StreamPreamble preamble, Set<String> sections, Map<String, FieldValues> devices,
                         byte[] vmdesc) {
    }

    public Result load(MigrationInput in) throws IOException {
        try {
            return loadSections(in);
        } finally {
            // What the handlers held for the load (decompression contexts) goes, success or not.
            registry.iterative().forEach(IterativeHandler::cleanup);
        }
    }

    private Result loadSections(MigrationInput in) throws IOException {
        StreamPreamble preamble = StreamPreamble.read(in);
        if (!preamble.machineType().equals(machineType)) {
            throw new StreamFormatException("stream is for machine type '" + preamble.machineType()
                    + "', this guest is '" + machineType + "'", StreamPreamble.MACHINE_NAME_OFFSET);
        }
        Map<Integer, IterativeHandler> open = new HashMap<>();
        Map<DeviceHandler, LoadedDevice> loadedDevices = new LinkedHashMap<>();
        Set<String> seen = new HashSet<>();
        while (true) {
            long at = in.position();
            SectionType type = SectionType.fromCode(in.readU8(), at);
            switch (type) {
                case START, FULL -> {
                    SectionHeader.Open header = (SectionHeader.Open) SectionHeader.read(in, type);
                    String name = header.idstr();
                    seen.add(name);
                    IterativeHandler iterative = registry.findIterative(name, header.instanceId());
                    DeviceHandler device = registry.findDevice(name, header.instanceId());
                    if (iterative != null) {
                        checkVersion(name, header.version(), iterative.version(), at);
                        open.put(header.sectionId(), iterative);
                        iterative.load(in, type, header.version());
                    } else if (device != null && type == SectionType.FULL) {
                        checkVersion(name, header.version(), device.version(), at);
                        LoadedDevice loaded = new LoadedDevice(
                                VmStateCodec.load(in, device.description(), header.version()), at);
                        loadedDevices.put(device, loaded);
                        if (device.earlySetup()) {
                            apply(device, loaded); // the rest of the stream depends on it
                        }
                    } else {
                        throw new StreamFormatException("unknown section '" + name + "' instance "
                                + header.instanceId() + " (" + type + "): this guest has no such device", at);
                    }
                    SectionHeader.readFooter(in, header.sectionId(), name);
                }
                case PART, END -> {
                    SectionHeader header = SectionHeader.read(in, type);
                    IterativeHandler handler = open.get(header.sectionId());
                    if (handler == null) {
                        throw new StreamFormatException(type + " for section id " + header.sectionId()
                                + " that no START opened", at);
                    }
                    handler.load(in, type, handler.version());
                    SectionHeader.readFooter(in, header.sectionId(), handler.idstr());
                }
                case EOF -> {
                    byte[] vmdesc = readVmDesc(in);
                    applyDevices(loadedDevices);
                    Map<String, FieldValues> devices = new LinkedHashMap<>();
                    loadedDevices.forEach((device, loaded) -> devices.put(device.idstr(), loaded.values()));
                    return new Result(preamble, Set.copyOf(seen), devices, vmdesc);
                }
                default -> throw new StreamFormatException("unexpected " + type + " section", at);
            }
        }
    }

    private static void checkVersion(String name, int streamVersion, int ours, long at) throws StreamFormatException {
        if (streamVersion > ours) {
            throw new StreamFormatException("section '" + name + "' has version " + streamVersion
                    + ", this side loads up to " + ours, at);
        }
    }

    /** The vmdesc is optional (QEMU reads it if present): null when the stream ends at EOF. */
    private static byte[] readVmDesc(MigrationInput in) throws IOException {
        if (in.peekU8() != SectionType.VMDESCRIPTION.code()) {
            return null;
        }
        in.readU8();
        long at = in.position();
        int length = in.readBe32();
        if (length < 0 || length > MAX_VMDESC) {
            throw new StreamFormatException("vmdesc of " + Integer.toUnsignedString(length)
                    + " bytes (at most " + MAX_VMDESC + ")", at);
        }
        return in.readBytes(length);
    }

    private record LoadedDevice(FieldValues values, long offset) {
    }

    private static void applyDevices(Map<DeviceHandler, LoadedDevice> loaded) throws StreamFormatException {
        for (Map.Entry<DeviceHandler, LoadedDevice> entry : loaded.entrySet()) {
            if (!entry.getKey().earlySetup()) {
                apply(entry.getKey(), entry.getValue());
            }
        }
    }

    private static void apply(DeviceHandler device, LoadedDevice loaded) throws StreamFormatException {
        try {
            device.loader().accept(loaded.values());
        } catch (IllegalArgumentException e) {
            throw new StreamFormatException("device '" + device.idstr() + "' refused its state: "
                    + e.getMessage() + ", section", loaded.offset());
        }
    }
}
