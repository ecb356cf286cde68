package dev.vmmigrate.migration;

import dev.vmmigrate.transport.Connection;
import dev.vmmigrate.transport.MigrationUri;
import java.io.IOException;

/** Opens the connection a migration goes over: the URI's own, or one wrapped in TLS (--tls-creds). */
@FunctionalInterface
public interface Connector {
    Connection connect(MigrationUri target) throws IOException;
}
