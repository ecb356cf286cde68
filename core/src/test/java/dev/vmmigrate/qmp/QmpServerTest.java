package dev.vmmigrate.qmp;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.vmmigrate.guest.Guest;
import dev.vmmigrate.migration.VmControl;
import dev.vmmigrate.multifd.IncomingMultifd;
import dev.vmmigrate.transport.MigrationUri;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.Channels;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The QMP socket's protocol on a paused 4 MiB guest: greeting, negotiation, replies and errors in QEMU's shapes. */
class QmpServerTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    @TempDir
    Path dir;

    /** A raw client: lines out, lines in. */
    private static final class Client implements AutoCloseable {
        final SocketChannel channel;
        final BufferedReader in;
        final OutputStream out;

        Client(Path socket) throws IOException {
            channel = SocketChannel.open(StandardProtocolFamily.UNIX);
            channel.connect(UnixDomainSocketAddress.of(socket));
            in = new BufferedReader(new InputStreamReader(Channels.newInputStream(channel), StandardCharsets.UTF_8));
            out = Channels.newOutputStream(channel);
        }

        JsonNode read() throws IOException {
            String line = in.readLine();
            if (line == null) {
                throw new IOException("the server hung up");
            }
            return JSON.readTree(line);
        }

        JsonNode send(String request) throws IOException {
            out.write((request + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            while (true) {
                JsonNode reply = read();
                if (!reply.has("event")) {
                    return reply;
                }
            }
        }

        @Override
        public void close() throws IOException {
            channel.close();
        }
    }

    @Test
    void speaksQmpAsQemuDoes() throws Exception {
        Path socket = dir.resolve("qmp.sock");
        CountDownLatch quit = new CountDownLatch(1);
        try (Guest guest = Guest.builder().ramSize(4L << 20).build()) {
            VmControl vm = VmControl.source(guest, false, null);
            try (QmpServer server = QmpServer.start(MigrationUri.parse("unix:" + socket), new Qmp(vm, "vm-migrate test",
                    quit::countDown)); Client client = new Client(socket)) {
                assertEquals("unix:" + socket, server.address());
                JsonNode greeting = client.read();
                assertEquals(7, greeting.at("/QMP/version/qemu/major").asInt());
                assertEquals("vm-migrate test", greeting.at("/QMP/version/package").asText());
                assertTrue(greeting.at("/QMP/capabilities").isArray());

                assertEquals("{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"Expecting capabilities negotiation "
                        + "with 'qmp_capabilities'\"}}", client.send("{\"execute\":\"query-status\"}").toString());
                assertEquals("{\"return\":{},\"id\":7}", client.send("{\"execute\":\"qmp_capabilities\",\"id\":7}").toString());
                assertEquals("{\"return\":{\"status\":\"prelaunch\",\"singlestep\":false,\"running\":false}}",
                        client.send("{\"execute\":\"query-status\"}").toString());
                assertEquals("{\"return\":{}}", client.send("{\"execute\":\"query-migrate\"}").toString(),
                        "no migration yet: QEMU answers {}");
                assertEquals("{\"error\":{\"class\":\"CommandNotFound\",\"desc\":\"The command nope has not been found\"}}",
                        client.send("{\"execute\":\"nope\"}").toString());
                assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Parameter 'bogus' is unexpected\"}}",
                        client.send("{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"bogus\":1}}").toString());
                assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"QMP input lacks member 'execute'\"}}",
                        client.send("{\"exec\":\"query-status\"}").toString());

                client.send("{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"max-bandwidth\":1048576,"
                        + "\"downtime-limit\":500,\"xbzrle-cache-size\":2097152}}");
                JsonNode parameters = client.send("{\"execute\":\"query-migrate-parameters\"}").get("return");
                assertEquals(1048576, parameters.get("max-bandwidth").asLong());
                assertEquals(500, parameters.get("downtime-limit").asLong());
                assertEquals(2097152, parameters.get("xbzrle-cache-size").asLong());
                assertEquals(2097152, client.send("{\"execute\":\"query-migrate-cache-size\"}").get("return").asLong());

                client.send("{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":"
                        + "[{\"capability\":\"xbzrle\",\"state\":true},{\"capability\":\"postcopy-ram\",\"state\":false}]}}");
                JsonNode capabilities = client.send("{\"execute\":\"query-migrate-capabilities\"}").get("return");
                assertEquals(21, capabilities.size(), "QEMU 7.2's capabilities, all listed");
                assertEquals("{\"state\":true,\"capability\":\"xbzrle\"}", capabilities.get(0).toString());
                assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Multifd is not compatible with xbzrle\"}}",
                        client.send("{\"execute\":\"migrate-set-capabilities\",\"arguments\":"
                        + "{\"capabilities\":[{\"capability\":\"multifd\",\"state\":true}]}}").toString());
                client.send("{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":"
                        + "[{\"capability\":\"xbzrle\",\"state\":false},{\"capability\":\"multifd\",\"state\":true}]}}");
                assertEquals("{\"state\":true,\"capability\":\"multifd\"}", client.send(
                        "{\"execute\":\"query-migrate-capabilities\"}").get("return").get(12).toString());
                assertEquals(2, client.send("{\"execute\":\"query-migrate-parameters\"}").get("return")
                        .get("multifd-channels").asInt(), "QEMU's default");
                client.send("{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"multifd-channels\":4}}");
                assertEquals(4, client.send("{\"execute\":\"query-migrate-parameters\"}").get("return")
                        .get("multifd-channels").asInt());
                assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Parameter 'multifd_channels' expects a "
                        + "value between 1 and 255\"}}", client.send("{\"execute\":\"migrate-set-parameters\","
                        + "\"arguments\":{\"multifd-channels\":0}}").toString());
                JsonNode defaults = client.send("{\"execute\":\"query-migrate-parameters\"}").get("return");
                assertEquals("none 1 1", defaults.get("multifd-compression").asText() + " "
                        + defaults.get("multifd-zlib-level").asInt() + " " + defaults.get("multifd-zstd-level").asInt(),
                        "QEMU's defaults");
                client.send("{\"execute\":\"migrate-set-parameters\",\"arguments\":{\"multifd-compression\":\"zstd\","
                        + "\"multifd-zstd-level\":3}}");
                JsonNode zstd = client.send("{\"execute\":\"query-migrate-parameters\"}").get("return");
                assertEquals("zstd 3", zstd.get("multifd-compression").asText() + " " + zstd.get("multifd-zstd-level").asInt());
                assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"Parameter 'multifd_zlib_level' expects a "
                        + "value between 0 and 9\"}}", client.send("{\"execute\":\"migrate-set-parameters\","
                        + "\"arguments\":{\"multifd-zlib-level\":4294967297}}").toString(), "not wrapped to 1");
                assertEquals("{\"error\":{\"class\":\"GenericError\",\"desc\":\"multifd-compression qpl is not built "
                        + "into vm-migrate (none, zlib and zstd are)\"}}", client.send("{\"execute\":\"migrate-set-parameters\","
                        + "\"arguments\":{\"multifd-compression\":\"qpl\"}}").toString());
                assertEquals("zstd", client.send("{\"execute\":\"query-migrate-parameters\"}").get("return")
                        .get("multifd-compression").asText(), "a refused change changes nothing");
                client.send("{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":"
                        + "[{\"capability\":\"multifd\",\"state\":false}]}}");

                assertEquals("{\"return\":{}}", client.send("{\"execute\":\"cont\"}").toString());
                assertTrue(guest.isRunning());
                client.send("{\"execute\":\"stop\"}");
                assertFalse(guest.isRunning());

                assertEquals("{\"return\":{}}", client.send("{\"execute\":\"quit\"}").toString());
                assertTrue(quit.await(10, TimeUnit.SECONDS), "quit ran the command's own end (after its reply, so the client may read the reply first)");
            }
            assertFalse(Files.exists(socket), "the socket file goes with the server");
        }
    }

    /** A receiver with multifd channels lists the capability on, as a QEMU destination set up for them does. */
    @Test
    void aReceiverWithMultifdChannelsListsTheCapabilityOn() throws Exception {
        for (boolean withChannels : new boolean[] {false, true}) {
            Path socket = dir.resolve("qmp-" + withChannels + ".sock");
            try (Guest guest = Guest.builder().incoming(true).ramSize(4L << 20).build();
                 IncomingMultifd channels = new IncomingMultifd(2, notice -> { })) {
                VmControl vm = VmControl.destination(guest, null, true);
                if (withChannels) {
                    vm.incoming().multifd(channels);
                }
                try (QmpServer server = QmpServer.start(MigrationUri.parse("unix:" + socket), new Qmp(vm, "vm-migrate test",
                        () -> { })); Client client = new Client(socket)) {
                    assertEquals("unix:" + socket, server.address());
                    client.read();
                    client.send("{\"execute\":\"qmp_capabilities\"}");
                    JsonNode capabilities = client.send("{\"execute\":\"query-migrate-capabilities\"}").get("return");
                    JsonNode multifd = null;
                    for (JsonNode capability : capabilities) {
                        if (capability.get("capability").asText().equals("multifd")) {
                            multifd = capability;
                        }
                    }
                    assertEquals("{\"state\":" + withChannels + ",\"capability\":\"multifd\"}", String.valueOf(multifd));
                }
            }
        }
    }
}
