package dev.vmmigrate.transport;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.Reader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.PrivateKey;
import java.security.cert.CRLException;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509CRL;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.List;
import org.bouncycastle.asn1.pkcs.PrivateKeyInfo;
import org.bouncycastle.openssl.PEMEncryptedKeyPair;
import org.bouncycastle.openssl.PEMKeyPair;
import org.bouncycastle.openssl.PEMParser;
import org.bouncycastle.openssl.jcajce.JcaPEMKeyConverter;
import org.bouncycastle.pkcs.PKCS8EncryptedPrivateKeyInfo;

/**
 * Reads the PEM files of a QEMU {@code tls-creds-x509} directory. Certificates and CRLs go
 * through the JDK; private keys through BouncyCastle's PEM parser, since certtool and openssl
 * commonly write PKCS#1 ("BEGIN RSA PRIVATE KEY") and SEC1 ("BEGIN EC PRIVATE KEY") keys, which
 * the JDK only reads as PKCS#8. Every error is one line naming the file.
 */
final class PemFiles {
    private PemFiles() {
    }

    /** Every certificate in {@code file}, in order (a chain: this end's certificate first). */
    static List<X509Certificate> certificates(Path file) throws IOException {
        byte[] bytes = read(file);
        try {
            List<X509Certificate> certificates = new ArrayList<>();
            for (var certificate : x509().generateCertificates(new ByteArrayInputStream(bytes))) {
                certificates.add((X509Certificate) certificate);
            }
            if (certificates.isEmpty()) {
                throw new IOException(file + ": no certificate in it (expected a PEM \"BEGIN CERTIFICATE\" block)");
            }
            return certificates;
        } catch (CertificateException e) {
            throw new IOException(file + ": not a PEM certificate: " + e.getMessage(), e);
        }
    }

    /** The revocation lists in {@code file}. */
    static List<X509CRL> crls(Path file) throws IOException {
        byte[] bytes = read(file);
        try {
            List<X509CRL> crls = new ArrayList<>();
            for (var crl : x509().generateCRLs(new ByteArrayInputStream(bytes))) {
                crls.add((X509CRL) crl);
            }
            if (crls.isEmpty()) {
                throw new IOException(file + ": no revocation list in it (expected a PEM \"BEGIN X509 CRL\" block)");
            }
            return crls;
        } catch (CRLException e) {
            throw new IOException(file + ": not a PEM revocation list: " + e.getMessage(), e);
        }
    }

    /** The one private key in {@code file}: PKCS#8, PKCS#1 RSA or SEC1 EC, unencrypted. */
    static PrivateKey privateKey(Path file) throws IOException {
        byte[] bytes = read(file);
        Object object;
        try (Reader reader = new java.io.InputStreamReader(new ByteArrayInputStream(bytes), StandardCharsets.US_ASCII);
             PEMParser parser = new PEMParser(reader)) {
            object = parser.readObject();
        } catch (IOException | RuntimeException e) {
            throw new IOException(file + ": not a PEM private key: " + e.getMessage(), e);
        }
        JcaPEMKeyConverter converter = new JcaPEMKeyConverter();
        try {
            return switch (object) {
                case PrivateKeyInfo info -> converter.getPrivateKey(info);
                // SEC1 EC keys may leave the public key out: take the private part only.
                case PEMKeyPair pair -> converter.getPrivateKey(pair.getPrivateKeyInfo());
                // QEMU reads these with passwordid=; vm-migrate has no password option.
                case PKCS8EncryptedPrivateKeyInfo ignored -> throw encrypted(file);
                case PEMEncryptedKeyPair ignored -> throw encrypted(file);
                case null -> throw new IOException(file + ": no private key in it (expected a PEM \"BEGIN PRIVATE "
                        + "KEY\", \"BEGIN RSA PRIVATE KEY\" or \"BEGIN EC PRIVATE KEY\" block)");
                default -> throw new IOException(file + ": holds a " + object.getClass().getSimpleName()
                        + ", not a private key");
            };
        } catch (org.bouncycastle.openssl.PEMException e) {
            throw new IOException(file + ": unusable private key: " + e.getMessage(), e);
        }
    }

    private static IOException encrypted(Path file) {
        return new IOException(file + ": the private key is encrypted; decrypt it first (openssl pkey -in "
                + file.getFileName() + " -out KEY)");
    }

    private static byte[] read(Path file) throws IOException {
        try {
            return Files.readAllBytes(file);
        } catch (IOException e) {
            throw new IOException("cannot read " + file + ": " + IoErrors.reason(e), e);
        }
    }

    private static CertificateFactory x509() {
        try {
            return CertificateFactory.getInstance("X.509");
        } catch (CertificateException e) {
            throw new IllegalStateException("the JDK has no X.509 certificate factory", e);
        }
    }
}
