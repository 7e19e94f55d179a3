package dev.llamajava.hub;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import dev.llamajava.TestSupport;
import dev.llamajava.hub.HuggingFace.Ref;
import dev.llamajava.hub.HuggingFace.RepoFile;
import dev.llamajava.internal.Hashing;
import dev.llamajava.internal.Json;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrowsExactly;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Hub client against a hostile loopback server that poisons one field at a time: the commit id, the LFS oid,
 * the file path. Each must be a {@link HubException} naming the field, the value and the URL, and nothing may be
 * written: the cache sits four folders deep in a private temp tree, so a {@code ..} escape lands inside that tree
 * where the walk after each test sees it.
 */
class HuggingFaceTestHostileServerTest {

    static final String REPO = "acme/Tiny-GGUF";
    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
    static final String FILE = "Tiny-Q4_K_M.gguf";
    static final Ref REF = Ref.parse("hf:" + REPO + ":Q4_K_M");

    HttpServer server;
    String base;
    Path root;
    Path cache;
    Set<Path> before;
    final byte[] body = "GGUF hostile payload".getBytes(StandardCharsets.UTF_8);
    final List<String> requests = Collections.synchronizedList(new ArrayList<>());
    String sha = COMMIT;
    String filePath = FILE;
    String oid;
    String revisionBody;
    String treeBody;

    @BeforeEach
    void start() throws Exception {
        root = TestSupport.workDir("hub-hostile-" + System.nanoTime());
        cache = root.resolve("a/b/c/hub");
        Files.createDirectories(cache);
        oid = Hashing.sha256(body);
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        server.createContext("/", this::handle);
        server.start();
        base = "http://127.0.0.1:" + server.getAddress().getPort();
        before = tree();
    }

    @AfterEach
    void stop() {
        server.stop(0);
    }

    HuggingFace client() {
        return new HuggingFace(URI.create(base), null, cache);
    }

    /** Answers every revision, tree and resolve request, whatever the revision or file, with the poisoned values. */
    void handle(HttpExchange ex) throws IOException {
        try (ex) {
            String raw = ex.getRequestURI().getRawPath();
            requests.add(raw);
            byte[] out;
            if (raw.startsWith("/api/models/") && raw.contains("/revision/")) {
                out = (revisionBody != null ? revisionBody : Json.write(Json.object().put("id", REPO).put("sha", sha)))
                        .getBytes(StandardCharsets.UTF_8);
            } else if (raw.startsWith("/api/models/") && raw.contains("/tree/")) {
                out = (treeBody != null ? treeBody : listing()).getBytes(StandardCharsets.UTF_8);
            } else if (raw.contains("/resolve/")) {
                out = body;
            } else {
                out = "{\"error\":\"Repository not found\"}".getBytes(StandardCharsets.UTF_8);
                ex.sendResponseHeaders(404, out.length);
                ex.getResponseBody().write(out);
                return;
            }
            ex.sendResponseHeaders(200, out.length);
            ex.getResponseBody().write(out);
        }
    }

    String listing() {
        ArrayNode a = Json.MAPPER.createArrayNode();
        ObjectNode f = a.addObject().put("type", "file").put("oid", "bb").put("size", body.length).put("path", filePath);
        f.putObject("lfs").put("oid", oid).put("size", body.length).put("pointerSize", 134);
        return Json.write(a);
    }

    String treeUrl() {
        return base + "/api/models/" + REPO + "/tree/" + COMMIT + "?recursive=true";
    }

