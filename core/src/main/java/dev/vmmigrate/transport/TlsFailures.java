package dev.vmmigrate.transport;

import java.io.EOFException;
import java.net.SocketException;
import java.security.cert.CertPathBuilderException;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateExpiredException;
import java.security.cert.CertificateNotYetValidException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Why a TLS session failed, in the operator's terms: which certificate, which file, which name.
 * JSSE's own messages ("PKIX path building failed: ...: unable to find valid certification path
 * to requested target") say it in the validator's terms.
 */
final class TlsFailures {
    private static final Pattern ALERT = Pattern.compile("Received fatal alert: (\\w+)");

    private TlsFailures() {
    }

    /** The reason for a failed handshake or a session the peer ended with an alert. */
    static String reason(Throwable failure, TlsCredentials creds, String peerName) {
        for (Throwable e = failure; e != null; e = e.getCause()) {
            String message = e.getMessage() == null ? "" : e.getMessage();
            Matcher alert = ALERT.matcher(message);
            if (alert.find()) {
                return peerAlert(alert.group(1), creds);
            }
        }
        for (Throwable e = failure; e != null; e = e.getCause()) {
            String message = e.getMessage() == null ? "" : e.getMessage();
            if (e instanceof CertificateExpiredException) {
                return "the peer's certificate has expired (" + message + ")";
            }
            if (e instanceof CertificateNotYetValidException) {
                return "the peer's certificate is not valid yet (" + message + ")";
            }
            if (e instanceof CertPathValidatorException validator) {
                if (validator.getReason() == CertPathValidatorException.BasicReason.REVOKED) {
                    return "the peer's certificate is revoked by " + creds.crlFile();
                }
                if (validator.getReason() == CertPathValidatorException.BasicReason.EXPIRED) {
                    return "the peer's certificate has expired";
                }
                if (validator.getReason() == CertPathValidatorException.BasicReason.NOT_YET_VALID) {
                    return "the peer's certificate is not valid yet";
                }
            }
            if (e instanceof CertPathBuilderException || message.contains("PKIX path building failed")
                    || message.contains("does not chain with any of the trust anchors")) {
                return "the peer's certificate is not signed by the CA in " + creds.caFile();
            }
            if (message.startsWith("No subject alternative") || message.startsWith("No name matching")) {
                return "the peer's certificate is not for " + peerName + " (" + message + ")";
            }
            if (message.contains("Extended key usage does not permit")
                    || message.contains("KeyUsage does not allow")) {
                return "the peer's certificate is not for this use: " + message;
            }
            if (message.startsWith("Empty client certificate chain") || message.startsWith("Empty server certificate")) {
                return "the peer presented no certificate";
            }
            if (message.startsWith("Unsupported or unrecognized SSL message")) {
                return "the peer does not speak TLS (it sent something other than a TLS handshake, "
                        + "such as a plain migration stream)";
            }
            if (message.startsWith("Remote host terminated") || e instanceof EOFException
                    || e instanceof SocketException) {
                return "the peer closed the connection during the handshake (it may not use TLS, or it refused "
                        + "our certificate " + creds.certFile() + ")";
            }
        }
        String message = failure.getMessage();
        return message == null || message.isBlank() ? failure.toString() : message;
    }

    /** A fatal alert from the peer: what it says about us. */
    private static String peerAlert(String alert, TlsCredentials creds) {
        String ours = "our certificate " + creds.certFile();
        return switch (alert) {
            case "unknown_ca" -> "the peer does not trust " + ours + ": it is not signed by the peer's CA "
                    + "(TLS alert unknown_ca)";
            case "certificate_expired" -> "the peer says " + ours + " has expired (TLS alert certificate_expired)";
            case "certificate_revoked" -> "the peer says " + ours + " is revoked (TLS alert certificate_revoked)";
            case "bad_certificate", "certificate_unknown", "unsupported_certificate", "access_denied",
                 "certificate_required" -> "the peer refused " + ours + " (TLS alert " + alert + ")";
            case "handshake_failure", "protocol_version", "insufficient_security" -> "the peer refused the handshake "
                    + "(TLS alert " + alert + ": no protocol version or cipher both ends accept)";
            default -> "the peer ended the session with TLS alert " + alert;
        };
    }
}
