package dev.llamajava.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/** The one SHA-256 helper. */
public final class Hashing {

    private Hashing() { }

    /** @return a fresh SHA-256 digest */
    public static MessageDigest sha256Digest() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is not available", e);
        }
    }

    /** @return the lower-case hex SHA-256 of the bytes */
    public static String sha256(byte[] bytes) {
        return HexFormat.of().formatHex(sha256Digest().digest(bytes));
    }

    /** @return the lower-case hex SHA-256 of what the stream yields (read to its end) */
    public static String sha256(InputStream in) throws IOException {
        MessageDigest md = sha256Digest();
        byte[] buf = new byte[1 << 16];
        for (int n; (n = in.read(buf)) > 0; ) md.update(buf, 0, n);
        return HexFormat.of().formatHex(md.digest());
    }

    /** @return the lower-case hex SHA-256 of the file */
    public static String sha256(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return sha256(in);
        }
    }
}
