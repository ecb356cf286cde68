package dev.vmmigrate.transport;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;

/**
 * Short reasons for wrapped exceptions. NIO's file exceptions carry only the path as their
 * message ("/x/y"), which reads badly after "cannot open file:/x/y: ".
 */
final class IoErrors {
    private IoErrors() {}

    static String reason(IOException e) {
        if (e instanceof NoSuchFileException) return "no such file or directory";
        if (e instanceof AccessDeniedException) return "permission denied";
        if (e instanceof NotDirectoryException) return "not a directory";
        if (e instanceof FileSystemException fse && fse.getReason() != null) return fse.getReason();
        String message = e.getMessage();
        return message == null || message.isBlank() ? e.getClass().getSimpleName() : message;
    }

    /** Wraps {@code e} with a one-line message that says what we were doing and with what. */
    static IOException wrap(String doing, IOException e) {
        return new IOException(doing + ": " + reason(e), e);
    }
}
