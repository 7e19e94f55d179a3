package dev.llamajava.hub;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Downloads GGUF files from the Hugging Face Hub into a cache laid out like Hugging Face's own
 * ({@code $HF_HOME/hub/models--owner--repo/{blobs,snapshots,refs}}), so other tools reuse it.
 * Downloads resume (HTTP ranges) after a dropped connection, verify the sha256 of the LFS object, and
 * only a verified file ever appears under {@code snapshots/}; a partial download lives as
 * {@code blobs/<sha256>.incomplete} until it completes or fails its check (then it is deleted).
 * {@code HF_TOKEN} is sent when set; {@code HF_ENDPOINT} and {@code HF_HOME} are honoured (system properties
 * {@code hf.token}, {@code hf.endpoint}, {@code hf.home} take precedence).
 */
public final class HuggingFace {

    /** A file in a repository. */
    public record RepoFile(String path, long size, String sha256) { }

    /** Download progress. */
    @FunctionalInterface
    public interface Progress {
        /**
         * @param done  bytes so far
         * @param total bytes in all
         */
        void onProgress(long done, long total);
    }

    /**
     * A parsed {@code hf:owner/repo[:QUANT]} reference.
     *
     * @param repo  {@code owner/repo}
     * @param quant the quantization asked for, or null
     */
    public record Ref(String repo, String quant) {
        private static final Pattern REF = Pattern.compile("hf:([A-Za-z0-9][\\w.-]*/[\\w.-]+)(?::([\\w.-]+))?");

        /**
         * @param text {@code hf:owner/repo[:QUANT]}
         * @return the reference
         * @throws IllegalArgumentException when malformed
         */
        public static Ref parse(String text) {
            var m = REF.matcher(text);
            if (!m.matches()) throw new IllegalArgumentException("not a Hugging Face reference: '" + text + "' (expected hf:owner/repo[:QUANT])");
            return new Ref(m.group(1), m.group(2));
        }
    }

    private static final int MAX_ATTEMPTS = 4;
    private final URI endpoint;
    private final String token;
    private final Path cache;
    private final HttpClient http;

