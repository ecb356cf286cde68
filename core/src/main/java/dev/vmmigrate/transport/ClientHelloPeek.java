package dev.vmmigrate.transport;

import java.io.EOFException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * The first TLS record a client sends, read before the SSLSocket takes over (which gets the bytes
 * back as "consumed" input), to see whether the client understands the signature_algorithms_cert
 * extension (RFC 8446 4.2.3). gnutls 3.7 (QEMU 7.2 and 10.0 on Debian 12) does not: in TLS 1.3 it
 * presents its certificate only if the certificate's own signature algorithm is in the server's
 * signature_algorithms, where JSSE, rightly, no longer lists rsa_pkcs1_* in TLS 1.3. Such a client
 * with an RSA CA's certificate would send none at all.
 */
record ClientHelloPeek(byte[] consumed, boolean handshake, boolean signatureAlgorithmsCert) {
    private static final int HANDSHAKE = 22;
    private static final int CLIENT_HELLO = 1;
    private static final int SIGNATURE_ALGORITHMS_CERT = 50;
    private static final int MAX_RECORD = 16384 + 2048;

    /** Reads the first record (its header, then the length it gives, at most a record's worth). */
    static ClientHelloPeek read(SocketChannel socket) throws IOException {
        ByteBuffer header = readFully(socket, ByteBuffer.allocate(5));
        int length = header.getShort(3) & 0xffff;
        if (header.get(0) != HANDSHAKE || length > MAX_RECORD) {
            return new ClientHelloPeek(header.array(), false, false); // not TLS: the SSLSocket says so
        }
        ByteBuffer body = readFully(socket, ByteBuffer.allocate(length));
        byte[] consumed = new byte[5 + length];
        System.arraycopy(header.array(), 0, consumed, 0, 5);
        System.arraycopy(body.array(), 0, consumed, 5, length);
        return new ClientHelloPeek(consumed, true, offersSignatureAlgorithmsCert(body.flip()));
    }

    private static ByteBuffer readFully(SocketChannel socket, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            if (socket.read(buffer) < 0) {
                throw new EOFException("the peer closed the connection before its first TLS record");
            }
        }
        return buffer;
    }

    /** Walks the ClientHello to its extensions; a hello cut across records counts as a modern client. */
    private static boolean offersSignatureAlgorithmsCert(ByteBuffer hello) {
        try {
            if (hello.get() != CLIENT_HELLO) return true;
            hello.position(hello.position() + 3 + 2 + 32); // length, legacy_version, random
            skip(hello, hello.get() & 0xff); // legacy_session_id
            skip(hello, hello.getShort() & 0xffff); // cipher_suites
            skip(hello, hello.get() & 0xff); // legacy_compression_methods
            int end = (hello.getShort() & 0xffff) + hello.position();
            while (hello.position() + 4 <= Math.min(end, hello.limit())) {
                int type = hello.getShort() & 0xffff;
                int length = hello.getShort() & 0xffff;
                if (type == SIGNATURE_ALGORITHMS_CERT) return true;
                skip(hello, length);
            }
            return hello.position() < end; // ran out of this record before the end: not known
        } catch (RuntimeException e) {
            return true;
        }
    }

    private static void skip(ByteBuffer buffer, int bytes) {
        buffer.position(buffer.position() + bytes);
    }
}
