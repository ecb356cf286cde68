package dev.vmmigrate.testing;

import java.io.IOException;
import java.io.StringWriter;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Date;
import java.util.List;
import org.bouncycastle.asn1.x500.X500Name;
import org.bouncycastle.asn1.x509.BasicConstraints;
import org.bouncycastle.asn1.x509.ExtendedKeyUsage;
import org.bouncycastle.asn1.x509.Extension;
import org.bouncycastle.asn1.x509.GeneralName;
import org.bouncycastle.asn1.x509.GeneralNames;
import org.bouncycastle.asn1.x509.KeyPurposeId;
import org.bouncycastle.asn1.x509.KeyUsage;
import org.bouncycastle.cert.jcajce.JcaX509CertificateConverter;
import org.bouncycastle.cert.jcajce.JcaX509ExtensionUtils;
import org.bouncycastle.cert.jcajce.JcaX509v3CertificateBuilder;
import org.bouncycastle.openssl.jcajce.JcaPEMWriter;
import org.bouncycastle.openssl.jcajce.JcaPKCS8Generator;
import org.bouncycastle.operator.jcajce.JcaContentSignerBuilder;

/**
 * A throw-away certificate authority for TLS tests: writes QEMU {@code tls-creds-x509}
 * directories (ca-cert.pem, server-cert.pem + server-key.pem, client-cert.pem + client-key.pem)
 * with the extensions gnutls insists on (CA: basicConstraints CA:TRUE and keyCertSign; server:
 * serverAuth, digitalSignature + keyEncipherment, a subjectAltName; client: clientAuth). Keys
 * and certificates are made at test time, never committed.
 *
 * <pre>
 * TestPki ca = TestPki.newCa("test CA");
 * Path creds = ca.creds(dir.resolve("creds")).write();                       // RSA, PKCS#1 keys
 * Path other = ca.creds(dir.resolve("ec")).keys(KeyFormat.EC).clientExpired().write();
 * </pre>
 */
public final class TestPki {
    /** How the private keys are generated and written. */
    public enum KeyFormat {
        /** RSA 2048, "BEGIN RSA PRIVATE KEY" as certtool and {@code openssl genrsa -traditional} write it. */
        PKCS1,
        /** RSA 2048, "BEGIN PRIVATE KEY". */
        PKCS8,
        /** EC P-256, "BEGIN EC PRIVATE KEY" (SEC1). */
        EC
    }

    private static final Duration VALIDITY = Duration.ofDays(2);

    private final String name;
    private final KeyPair keys;
    private final X509Certificate certificate;

    private TestPki(String name, KeyPair keys, X509Certificate certificate) {
        this.name = name;
        this.keys = keys;
        this.certificate = certificate;
    }

