package dev.llamajava.hub;

import com.fasterxml.jackson.databind.JsonNode;
import dev.llamajava.hub.HuggingFace.RepoFile;

import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.Locale;
import java.util.StringJoiner;
import java.util.regex.Pattern;

/**
 * Checks every name that ends up in a cache path or a request URL: the user's repository id and revision, and
 * what the server says (commit ids, LFS sha256 oids, file paths). Nothing the server sends is trusted: a value
 * that could leave the cache folder, or that is not the shape the Hub documents, is a {@link HubException}
 * naming the field, the value and where it came from.
 */
final class HubNames {

    private HubNames() { }

    private static final Pattern HEX40 = Pattern.compile("[0-9a-fA-F]{40}");
    private static final Pattern HEX64 = Pattern.compile("[0-9a-fA-F]{64}");
    private static final Pattern REPO = Pattern.compile("[A-Za-z0-9._-]+/[A-Za-z0-9._-]+");
    private static final Pattern REVISION = Pattern.compile("[A-Za-z0-9._/-]{1,255}");
    private static final int MAX_PATH = 4096;

    /**
     * @param repo the user's {@code owner/name}
     * @return it, unchanged
     * @throws HubException unless it is two non-empty parts of {@code [A-Za-z0-9._-]} with no {@code ..}
     */
    static String repo(String repo) {
        if (repo == null || !REPO.matcher(repo).matches() || repo.contains("..")
                || repo.startsWith("./") || repo.endsWith("/.")) {
            throw new HubException("invalid repository id " + show(repo)
                    + ": expected owner/name (letters, digits, '.', '_', '-', exactly one '/', no '..')");
        }
        return repo;
    }

    /**
     * @param revision the user's branch, tag or commit
     * @return it, unchanged
     * @throws HubException when it is empty, has characters other than {@code [A-Za-z0-9._/-]}, a {@code ..},
     *                      or an empty or {@code .} segment
     */
    static String revision(String revision) {
        boolean ok = revision != null && REVISION.matcher(revision).matches() && !revision.contains("..");
        if (ok) {
            for (String seg : revision.split("/", -1)) ok &= !seg.isEmpty() && !seg.equals(".");
        }
        if (!ok) {
            throw new HubException("invalid revision " + show(revision)
                    + ": expected a branch, tag or commit (letters, digits, '.', '_', '-', '/', no '..')");
        }
        return revision;
    }

    /** @return whether the text is a commit id (40 hex characters) */
    static boolean isCommit(String id) {
        return id != null && HEX40.matcher(id).matches();
    }

    /**
     * @param id     a commit id
     * @param source where it came from, e.g. {@code from http://...}
     * @return it in lower case
     * @throws HubException unless it is exactly 40 hex characters
     */
    static String commit(String id, String source) {
        if (!isCommit(id)) throw bad("commit id", id, source, "expected 40 hexadecimal characters");
        return id.toLowerCase(Locale.ROOT);
    }

    /**
     * @param oid    an LFS oid (the file's sha256)
     * @param file   the file it belongs to
     * @param source where it came from
     * @return it in lower case
     * @throws HubException unless it is exactly 64 hex characters
     */
    static String sha256(String oid, String file, String source) {
        if (oid == null || !HEX64.matcher(oid).matches()) {
            throw bad("LFS sha256 (oid) of " + show(file) + ":", oid, source, "expected 64 hexadecimal characters");
        }
        return oid.toLowerCase(Locale.ROOT);
    }

    /**
     * Reads one {@code "type":"file"} entry of the Hub's tree listing, checking its path, sizes and LFS oid.
     *
     * @param m    the entry
     * @param from where it came from
     * @return the file
     * @throws HubException when a field is missing, of the wrong type or invalid
     */
    static RepoFile entry(JsonNode m, String from) {
        JsonNode p = m.path("path");
        if (!p.isTextual()) throw new HubException("a file entry without a textual \"path\" " + from + ": " + show(String.valueOf(m)));
        String path = filePath(p.textValue(), from);
        long size = size(m.path("size"), path, from);
        String sha = null;
        JsonNode lfs = m.path("lfs");
        if (lfs.isObject()) {
            sha = sha256(lfs.path("oid").textValue(), path, from);
            if (!lfs.path("size").isMissingNode()) size = size(lfs.path("size"), path, from);
        } else if (!lfs.isMissingNode() && !lfs.isNull()) {
            throw new HubException("invalid \"lfs\" of " + show(path) + " " + from + ": not an object");
        }
        return new RepoFile(path, size, sha);
    }

