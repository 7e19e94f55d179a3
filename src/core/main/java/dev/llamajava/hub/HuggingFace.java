package dev.llamajava.hub;

import com.fasterxml.jackson.databind.JsonNode;
import dev.llamajava.internal.Hashing;
import dev.llamajava.internal.Json;
import dev.llamajava.internal.Settings;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URISyntaxException;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
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
 * <p>
 * Nothing the server says is trusted: commit ids must be 40 hex characters, LFS oids 64, and file paths relative
 * with no {@code ..}, backslash or control character, resolving inside the repository's cache folder; the user's
 * repository id and revision are checked before any request. A violation is a {@link HubException} and nothing
 * is written for it.
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
         * @throws IllegalArgumentException when malformed, or when the repository id is not a valid one
         */
        public static Ref parse(String text) {
            var m = REF.matcher(text);
            if (!m.matches()) throw new IllegalArgumentException("not a Hugging Face reference: '" + text + "' (expected hf:owner/repo[:QUANT])");
            try {
                HubNames.repo(m.group(1));
            } catch (HubException e) {
                throw new IllegalArgumentException("not a Hugging Face reference: '" + text + "' (" + e.getMessage() + ")", e);
            }
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

    /**
     * @return a client configured from {@link Settings#HF_ENDPOINT}, {@link Settings#HF_TOKEN} and
     *         {@link Settings#HF_HOME} (its cache is {@code <home>/hub})
     * @throws HubException when the endpoint is not an http(s) URL
     */
    public static HuggingFace fromEnvironment() {
        String ep = Settings.HF_ENDPOINT.get().strip();
        while (ep.endsWith("/")) ep = ep.substring(0, ep.length() - 1);
        URI uri;
        try {
            uri = new URI(ep);
        } catch (URISyntaxException e) {
            throw new HubException("the Hugging Face endpoint " + HubNames.show(ep) + " (" + Settings.HF_ENDPOINT.names() + ") is not a URL: " + e.getMessage(), e);
        }
        String scheme = uri.getScheme() == null ? "" : uri.getScheme().toLowerCase(Locale.ROOT);
        if (!(scheme.equals("http") || scheme.equals("https")) || uri.getHost() == null || uri.getRawQuery() != null || uri.getRawFragment() != null) {
            throw new HubException("the Hugging Face endpoint " + HubNames.show(ep) + " (" + Settings.HF_ENDPOINT.names() + ") is not an http(s) URL");
        }
        return new HuggingFace(uri, Settings.HF_TOKEN.get(), Settings.HF_HOME.path().resolve("hub"));
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

    private JsonNode getJson(String path, String repo) {
        try {
            HttpResponse<String> r = http.send(request(path).GET().build(), HttpResponse.BodyHandlers.ofString());
            check(r.statusCode(), repo, path);
            try {
                return Json.parse(r.body());
            } catch (IllegalArgumentException e) {
                throw new HubException("the answer from " + endpoint + path + " is not JSON: " + e.getMessage(), e);
            }
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
     * @return the commit id the revision points at (40 lower-case hex characters)
     * @throws HubException when the repository id or revision is invalid (before any request), on HTTP errors,
     *                      when offline, or when the answer has no valid commit id
     */
    public String commit(String repo, String revision) {
        HubNames.repo(repo);
        String path = "/api/models/" + repo + "/revision/" + HubNames.encode(HubNames.revision(revision));
        JsonNode sha = getJson(path, repo).path("sha");
        String from = "from " + endpoint + path;
        if (!sha.isTextual()) throw new HubException("no commit id (\"sha\") in the answer " + from);
        return HubNames.commit(sha.textValue(), from);
    }

    /**
     * @param repo     {@code owner/repo}
     * @param revision branch, tag or commit
     * @return every file, with size and LFS sha256 (null for non-LFS files)
     * @throws HubException when the repository id or revision is invalid (before any request), on HTTP errors,
     *                      when offline, or when any entry has an invalid path, size or LFS oid
     */
    public List<RepoFile> list(String repo, String revision) {
        HubNames.repo(repo);
        String path = "/api/models/" + repo + "/tree/" + HubNames.encode(HubNames.revision(revision)) + "?recursive=true";
        JsonNode items = getJson(path, repo);
        String from = "from " + endpoint + path;
        if (!items.isArray()) throw new HubException("the file listing " + from + " is not a JSON array");
        List<RepoFile> out = new ArrayList<>();
        for (JsonNode m : items) {
            if ("file".equals(m.path("type").textValue())) out.add(HubNames.entry(m, from));
        }
        return out;
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
     * @throws HubException when the repository id, commit id, file path, size or sha256 is invalid (before
     *                      anything is written), on HTTP errors, a failed check, or when offline
     */
    public Path download(String repo, String commit, RepoFile file, Progress progress) {
        String from = "given to download";
        HubNames.repo(repo);
        String id = HubNames.commit(commit, from);
        Objects.requireNonNull(file, "file");
        String path = HubNames.filePath(file.path(), from);
        String sha = file.sha256() == null ? null : HubNames.sha256(file.sha256(), path, from);
        if (file.size() < 0) throw new HubException("invalid size " + file.size() + " of " + HubNames.show(path) + " " + from);
        file = new RepoFile(path, file.size(), sha);
        Path dir = repoDir(repo);
        Path snapshot = HubNames.inside(dir.resolve("snapshots").resolve(id), path, "file path", from);
        if (Files.isRegularFile(snapshot)) return snapshot;
        String blobName = sha != null ? sha : "noLFS-" + path.replace('/', '_');
        Path blob = HubNames.inside(dir.resolve("blobs"), blobName, "blob name", from);
        Path part = HubNames.inside(dir.resolve("blobs"), blobName + ".incomplete", "blob name", from);
        try {
            Files.createDirectories(blob.getParent());
            if (!Files.isRegularFile(blob)) {
                IOException last = null;
                for (int attempt = 1; attempt <= MAX_ATTEMPTS && !Files.isRegularFile(blob); attempt++) {
                    try {
                        fetch(repo, id, file, part, progress);
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
        HttpRequest.Builder rb = request("/" + repo + "/resolve/" + commit + "/" + HubNames.encodePath(file.path())).GET();
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
        String actual = Hashing.sha256(part);
        if ((file.size() > 0 && size != file.size()) || (file.sha256() != null && !file.sha256().equalsIgnoreCase(actual))) {
            Files.deleteIfExists(part);
            throw new HubException("download of " + file.path() + " failed its check: expected " + file.size() + " bytes with sha256 "
                    + file.sha256() + ", got " + size + " bytes with sha256 " + actual + "; the partial file was deleted");
        }
    }

    /**
     * Resolves and downloads {@code hf:owner/repo[:QUANT]}; without a quant, the highest-quality GGUF
     * whose file fits {@code budgetBytes} (pass {@code Long.MAX_VALUE} for no limit).
     *
     * @param ref         the reference
     * @param budgetBytes memory budget for choosing a quant when none is named
     * @param progress    progress listener, may be null
     * @return the local path
     * @throws HubException when the repository id is invalid (before any request), when the server sends an
     *                      invalid commit id, file path or oid (nothing is written then), or on any other failure
     */
    public Path pull(Ref ref, long budgetBytes, Progress progress) {
        HubNames.repo(ref.repo());
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
                    .max(Comparator.comparingLong(RepoFile::size))
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
            String id = Files.readString(main).strip();
            if (!HubNames.isCommit(id)) return Optional.empty();
            Path snap = dir.resolve("snapshots").resolve(id);
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