    /** A new self-signed RSA CA named {@code CN=name}. */
    public static TestPki newCa(String name) {
        try {
            KeyPair keys = generate(KeyFormat.PKCS8);
            X500Name subject = new X500Name("CN=" + name);
            Instant now = Instant.now();
            JcaX509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(subject, BigInteger.ONE,
                    Date.from(now.minus(Duration.ofHours(1))), Date.from(now.plus(VALIDITY)), subject, keys.getPublic());
            JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(true));
            builder.addExtension(Extension.keyUsage, true, new KeyUsage(KeyUsage.keyCertSign | KeyUsage.cRLSign));
            builder.addExtension(Extension.subjectKeyIdentifier, false, utils.createSubjectKeyIdentifier(keys.getPublic()));
            return new TestPki(name, keys, sign(builder, keys.getPrivate()));
        } catch (GeneralSecurityException | IOException | org.bouncycastle.operator.OperatorCreationException e) {
            throw new IllegalStateException("cannot make test CA " + name, e);
        }
    }

    /** A directory to fill with this CA's credentials. */
    public Creds creds(Path dir) {
        return new Creds(dir);
    }

    /** This CA's certificate. */
    public X509Certificate certificate() {
        return certificate;
    }

    /** What goes into one credentials directory; {@link #write()} writes it. */
    public final class Creds {
        private final Path dir;
        private KeyFormat format = KeyFormat.PKCS1;
        private List<String> serverNames = List.of("IP:127.0.0.1", "DNS:localhost");
        private boolean clientExpired;
        private boolean serverExpired;
        private boolean clientRevoked;

        private Creds(Path dir) {
            this.dir = dir;
        }

        public Creds keys(KeyFormat format) {
            this.format = format;
            return this;
        }

        /** The server certificate's subjectAltNames, "IP:ADDRESS" or "DNS:NAME". */
        public Creds serverNames(String... names) {
            this.serverNames = List.of(names);
            return this;
        }

        /** A client certificate whose validity ended an hour ago. */
        public Creds clientExpired() {
            this.clientExpired = true;
            return this;
        }

        /** A server certificate whose validity ended an hour ago. */
        public Creds serverExpired() {
            this.serverExpired = true;
            return this;
        }

        /** A ca-crl.pem that revokes the client certificate. */
        public Creds clientRevoked() {
            this.clientRevoked = true;
            return this;
        }

        /** Writes ca-cert.pem and both ends' certificates and keys; returns the directory. */
        public Path write() {
            try {
                Files.createDirectories(dir);
                Files.writeString(dir.resolve("ca-cert.pem"), pem(certificate));
                leaf("server", KeyPurposeId.id_kp_serverAuth, serverNames, serverExpired);
                X509Certificate client = leaf("client", KeyPurposeId.id_kp_clientAuth, List.of(), clientExpired);
                if (clientRevoked) {
                    Files.writeString(dir.resolve("ca-crl.pem"), pem(crl(client)));
                }
                return dir;
            } catch (GeneralSecurityException | IOException | org.bouncycastle.operator.OperatorCreationException e) {
                throw new IllegalStateException("cannot write test credentials to " + dir, e);
            }
        }

        private X509Certificate leaf(String role, KeyPurposeId purpose, List<String> names, boolean expired)
                throws GeneralSecurityException, IOException, org.bouncycastle.operator.OperatorCreationException {
            KeyPair leafKeys = generate(format);
            Instant now = Instant.now();
            Instant notBefore = expired ? now.minus(Duration.ofDays(2)) : now.minus(Duration.ofHours(1));
            Instant notAfter = expired ? now.minus(Duration.ofHours(1)) : now.plus(VALIDITY);
            JcaX509v3CertificateBuilder builder = new JcaX509v3CertificateBuilder(certificate,
                    new BigInteger(64, new java.security.SecureRandom()).add(BigInteger.TWO), Date.from(notBefore), Date.from(notAfter),
                    new X500Name("CN=vm-migrate test " + role + ", O=" + name), leafKeys.getPublic());
            JcaX509ExtensionUtils utils = new JcaX509ExtensionUtils();
            builder.addExtension(Extension.basicConstraints, true, new BasicConstraints(false));
            builder.addExtension(Extension.keyUsage, true,
                    new KeyUsage(KeyUsage.digitalSignature | KeyUsage.keyEncipherment));
            builder.addExtension(Extension.extendedKeyUsage, false, new ExtendedKeyUsage(purpose));
            builder.addExtension(Extension.subjectKeyIdentifier, false, utils.createSubjectKeyIdentifier(leafKeys.getPublic()));
            builder.addExtension(Extension.authorityKeyIdentifier, false, utils.createAuthorityKeyIdentifier(certificate));
            if (!names.isEmpty()) {
                List<GeneralName> altNames = new ArrayList<>();
                for (String altName : names) {
                    String value = altName.substring(altName.indexOf(':') + 1);
                    altNames.add(altName.startsWith("IP:") ? new GeneralName(GeneralName.iPAddress, value)
                            : new GeneralName(GeneralName.dNSName, value));
                }
                builder.addExtension(Extension.subjectAlternativeName, false,
                        new GeneralNames(altNames.toArray(GeneralName[]::new)));
            }
            X509Certificate leaf = sign(builder, keys.getPrivate());
            Files.writeString(dir.resolve(role + "-cert.pem"), pem(leaf));
            Files.writeString(dir.resolve(role + "-key.pem"), keyPem(leafKeys.getPrivate(), format));
            return leaf;
        }

        /** This CA's revocation list naming {@code revoked}. */
        private java.security.cert.X509CRL crl(X509Certificate revoked)
                throws GeneralSecurityException, org.bouncycastle.operator.OperatorCreationException {
            Date now = new Date();
            var builder = new org.bouncycastle.cert.jcajce.JcaX509v2CRLBuilder(certificate, now);
            builder.setNextUpdate(Date.from(now.toInstant().plus(VALIDITY)));
            builder.addCRLEntry(revoked.getSerialNumber(), now, org.bouncycastle.asn1.x509.CRLReason.keyCompromise);
            return new org.bouncycastle.cert.jcajce.JcaX509CRLConverter().getCRL(
                    builder.build(new JcaContentSignerBuilder("SHA256withRSA").build(keys.getPrivate())));
        }
    }

    private static KeyPair generate(KeyFormat format) throws GeneralSecurityException {
        if (format == KeyFormat.EC) {
            KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
            generator.initialize(new ECGenParameterSpec("secp256r1"));
            return generator.generateKeyPair();
        }
        KeyPairGenerator generator = KeyPairGenerator.getInstance("RSA");
        generator.initialize(2048);
        return generator.generateKeyPair();
    }

    private static X509Certificate sign(JcaX509v3CertificateBuilder builder, PrivateKey caKey)
            throws GeneralSecurityException, org.bouncycastle.operator.OperatorCreationException {
        return new JcaX509CertificateConverter().getCertificate(
                builder.build(new JcaContentSignerBuilder("SHA256withRSA").build(caKey)));
    }

    private static String pem(Object object) throws IOException {
        StringWriter text = new StringWriter();
        try (JcaPEMWriter writer = new JcaPEMWriter(text)) {
            writer.writeObject(object);
        }
        return text.toString();
    }

    /** BouncyCastle writes RSA and EC keys in their traditional forms (PKCS#1, SEC1) unless asked for PKCS#8. */
    private static String keyPem(PrivateKey key, KeyFormat format) throws IOException {
        return switch (format) {
            case PKCS8 -> pem(new JcaPKCS8Generator(key, null));
            case PKCS1 -> pem(key);
            // As openssl ecparam -genkey writes it: the named curve inside the SEC1 structure.
            case EC -> {
                var info = org.bouncycastle.asn1.pkcs.PrivateKeyInfo.getInstance(key.getEncoded());
                var sec1 = new org.bouncycastle.asn1.sec.ECPrivateKey(256,
                        ((java.security.interfaces.ECPrivateKey) key).getS(),
                        info.getPrivateKeyAlgorithm().getParameters());
                yield pem(new org.bouncycastle.util.io.pem.PemObject("EC PRIVATE KEY", sec1.getEncoded()));
            }
        };
    }
}