    private static long size(JsonNode n, String path, String from) {
        if (n.isMissingNode()) return 0;
        if (!n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() < 0) {
            throw new HubException("invalid size " + n + " of " + show(path) + " " + from + ": expected a whole number >= 0");
        }
        return n.longValue();
    }

    /**
     * Checks a repository file path: relative, non-empty, '/'-separated, no {@code ..}, {@code .} or empty
     * segment, no backslash, NUL or other control character, and still inside a folder once resolved.
     *
     * @param path   the path
     * @param source where it came from
     * @return it, unchanged
     * @throws HubException when it breaks any of these rules
     */
    static String filePath(String path, String source) {
        String why = pathProblem(path);
        if (why != null) throw bad("file path", path, source, why);
        inside(Path.of("repo"), path, "file path", source);
        return path;
    }

    private static String pathProblem(String path) {
        if (path == null || path.isEmpty()) return "it is empty";
        if (path.length() > MAX_PATH) return "it is longer than " + MAX_PATH + " characters";
        if (path.indexOf('\\') >= 0) return "it contains a backslash";
        if (path.chars().anyMatch(c -> c < 0x20 || c == 0x7f)) return "it contains a NUL or control character";
        if (path.startsWith("/")) return "it is absolute";
        for (String seg : path.split("/", -1)) {
            if (seg.equals("..")) return "it has a '..' segment";
            if (seg.equals(".")) return "it has a '.' segment";
            if (seg.isEmpty()) return "it has an empty segment";
        }
        return null;
    }

    /**
     * Resolves a relative name under a folder and checks that the normalised result stays strictly inside it.
     *
     * @param base   the folder
     * @param rel    the relative name
     * @param field  what the name is, for the message
     * @param source where it came from
     * @return {@code base.resolve(rel)}
     * @throws HubException when the name is not a valid path or leaves the folder
     */
    static Path inside(Path base, String rel, String field, String source) {
        Path root = base.toAbsolutePath().normalize();
        Path p;
        try {
            Path r = Path.of(rel);
            if (r.isAbsolute() || r.getRoot() != null) throw bad(field, rel, source, "it is absolute");
            p = root.resolve(r).normalize();
        } catch (InvalidPathException e) {
            throw bad(field, rel, source, "it is not a valid path here (" + e.getReason() + ")");
        }
        if (!p.startsWith(root) || p.equals(root)) throw bad(field, rel, source, "it leaves the cache folder " + root);
        return base.resolve(rel);
    }

    /** @return the path with each segment percent-encoded, for a URL */
    static String encodePath(String path) {
        StringJoiner j = new StringJoiner("/");
        for (String seg : path.split("/", -1)) j.add(encode(seg));
        return j.toString();
    }

    /** @return the text percent-encoded as one URL path segment or query value */
    static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static HubException bad(String field, String value, String source, String why) {
        return new HubException("invalid " + field + " " + show(value) + " " + source + ": " + why);
    }

    /** @return the value quoted for a message: control characters escaped, long values cut */
    static String show(String v) {
        if (v == null) return "(none)";
        StringBuilder b = new StringBuilder("'");
        int n = Math.min(v.length(), 200);
        for (int i = 0; i < n; i++) {
            char c = v.charAt(i);
            if (c < 0x20 || c == 0x7f) b.append(String.format(Locale.ROOT, "\\u%04x", (int) c)); else b.append(c);
        }
        return b.append(v.length() > n ? "...' (" + v.length() + " characters)" : "'").toString();
    }
}
