package dev.vmmigrate.transport;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.net.InetAddress;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class MigrationUriTest {

    @Test
    void parsesEveryScheme() {
        assertEquals(new TcpUri("127.0.0.1", 4444), MigrationUri.parse("tcp:127.0.0.1:4444"));
        assertEquals(new TcpUri("migration.example", 0), MigrationUri.parse("tcp:migration.example:0"));
        assertEquals(new TcpUri("::1", 65535), MigrationUri.parse("tcp:[::1]:65535"));
        assertEquals(new TcpUri("fe80::1%lo", 4444), MigrationUri.parse("tcp:[fe80::1%lo]:4444"));
        assertEquals(new TcpUri("", 4444), MigrationUri.parse("tcp::4444"));
        assertEquals(new UnixUri(Path.of("/run/vm.sock")), MigrationUri.parse("unix:/run/vm.sock"));
        assertEquals(new ExecUri("ssh dst 'cat > f:g'"), MigrationUri.parse("exec:ssh dst 'cat > f:g'"));
        assertEquals(new FdUri(0), MigrationUri.parse("fd:0"));
        assertEquals(new FdUri(5), MigrationUri.parse("fd:5"));
        assertEquals(new FileUri(Path.of("relative/vm.mig")), MigrationUri.parse("file:relative/vm.mig"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"tcp:127.0.0.1:4444", "tcp:[::1]:0", "tcp::4444", "unix:/tmp/s", "exec:cat > f",
            "fd:3", "file:/tmp/x.mig"})
    void toStringGivesTheUriBack(String uri) {
        assertEquals(uri, MigrationUri.parse(uri).toString());
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
            "foo:bar        | unknown migration protocol 'foo:bar' (expected tcp:, unix:, exec:, fd: or file:)",
            "TCP:h:1        | unknown migration protocol 'TCP:h:1' (expected tcp:, unix:, exec:, fd: or file:)",
            "/tmp/f         | unknown migration protocol '/tmp/f' (expected tcp:, unix:, exec:, fd: or file:)",
            "tcp:h:x        | bad port 'x' in 'tcp:h:x' (expected 0..65535)",
            "tcp:h:65536    | bad port '65536' in 'tcp:h:65536' (expected 0..65535)",
            "tcp:h:-1       | bad port '-1' in 'tcp:h:-1' (expected 0..65535)",
            "tcp:h:+80      | bad port '+80' in 'tcp:h:+80' (expected 0..65535)",
            "tcp:h:4444444444 | bad port '4444444444' in 'tcp:h:4444444444' (expected 0..65535)",
            "tcp:h          | missing port in 'tcp:h' (expected tcp:HOST:PORT)",
            "tcp:h:         | missing port in 'tcp:h:' (expected tcp:HOST:PORT)",
            "tcp:           | missing port in 'tcp:' (expected tcp:HOST:PORT)",
            "tcp:::1:4444   | IPv6 address in 'tcp:::1:4444' must be in brackets, as in tcp:[::1]:4444",
            "tcp:[::1:4444  | missing ']' in 'tcp:[::1:4444'",
            "tcp:[::1]4444  | missing port in 'tcp:[::1]4444' (expected tcp:[ADDRESS]:PORT)",
            "tcp:[::1]:     | missing port in 'tcp:[::1]:' (expected tcp:HOST:PORT)",
            "tcp:[host]:1   | bad IPv6 address 'host' in 'tcp:[host]:1'",
            "tcp:a b:1      | bad host 'a b' in 'tcp:a b:1'",
            "unix:          | missing path in 'unix:' (expected unix:PATH)",
            "file:          | missing path in 'file:' (expected file:PATH)",
            "exec:          | missing command in 'exec:'",
            "fd:            | bad descriptor '' in 'fd:' (expected a number >= 0)",
            "fd:-1          | bad descriptor '-1' in 'fd:-1' (expected a number >= 0)",
            "fd:abc         | bad descriptor 'abc' in 'fd:abc' (expected a number >= 0)",
            "fd:+3          | bad descriptor '+3' in 'fd:+3' (expected a number >= 0)",
            "fd:3x          | bad descriptor '3x' in 'fd:3x' (expected a number >= 0)",
            "fd:2147483648  | bad descriptor '2147483648' in 'fd:2147483648' (expected a number >= 0)",
    })
    void rejectsBadUrisNamingTheValue(String uri, String message) {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MigrationUri.parse(uri));
        assertEquals(message, e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void rejectsEmptyAndBlank() {
        assertThrows(IllegalArgumentException.class, () -> MigrationUri.parse(""));
        assertThrows(IllegalArgumentException.class, () -> MigrationUri.parse(null));
        assertEquals("missing command in 'exec:   '",
                assertThrows(IllegalArgumentException.class, () -> MigrationUri.parse("exec:   ")).getMessage());
    }

    @Test
    void recordsValidateToo() {
        assertEquals("bad port '70000' in 'tcp:h:70000' (expected 0..65535)",
                assertThrows(IllegalArgumentException.class, () -> new TcpUri("h", 70000)).getMessage());
        assertEquals("bad descriptor '-1' in 'fd:-1' (expected a number >= 0)",
                assertThrows(IllegalArgumentException.class, () -> new FdUri(-1)).getMessage());
        assertThrows(NullPointerException.class, () -> new UnixUri(null));
    }

    @ParameterizedTest
    @CsvSource({"::1, ::1", "::, ::", "fe80:0:0:0:0:0:0:2, fe80::2", "1:0:0:2:0:0:0:3, 1:0:0:2::3",
            "1:0:2:0:3:0:4:0, 1:0:2:0:3:0:4:0", "127.0.0.1, 127.0.0.1"})
    void formatsAddressesShortly(String address, String expected) throws Exception {
        assertEquals(expected, TcpUri.format(InetAddress.getByName(address)));
    }
}
