package dev.llamajava.internal.loader;

import dev.llamajava.internal.Hashing;
import dev.llamajava.internal.Settings;
import dev.llamajava.NativeLibraryException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Extracts the natives jar's libraries into a versioned cache folder: under a file lock, write then rename, every
 * checksum verified, only into folders that belong to this user and that nobody else can write.
 */
final class NativeExtractor {

    private NativeExtractor() { }

    /**
     * A resource of the natives jars, through the class loader: with the library a named module (module path), its
     * own {@code Class.getResourceAsStream} would look only inside the library's jar, and the natives jar is another
     * (automatic) module. The folder names ({@code native}, {@code linux-x86_64}) are no package names, so no module
     * encapsulates them.
     */
    static InputStream resource(String absolutePath) {
        String name = absolutePath.startsWith("/") ? absolutePath.substring(1) : absolutePath;
        ClassLoader cl = NativeExtractor.class.getClassLoader();
        return cl != null ? cl.getResourceAsStream(name) : ClassLoader.getSystemResourceAsStream(name);
    }

    static Map<String, String> readManifest(String resDir) {
        try (InputStream in = resource(resDir + NativeLoader.MANIFEST)) {
            if (in == null) return null;
            Map<String, String> m = new LinkedHashMap<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                line = line.strip();
                if (line.isEmpty()) continue;
                String[] parts = line.split("\\s+\\*?", 2);
                if (parts.length != 2 || parts[0].length() != 64 || parts[1].contains("/"))
                    throw new NativeLibraryException("llama-java: malformed natives manifest line: " + line);
                m.put(parts[1], parts[0]);
            }
            return m;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The cache folder name: the library version and the manifest's own hash, so two builds never share a folder. */
    static String version(String resDir) {
        String v = NativeExtractor.class.getPackage().getImplementationVersion();
        if (v == null) v = "dev";
        try (InputStream in = resource(resDir + NativeLoader.MANIFEST)) {
            return v + "-" + Hashing.sha256(in.readAllBytes()).substring(0, 12);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static List<Path> cacheCandidates() {
        List<Path> out = new ArrayList<>();
        out.add(Settings.CACHE_DIR.path());
        out.add(Path.of(System.getProperty("java.io.tmpdir"), "llama-java-" + System.getProperty("user.name", "user")).toAbsolutePath());
        return out;
    }

    /**
     * Creates the folder (owner-only where it is new) and checks that it and every folder from it up to the cache
     * base belong to this user and that nobody else can write them: the libraries are verified, then loaded from a
     * place no other user could have swapped them in.
     */
    static void createPrivate(Path base, Path dir) throws IOException {
        try {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (UnsupportedOperationException e) {
            Files.createDirectories(dir); // not a POSIX file system
            return;
        }
        String me = System.getProperty("user.name");
        for (Path p = dir; p != null; p = p.getParent()) {
            String owner = Files.getOwner(p).getName();
            if (!owner.equals(me)) throw new IOException(p + " belongs to " + owner + ", not to " + me);
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p);
            if (perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
                throw new IOException(p + " can be written by other users (" + PosixFilePermissions.toString(perms) + ")");
            }
            if (p.equals(base)) break;
        }
    }

    static void extract(String resDir, Map<String, String> manifest, Path base, Path dir) {
        try {
            createPrivate(base, dir);
            if (!Files.isWritable(dir) || !Files.isExecutable(dir)) throw new IOException("directory is not writable and searchable");
            try (FileChannel ch = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock ignored = ch.lock()) {
                for (Map.Entry<String, String> e : manifest.entrySet()) {
                    Path target = dir.resolve(e.getKey());
                    if (Files.isRegularFile(target) && Hashing.sha256(target).equals(e.getValue())) continue;
                    Path tmp = Files.createTempFile(dir, "." + e.getKey(), ".part");
                    try {
                        try (InputStream in = resource(resDir + e.getKey())) {
                            if (in == null) throw new IOException("resource " + resDir + e.getKey() + " listed in the manifest is missing");
                            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                        }
                        String actual = Hashing.sha256(tmp);
                        if (!actual.equals(e.getValue()))
                            throw new IOException("checksum mismatch for " + e.getKey() + ": expected " + e.getValue() + ", got " + actual);
                        try {
                            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
                        } catch (UnsupportedOperationException ignore) {
                            // not a POSIX file system
                        }
                        try {
                            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                        } catch (AtomicMoveNotSupportedException ex) {
                            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
                        }
                    } finally {
                        Files.deleteIfExists(tmp);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e.toString(), e);
        }
    }
}
