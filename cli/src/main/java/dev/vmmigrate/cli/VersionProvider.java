package dev.vmmigrate.cli;

import picocli.CommandLine.IVersionProvider;

/** The version from the jar's manifest, with the stream format it speaks. */
final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        String version = VmMigrate.class.getPackage().getImplementationVersion();
        return new String[] {
            "vm-migrate " + (version == null ? "(development build)" : version),
            "QEMU migration stream version 3; tested against QEMU 7.2",
            "Java " + Runtime.version(),
        };
    }
}
