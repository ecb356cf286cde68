package dev.vmmigrate.cli;

import java.io.IOException;
import java.io.InputStream;
import java.util.Properties;
import picocli.CommandLine.IVersionProvider;

/** The build's version (version.properties, filtered by Maven), the stream format and the QEMU versions tested. */
final class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() throws IOException {
        return new String[] {
            "vm-migrate " + buildVersion(),
            "QEMU migration stream version 3; tested against QEMU 7.2 and 10.0",
            "Java " + Runtime.version(),
        };
    }

    /** The Maven project version this class was built with. */
    static String buildVersion() throws IOException {
        Properties properties = new Properties();
        try (InputStream in = VersionProvider.class.getResourceAsStream("version.properties")) {
            if (in == null) {
                throw new IOException("version.properties is missing from the classpath: a broken build");
            }
            properties.load(in);
        }
        return properties.getProperty("version");
    }
}
