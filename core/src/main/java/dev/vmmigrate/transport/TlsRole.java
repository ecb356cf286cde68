package dev.vmmigrate.transport;

/**
 * Which end of the TLS session this process is, and so which files of a QEMU
 * {@code tls-creds-x509} directory it reads (QEMU's QCryptoTLSCredsEndpoint and the file names
 * of crypto/tlscredsx509.c): the migration's destination is the server, its source the client.
 */
public enum TlsRole {
    /** The receiver: presents server-cert.pem and requires a client certificate (verify-peer=on). */
    SERVER("server-cert.pem", "server-key.pem"),
    /** The sender: presents client-cert.pem and checks the server's certificate and name. */
    CLIENT("client-cert.pem", "client-key.pem");

    /** The CA certificates both ends trust (QCRYPTO_TLS_CREDS_X509_CA_CERT). */
    public static final String CA_CERT = "ca-cert.pem";
    /** Optional revocation list of the CA (QCRYPTO_TLS_CREDS_X509_CA_CRL). */
    public static final String CA_CRL = "ca-crl.pem";

    private final String certFile;
    private final String keyFile;

    TlsRole(String certFile, String keyFile) {
        this.certFile = certFile;
        this.keyFile = keyFile;
    }

    /** This end's certificate (chain) file name. */
    public String certFile() {
        return certFile;
    }

    /** This end's private key file name. */
    public String keyFile() {
        return keyFile;
    }
}