    Set<Path> tree() {
        try (Stream<Path> s = Files.walk(root)) {
            return s.collect(Collectors.toCollection(TreeSet::new));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Nothing appeared outside the cache folder, and (the ideal) nothing appeared inside it either. */
    void assertNothingWritten() {
        assertNothingOutside();
        assertEquals(before, tree(), "the cache changed");
    }

    void assertNothingOutside() {
        List<Path> outside = tree().stream().filter(p -> !p.startsWith(cache) && !before.contains(p)).toList();
        assertEquals(List.of(), outside, "written outside the cache " + cache);
    }

    void assertNoDownload() {
        assertTrue(requests.stream().noneMatch(r -> r.contains("/resolve/")), "a file was requested: " + requests);
    }

    /** Pulls, checks first that nothing escaped the cache (the worst failure), then that it was a HubException. */
    HubException pullFails() {
        Throwable thrown = null;
        try {
            client().pull(REF, Long.MAX_VALUE, null);
        } catch (Throwable t) {
            thrown = t;
        }
        assertNothingOutside();
        Throwable t = thrown;
        return assertThrowsExactly(HubException.class, () -> {
            if (t != null) throw t;
        });
    }

    @Test
    void commitIdThatClimbsOutOfTheCache() {
        sha = "../../../../x";
        HubException e = pullFails();
        assertEquals("invalid commit id '../../../../x' from " + base + "/api/models/" + REPO
                + "/revision/main: expected 40 hexadecimal characters", e.getMessage());
        assertEquals(List.of("/api/models/" + REPO + "/revision/main"), requests, "no request after the bad answer");
        assertNothingWritten();
    }

    @ParameterizedTest
    @ValueSource(strings = {"0123456789abcdef", COMMIT + "0", "0123456789abcdef0123456789abcdef0123456g",
            "0123456789abcdef0123456789abcdef012345/7", "0123456789abcdef0123456789abcdef012345..", ""})
    void commitIdThatIsNot40Hex(String bad) {
        sha = bad;
        HubException e = pullFails();
        assertEquals("invalid commit id '" + bad + "' from " + base + "/api/models/" + REPO
                + "/revision/main: expected 40 hexadecimal characters", e.getMessage());
        assertNothingWritten();
    }

    @Test
    void answersThatAreNotTheHubsShape() {
        revisionBody = "{\"sha\":12}";
        assertEquals("no commit id (\"sha\") in the answer from " + base + "/api/models/" + REPO + "/revision/main",
                pullFails().getMessage());
        revisionBody = "<html>";
        assertTrue(pullFails().getMessage().startsWith("the answer from " + base + "/api/models/" + REPO + "/revision/main is not JSON"));
        revisionBody = null;
        treeBody = "{\"path\":\"x\"}";
        assertEquals("the file listing from " + treeUrl() + " is not a JSON array", pullFails().getMessage());
        treeBody = "[{\"type\":\"file\",\"path\":\"" + FILE + "\",\"size\":-5}]";
        assertEquals("invalid size -5 of '" + FILE + "' from " + treeUrl() + ": expected a whole number >= 0", pullFails().getMessage());
        treeBody = "[{\"type\":\"file\",\"path\":[\"..\"]}]";
        assertTrue(pullFails().getMessage().startsWith("a file entry without a textual \"path\" from " + treeUrl()));
        assertNoDownload();
        assertNothingWritten();
    }

    @ParameterizedTest
    @ValueSource(strings = {"../../../../evil", "abc", "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0",
            "../456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", "..\\..\\..\\x"})
    void lfsOidThatIsNot64Hex(String bad) {
        oid = bad;
        HubException e = pullFails();
        assertEquals("invalid LFS sha256 (oid) of '" + FILE + "': '" + bad + "' from " + treeUrl()
                + ": expected 64 hexadecimal characters", e.getMessage());
        assertNoDownload();
        assertNothingWritten();
    }

    @ParameterizedTest
    @ValueSource(strings = {"../evil-Q4_K_M.gguf", "a/../../evil-Q4_K_M.gguf", "sub/../../../../../evil-Q4_K_M.gguf",
            "..\\..\\..\\evil-Q4_K_M.gguf", "sub\\evil-Q4_K_M.gguf", "nul\u0000-Q4_K_M.gguf", "",
            "a//evil-Q4_K_M.gguf", "./evil-Q4_K_M.gguf", "a/./evil-Q4_K_M.gguf", "sub/", "..", "/etc/x"})
    void filePathThatIsNotAPlainRelativePath(String bad) {
        filePath = bad;
        HubException e = assertThrowsExactly(HubException.class, () -> client().list(REPO, COMMIT));
        String shown = HubNames.show(bad);
        assertTrue(e.getMessage().startsWith("invalid file path " + shown + " from " + treeUrl() + ": it "), e.getMessage());
        if (!bad.equals("/etc/x")) { // never let a regression try to write there
            assertTrue(pullFails().getMessage().startsWith("invalid file path " + shown + " from " + treeUrl()));
        }
        assertNoDownload();
        assertNothingWritten();
    }

    @Test
    void absoluteFilePathIntoTheTempTree() {
        filePath = root.resolve("abs/evil-Q4_K_M.gguf").toString();
        HubException e = pullFails();
        assertEquals("invalid file path '" + filePath + "' from " + treeUrl() + ": it is absolute", e.getMessage());
        assertNoDownload();
        assertNothingWritten();
    }

    @Test
    void encodedDotsAndSpacesAreLiteralNamesInsideTheCache() throws Exception {
        filePath = "%2e%2e/%2E%2E/my model-Q4_K_M.gguf";
        Path p = client().pull(REF, Long.MAX_VALUE, null);
        Path snapshot = cache.resolve("models--acme--Tiny-GGUF/snapshots/" + COMMIT);
        assertEquals(snapshot.resolve(filePath), p);
        assertArrayEquals(body, Files.readAllBytes(p));
        assertTrue(requests.contains("/" + REPO + "/resolve/" + COMMIT + "/%252e%252e/%252E%252E/my%20model-Q4_K_M.gguf"), requests.toString());
        assertNothingOutside();
    }

    @ParameterizedTest
    @ValueSource(strings = {"../x", "acme/..", "acme/../x", "..", "acme", "a/b/c", "acme/x y", "acme\\x", "/acme", "acme/",
            "", "acme/x%2e%2e", "./x", "acme/.", "acme/x\u0000", "acme/x:y"})
    void badRepoIdsAreRejectedBeforeAnyRequest(String bad) {
        String expected = "invalid repository id " + HubNames.show(bad)
                + ": expected owner/name (letters, digits, '.', '_', '-', exactly one '/', no '..')";
        RepoFile file = new RepoFile(FILE, body.length, oid);
        assertEquals(expected, assertThrowsExactly(HubException.class,
                () -> client().pull(new Ref(bad, "Q4_K_M"), Long.MAX_VALUE, null)).getMessage());
        assertEquals(expected, assertThrowsExactly(HubException.class, () -> client().commit(bad, "main")).getMessage());
        assertEquals(expected, assertThrowsExactly(HubException.class, () -> client().list(bad, COMMIT)).getMessage());
        assertEquals(expected, assertThrowsExactly(HubException.class, () -> client().download(bad, COMMIT, file, null)).getMessage());
        assertThrowsExactly(IllegalArgumentException.class, () -> Ref.parse("hf:" + bad + ":Q4_K_M"));
        assertEquals(List.of(), requests);
        assertNothingWritten();
    }

    @ParameterizedTest
    @ValueSource(strings = {"../x", "main/../../x", "..", "", "a b", "/main", "main/", "a//b", "%2e%2e", "a\\b", "./main"})
    void badRevisionsAreRejectedBeforeAnyRequest(String bad) {
        String expected = "invalid revision " + HubNames.show(bad)
                + ": expected a branch, tag or commit (letters, digits, '.', '_', '-', '/', no '..')";
        assertEquals(expected, assertThrowsExactly(HubException.class, () -> client().commit(REPO, bad)).getMessage());
        assertEquals(expected, assertThrowsExactly(HubException.class, () -> client().list(REPO, bad)).getMessage());
        assertEquals(List.of(), requests);
    }

    @Test
    void downloadChecksWhatItIsGivenBeforeWriting() {
        HuggingFace hf = client();
        String given = " given to download: ";
        assertEquals("invalid commit id '../../../../x'" + given + "expected 40 hexadecimal characters",
                assertThrowsExactly(HubException.class, () -> hf.download(REPO, "../../../../x", new RepoFile(FILE, 1, oid), null)).getMessage());
        assertEquals("invalid file path '../evil.gguf'" + given + "it has a '..' segment",
                assertThrowsExactly(HubException.class, () -> hf.download(REPO, COMMIT, new RepoFile("../evil.gguf", 1, oid), null)).getMessage());
        assertEquals("invalid file path '" + root + "/evil.gguf'" + given + "it is absolute",
                assertThrowsExactly(HubException.class, () -> hf.download(REPO, COMMIT, new RepoFile(root + "/evil.gguf", 1, oid), null)).getMessage());
        assertEquals("invalid LFS sha256 (oid) of '" + FILE + "': '../../../evil'" + given + "expected 64 hexadecimal characters",
                assertThrowsExactly(HubException.class, () -> hf.download(REPO, COMMIT, new RepoFile(FILE, 1, "../../../evil"), null)).getMessage());
        assertEquals(List.of(), requests);
        assertNothingWritten();
    }

    @Test
    void aPoisonedRefsFileIsNotFollowedOffline() throws Exception {
        Path refs = cache.resolve("models--acme--Tiny-GGUF/refs/main");
        Files.createDirectories(refs.getParent());
        Files.createDirectories(cache.resolve("models--acme--Tiny-GGUF/snapshots"));
        Files.writeString(refs, "../../../../x");
        Path decoy = root.resolve("a/b/x/evil-Q4_K_M.gguf"); // where snapshots/../../../../x points
        Files.createDirectories(decoy.getParent());
        Files.write(decoy, body);
        before = tree(); // the planted decoy is part of the starting state
        server.stop(0);
        HubException e = pullFails();
        assertTrue(e.getMessage().startsWith("cannot reach " + base), e.getMessage());
    }
}