    /**
     * @param endpoint the Hub's base URL
     * @param token    access token, or null
     * @param cache    the hub cache folder ({@code $HF_HOME/hub})
     */
    public HuggingFace(URI endpoint, String token, Path cache) {
        this.endpoint = Objects.requireNonNull(endpoint, "endpoint");
        this.token = token == null || token.isBlank() ? null : token;
        this.cache = Objects.requireNonNull(cache, "cache");
        this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL).connectTimeout(Duration.ofSeconds(20)).build();
    }

    /** @return a client configured from {@code HF_ENDPOINT}, {@code HF_TOKEN}, {@code HF_HOME} */
    public static HuggingFace fromEnvironment() {
        String ep = env("hf.endpoint", "HF_ENDPOINT", "https://huggingface.co");
        String home = env("hf.home", "HF_HOME", Path.of(System.getProperty("user.home"), ".cache", "huggingface").toString());
        return new HuggingFace(URI.create(ep.endsWith("/") ? ep.substring(0, ep.length() - 1) : ep), env("hf.token", "HF_TOKEN", null), Path.of(home, "hub"));
    }

    /** A system property (for embedding applications and tests), else the environment variable, else the default. */
    private static String env(String property, String k, String def) {
        String v = System.getProperty(property);
        if (v == null || v.isBlank()) v = System.getenv(k);
        return v == null || v.isBlank() ? def : v;
    }

    /** @return the cache folder */
    public Path cache() {
        return cache;
    }

    Path repoDir(String repo) {
        return cache.resolve("models--" + repo.replace("/", "--"));
    }

    private HttpRequest.Builder request(String path) {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create(endpoint + path)).timeout(Duration.ofMinutes(5))
                .header("User-Agent", "llama-java");
        if (token != null) b.header("Authorization", "Bearer " + token);
        return b;
    }

    private String getJson(String path, String repo) {
        try {
            HttpResponse<String> r = http.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofString());
            check(r.statusCode(), repo, path);
            return r.body();
        } catch (IOException e) {
            throw unreachable(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException("interrupted while talking to " + endpoint);
        }
    }

    private HubException unreachable(IOException e) {
        String what = e instanceof ConnectException ? "cannot connect" : e.toString();
        return new HubException("cannot reach " + endpoint + " (" + what + "); are you offline?", e);
    }

    private void check(int status, String repo, String path) {
        if (status == 401) {
            throw new HubException(token == null
                    ? "Hugging Face answered 401 for " + repo + ": the repository needs a token; set HF_TOKEN"
                    : "Hugging Face answered 401 for " + repo + ": HF_TOKEN was rejected");
        }
        if (status == 403) throw new HubException("Hugging Face answered 403 for " + repo + ": no access (gated model? accept its licence on the Hub)");
        if (status == 404) throw new HubException("Hugging Face answered 404: " + repo + " (" + path + ") does not exist");
        if (status >= 400) throw new HubException("Hugging Face answered " + status + " for " + path);
    }

    /**
     * @param repo     {@code owner/repo}
     * @param revision branch, tag or commit
     * @return the commit id the revision points at
     */
    @SuppressWarnings("unchecked")
    public String commit(String repo, String revision) {
        Map<String, Object> info = (Map<String, Object>) Json.parse(getJson("/api/models/" + repo + "/revision/" + enc(revision), repo));
        Object sha = info.get("sha");
        if (!(sha instanceof String s)) throw new HubException("no commit id in the answer for " + repo + "@" + revision);
        return s;
    }

    /**
     * @param repo     {@code owner/repo}
     * @param revision branch, tag or commit
     * @return every file, with size and LFS sha256 (null for non-LFS files)
     */
    @SuppressWarnings("unchecked")
    public List<RepoFile> list(String repo, String revision) {
        List<Object> items = (List<Object>) Json.parse(getJson("/api/models/" + repo + "/tree/" + enc(revision) + "?recursive=true", repo));
        List<RepoFile> out = new ArrayList<>();
        for (Object o : items) {
            Map<String, Object> m = (Map<String, Object>) o;
            if (!"file".equals(m.get("type"))) continue;
            String sha = null;
            long size = ((Number) m.getOrDefault("size", 0L)).longValue();
            if (m.get("lfs") instanceof Map<?, ?> lfs) {
                sha = (String) lfs.get("oid");
                if (lfs.get("size") instanceof Number n) size = n.longValue();
            }
            out.add(new RepoFile((String) m.get("path"), size, sha));
        }
        return out;
    }

    private static String enc(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8);
    }

    /**
     * Finds the GGUF file of a quantization in a listing (names like {@code Model-Q4_K_M.gguf}).
     *
     * @param files the listing
     * @param quant e.g. {@code Q4_K_M}
     * @return the file
     * @throws HubException when none or several match; the message lists what is there
     */
    public static RepoFile fileFor(List<RepoFile> files, String quant) {
        Pattern p = Pattern.compile("(?i)(^|[-._/])" + Pattern.quote(quant) + "([-._]|$)");
        List<RepoFile> ggufs = files.stream().filter(f -> f.path().toLowerCase(Locale.ROOT).endsWith(".gguf")).toList();
        List<RepoFile> hits = ggufs.stream().filter(f -> p.matcher(f.path().substring(0, f.path().length() - 5)).find()).toList();
        if (hits.size() == 1) return hits.getFirst();
        String have = ggufs.stream().map(RepoFile::path).toList().toString();
        if (hits.isEmpty()) throw new HubException("no GGUF file for " + quant + " in the repository; it has " + have);
        throw new HubException("several GGUF files match " + quant + ": " + hits.stream().map(RepoFile::path).toList());
    }

    /**
     * Downloads one file into the cache (or finds it there) and returns its snapshot path.
     *
     * @param repo     {@code owner/repo}
     * @param commit   the commit id
     * @param file     the file (its sha256 is checked when it is an LFS file)
     * @param progress progress listener, may be null
     * @return {@code snapshots/<commit>/<path>}
     * @throws HubException on HTTP errors, a failed check, or when offline
     */
    public Path download(String repo, String commit, RepoFile file, Progress progress) {
        Path dir = repoDir(repo);
        Path snapshot = dir.resolve("snapshots").resolve(commit).resolve(file.path());
        if (Files.isRegularFile(snapshot)) return snapshot;
        String blobName = file.sha256() != null ? file.sha256() : "noLFS-" + file.path().replace('/', '_');
        Path blob = dir.resolve("blobs").resolve(blobName);
        Path part = dir.resolve("blobs").resolve(blobName + ".incomplete");
        try {
            Files.createDirectories(blob.getParent());
            if (!Files.isRegularFile(blob)) {
                IOException last = null;
                for (int attempt = 1; attempt <= MAX_ATTEMPTS && !Files.isRegularFile(blob); attempt++) {
                    try {
                        fetch(repo, commit, file, part, progress);
                        verify(file, part);
                        Files.move(part, blob, StandardCopyOption.ATOMIC_MOVE);
                    } catch (IOException e) {
                        last = e; // dropped connection: resume from what is on disk
                        if (e instanceof ConnectException) break;
                    }
                }
                if (!Files.isRegularFile(blob)) throw unreachable(last == null ? new IOException("download failed") : last);
            }
            Files.createDirectories(snapshot.getParent());
            Path rel = snapshot.getParent().relativize(blob);
            try {
                Files.createSymbolicLink(snapshot, rel);
            } catch (UnsupportedOperationException | IOException e) {
                Files.copy(blob, snapshot, StandardCopyOption.REPLACE_EXISTING);
            }
            return snapshot;
        } catch (IOException e) {
            throw new HubException("cannot write the cache " + dir + ": " + e, e);
        }
    }

    private void fetch(String repo, String commit, RepoFile file, Path part, Progress progress) throws IOException {
        long have = Files.isRegularFile(part) ? Files.size(part) : 0;
        if (file.size() > 0 && have >= file.size()) return;
        HttpRequest.Builder rb = request("/" + repo + "/resolve/" + commit + "/" + file.path()).GET();
        if (have > 0) rb.header("Range", "bytes=" + have + "-");
        HttpResponse<InputStream> r;
        try {
            r = http.send(rb.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException("interrupted while downloading " + file.path());
        }
        int st = r.statusCode();
        if (st == 416 && have > 0) {
            r.body().close();
            return;
        }
        if (st != 200 && st != 206) {
            r.body().close();
            check(st, repo, file.path());
        }
        boolean append = st == 206 && have > 0;
        if (!append) have = 0;
        try (InputStream in = r.body();
             OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 16];
            int n;
            long done = have;
            while ((n = in.read(buf)) > 0) {
                out.write(buf, 0, n);
                done += n;
                if (progress != null) progress.onProgress(done, file.size());
            }
        }
        if (file.size() > 0 && Files.size(part) < file.size()) throw new IOException("connection closed after " + Files.size(part) + " of " + file.size() + " bytes");
    }

    private static void verify(RepoFile file, Path part) throws IOException {
        long size = Files.size(part);
        String actual = sha256(part);
        if ((file.size() > 0 && size != file.size()) || (file.sha256() != null && !file.sha256().equalsIgnoreCase(actual))) {
            Files.deleteIfExists(part);
            throw new HubException("download of " + file.path() + " failed its check: expected " + file.size() + " bytes with sha256 "
                    + file.sha256() + ", got " + size + " bytes with sha256 " + actual + "; the partial file was deleted");
        }
    }

    static String sha256(Path p) throws IOException {
        MessageDigest md;
        try {
            md = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        try (InputStream in = Files.newInputStream(p)) {
            byte[] buf = new byte[1 << 16];
            int n;
            while ((n = in.read(buf)) > 0) md.update(buf, 0, n);
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /**
     * Resolves and downloads {@code hf:owner/repo[:QUANT]}; without a quant, the highest-quality GGUF
     * whose file fits {@code budgetBytes} (pass {@code Long.MAX_VALUE} for no limit).
     *
     * @param ref         the reference
     * @param budgetBytes memory budget for choosing a quant when none is named
     * @param progress    progress listener, may be null
     * @return the local path
     * @throws HubException on failure
     */
    public Path pull(Ref ref, long budgetBytes, Progress progress) {
        String commit;
        try {
            commit = commit(ref.repo(), "main");
        } catch (HubException e) {
            Optional<Path> cached = cachedFile(ref);
            if (cached.isPresent() && e.getCause() instanceof IOException) return cached.get();
            throw e;
        }
        List<RepoFile> files = list(ref.repo(), commit);
        RepoFile f;
        if (ref.quant() != null) {
            f = fileFor(files, ref.quant());
        } else {
            f = files.stream().filter(x -> x.path().toLowerCase(Locale.ROOT).endsWith(".gguf") && x.size() <= budgetBytes)
                    .max(java.util.Comparator.comparingLong(RepoFile::size))
                    .orElseThrow(() -> new HubException("no GGUF file of " + ref.repo() + " fits " + budgetBytes + " bytes"));
        }
        Path p = download(ref.repo(), commit, f, progress);
        try {
            Path refs = repoDir(ref.repo()).resolve("refs");
            Files.createDirectories(refs);
            Files.writeString(refs.resolve("main"), commit);
        } catch (IOException e) {
            throw new HubException("cannot write the cache: " + e, e);
        }
        return p;
    }

    /** A file already in the cache for this reference (used offline). */
    Optional<Path> cachedFile(Ref ref) {
        try {
            Path dir = repoDir(ref.repo());
            Path main = dir.resolve("refs/main");
            if (!Files.isRegularFile(main)) return Optional.empty();
            Path snap = dir.resolve("snapshots").resolve(Files.readString(main).strip());
            if (!Files.isDirectory(snap)) return Optional.empty();
            try (var s = Files.list(snap)) {
                return s.filter(p -> p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".gguf"))
                        .filter(p -> ref.quant() == null || p.getFileName().toString().toUpperCase(Locale.ROOT).contains(ref.quant().toUpperCase(Locale.ROOT)))
                        .findFirst();
            }
        } catch (IOException e) {
            return Optional.empty();
        }
    }
}
