package dev.vmmigrate.transport;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.PrivateKey;
import java.security.Signature;
import java.security.cert.CertStore;
import java.security.cert.CollectionCertStoreParameters;
import java.security.cert.PKIXBuilderParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import javax.net.ssl.CertPathTrustManagerParameters;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLContext;
import javax.net.ssl.TrustManagerFactory;

/**
 * A QEMU {@code tls-creds-x509} directory loaded for one end (QEMU's crypto/tlscredsx509.c):
 * {@code ca-cert.pem}, this end's certificate and key ({@link TlsRole}), and {@code ca-crl.pem}
 * if present. Both ends check the peer's chain against the CA (the receiver requires a client
 * certificate, as QEMU's verify-peer=on); the sender also checks the receiver's name.
 */
public final class TlsCredentials {
    /** TLS 1.3 first; 1.2 for peers without it (QEMU's gnutls priority "NORMAL" allows both). */
    static final List<String> PROTOCOLS = List.of("TLSv1.3", "TLSv1.2");

    private final Path dir;
    private final TlsRole role;
    private final SSLContext context;
    private final boolean caSignsWithRsa;

    private TlsCredentials(Path dir, TlsRole role, SSLContext context, boolean caSignsWithRsa) {
        this.dir = dir;
        this.role = role;
        this.context = context;
        this.caSignsWithRsa = caSignsWithRsa;
    }

    /**
     * Reads {@code dir} for {@code role}.
     *
     * @throws IOException one line naming the file and what is wrong with it
     */
    public static TlsCredentials load(Path dir, TlsRole role) throws IOException {
        Objects.requireNonNull(role, "role");
        if (!Files.isDirectory(dir)) {
            throw new IOException("TLS credentials " + dir + ": not a directory (expected QEMU's tls-creds-x509 "
                    + "layout: " + TlsRole.CA_CERT + ", " + role.certFile() + ", " + role.keyFile() + ")");
        }
        List<X509Certificate> cas = PemFiles.certificates(dir.resolve(TlsRole.CA_CERT));
        Path certFile = dir.resolve(role.certFile());
        Path keyFile = dir.resolve(role.keyFile());
        List<X509Certificate> chain = PemFiles.certificates(certFile);
        PrivateKey key = PemFiles.privateKey(keyFile);
        checkPair(key, chain.getFirst(), keyFile, certFile);
        Path crlFile = dir.resolve(TlsRole.CA_CRL);
        List<X509CRL> crls = Files.exists(crlFile) ? PemFiles.crls(crlFile) : List.of();
        try {
            SSLContext context = SSLContext.getInstance("TLS");
            context.init(new KeyManager[] {new SingleKeyManager(key, chain.toArray(X509Certificate[]::new))},
                    trustManagers(cas, crls).getTrustManagers(), null);
            return new TlsCredentials(dir, role, context,
                    cas.stream().anyMatch(ca -> ca.getPublicKey().getAlgorithm().equals("RSA")));
        } catch (GeneralSecurityException e) {
            throw new IOException("TLS credentials " + dir + ": " + e.getMessage(), e);
        }
    }

    /** PKIX against the CA certificates, revocation checked only when ca-crl.pem is there (as QEMU). */
    private static TrustManagerFactory trustManagers(List<X509Certificate> cas, List<X509CRL> crls)
            throws GeneralSecurityException {
        Set<TrustAnchor> anchors = new HashSet<>();
        for (X509Certificate ca : cas) {
            anchors.add(new TrustAnchor(ca, null));
        }
        PKIXBuilderParameters parameters = new PKIXBuilderParameters(anchors, null);
        parameters.setRevocationEnabled(!crls.isEmpty());
        if (!crls.isEmpty()) {
            parameters.addCertStore(CertStore.getInstance("Collection", new CollectionCertStoreParameters(crls)));
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance("PKIX");
        factory.init(new CertPathTrustManagerParameters(parameters));
        return factory;
    }

    /** A key that does not belong to the certificate is a set-up error, better said now than as a failed handshake. */
    private static void checkPair(PrivateKey key, X509Certificate certificate, Path keyFile, Path certFile)
            throws IOException {
        String algorithm = switch (key.getAlgorithm()) {
            case "RSA" -> "SHA256withRSA";
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            default -> null;
        };
        if (algorithm == null) {
            return;
        }
        try {
            byte[] probe = "vm-migrate tls-creds key check".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            Signature signer = Signature.getInstance(algorithm);
            signer.initSign(key);
            signer.update(probe);
            byte[] signature = signer.sign();
            Signature verifier = Signature.getInstance(algorithm);
            verifier.initVerify(certificate.getPublicKey());
            verifier.update(probe);
            if (!verifier.verify(signature)) {
                throw new IOException(keyFile + " is not the key of " + certFile);
            }
        } catch (GeneralSecurityException e) {
            throw new IOException(keyFile + " is not the key of " + certFile + ": " + e.getMessage(), e);
        }
    }

    public Path dir() {
        return dir;
    }

    public TlsRole role() {
        return role;
    }

    /** Where the CA certificates came from, for messages. */
    Path caFile() {
        return dir.resolve(TlsRole.CA_CERT);
    }

    /** Where this end's certificate came from, for messages. */
    Path certFile() {
        return dir.resolve(role.certFile());
    }

    /** Where the revocation list came from, for messages. */
    Path crlFile() {
        return dir.resolve(TlsRole.CA_CRL);
    }

    /** Whether a CA has an RSA key, so the certificates it signs carry an rsa_pkcs1 signature. */
    boolean caSignsWithRsa() {
        return caSignsWithRsa;
    }

    SSLContext context() {
        return context;
    }

    /**
     * Runs the handshake on a tcp: or unix: connection and returns the encrypted connection in
     * its place; {@code plain} is closed if the handshake fails. As a client, {@code peerName}
     * (the URI's host or QEMU's tls-hostname) must match the receiver's certificate.
     *
     * @param timeout the whole handshake's limit: a peer that connects and never completes it is dropped
     * @throws IOException one line: "TLS handshake with ADDRESS failed: REASON"
     */
    public Connection handshake(Connection plain, String peerName, Duration timeout) throws IOException {
        return TlsHandshake.run(this, plain, peerName, timeout);
    }

    /**
     * The receiving end: {@code plain}'s one connection after the server handshake (see
     * {@link #handshake}); closing the endpoint also ends a handshake under way.
     */
    public IncomingEndpoint serve(IncomingEndpoint plain, Duration timeout) {
        return new TlsEndpoint(plain, this, timeout);
    }
}
