package dev.llamajava;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The loader, from the natives on the class path (surefire adds the staged natives folder). */
class NativeLoaderTest {

    @Test
    void extractsIntoVersionedCacheAndPicksACpuVariant() throws Exception {
        Llama.load();
        Path dir = Llama.libraryDirectory();
        Path cache = Path.of(System.getProperty("llama.cache.dir")).toAbsolutePath();
        assertTrue(dir.startsWith(cache), dir + " is not under " + cache);
        assertEquals("linux-x86_64", dir.getFileName().toString());
        assertTrue(dir.getParent().getFileName().toString().matches(".+-[0-9a-f]{12}"), "versioned folder: " + dir);
        for (String lib : List.of("libllama.so", "libggml.so", "libggml-base.so", "libllamajava.so")) {
            assertTrue(Files.isRegularFile(dir.resolve(lib)), lib);
        }
        Properties build = Llama.buildInfo();
        assertEquals("de3ff815ea7d559ee917f063901b8986f038abc6", build.getProperty("llama.cpp.commit"));

        String variant = Llama.cpuVariant();
        assertNotNull(variant, "llama.cpp's log did not name a CPU backend");
        // the log line itself, as llama.cpp wrote it (through the System.Logger route), names the file it loaded
        String line = dev.llamajava.internal.loader.Natives.cpuBackendLogLine();
        assertTrue(line.matches("load_backend: loaded CPU backend from " + Pattern.quote(dir.toString()) + "/libggml-cpu-?" + variant + "\\.so"), line);
        if ("all".equals(build.getProperty("cpu.variants"))) {
            assertTrue(Files.isRegularFile(dir.resolve("libggml-cpu-" + variant + ".so")), variant);
            String flags = Files.readString(Path.of("/proc/cpuinfo"));
            if (flags.contains(" avx2 ")) {
                assertFalse(List.of("x64", "sse42", "sandybridge", "ivybridge").contains(variant),
                        "an AVX2 CPU got the " + variant + " variant");
            }
        }
    }

    @Test
    void autoBackendWithoutTheCudaJarIsTheCpu() {
        assertEquals("CPU (llama.backend=auto: the CUDA natives (llama-java-<version>-natives-linux-x86_64-cuda.jar) are not on the class path)",
                Llama.backendChoice());
    }

    @Test
    void systemInfoAndBackends() {
        String info = Llama.systemInfo();
        assertTrue(info.contains("CPU"), info);
        List<Backend> backends = Llama.backends();
        Backend cpu = backends.stream().filter(b -> b.name().equals("CPU")).findFirst().orElseThrow(() -> new AssertionError(backends));
        assertEquals(1, cpu.devices().size());
        Device d = cpu.devices().getFirst();
        assertEquals(Device.Type.CPU, d.type());
        assertTrue(d.memoryTotal() > 1L << 30, "total memory " + d.memoryTotal());
        assertTrue(d.memoryFree() > 0 && d.memoryFree() <= d.memoryTotal());
        assertFalse(d.description().isBlank());
    }

    @Test
    void extractionIsIdempotentAndVerified() throws Exception {
        Llama.load();
        Path dir = Llama.libraryDirectory();
        // every extracted file matches the manifest shipped in the natives resources
        try (var in = NativeLoaderTest.class.getResourceAsStream("/dev/llamajava/native/linux-x86_64/natives.sha256")) {
            assertNotNull(in);
            for (String line : new String(in.readAllBytes()).split("\n")) {
                String[] p = line.trim().split("\\s+\\*?");
                Path f = dir.resolve(p[1]);
                assertTrue(Files.isRegularFile(f), f.toString());
                var md = MessageDigest.getInstance("SHA-256");
                assertEquals(p[0], HexFormat.of().formatHex(md.digest(Files.readAllBytes(f))), p[1]);
            }
        }
        // nothing but our files (and the lock) in the folder
        try (var s = Files.list(dir)) {
            for (Path f : s.toList()) {
                String n = f.getFileName().toString();
                assertTrue(n.endsWith(".so") || n.equals(".lock") || n.equals("build.properties"), "unexpected " + f);
            }
        }
    }

    private static final String CP = System.getProperty("java.class.path");

    static String classPathWithoutNatives() {
        // drop the staged natives folder (and any natives jar) from this JVM's class path
        StringBuilder sb = new StringBuilder();
        for (String e : CP.split(File.pathSeparator)) {
            if (e.contains("natives")) continue;
            if (!sb.isEmpty()) sb.append(File.pathSeparator);
            sb.append(e);
        }
        return sb.toString();
    }

    @Test
    void badLibraryPathIsAClearException() throws Exception {
        Path nowhere = TestSupport.workDir("loader").resolve("no-such-dir");
        var r = TestSupport.run(TestSupport.javaCommand(CP, List.of("-Dllama.library.path=" + nowhere), "dev.llamajava.LoaderProbe"),
                null, null, 120);
        assertEquals(3, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().startsWith("EXCEPTION dev.llamajava.NativeLibraryException\n"), r.stdout());
        assertTrue(r.stdout().contains("could not load llama.cpp's native libraries for linux-x86_64 (os.name=Linux, os.arch=amd64). Tried:\n"
                + "  - llama.library.path / LLAMA_LIBRARY_PATH = " + nowhere + ": not a directory\n"), r.stdout());
        assertTrue(r.stdout().contains("To fix: put llama-java-<version>-natives-linux-x86_64.jar on the class path"), r.stdout());

        // a directory that exists but lacks the libraries names what is missing
        Path empty = TestSupport.workDir("loader-empty");
        r = TestSupport.run(TestSupport.javaCommand(CP, List.of("-Dllama.library.path=" + empty), "dev.llamajava.LoaderProbe"),
                null, null, 120);
        assertEquals(3, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains("  - llama.library.path / LLAMA_LIBRARY_PATH = " + empty
                + ": missing libggml-base.so, libggml.so, libllama.so, libllamajava.so\n"), r.stdout());
    }

    @Test
    void missingNativesJarIsAClearException() throws Exception {
        var r = TestSupport.run(TestSupport.javaCommand(classPathWithoutNatives(), List.of(), "dev.llamajava.LoaderProbe"),
                null, null, 120);
        assertEquals(3, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains("  - llama.library.path / LLAMA_LIBRARY_PATH: not set\n"
                + "  - class path resource /dev/llamajava/native/linux-x86_64/natives.sha256: not found "
                + "(is llama-java-<version>-natives-linux-x86_64.jar on the class path?); no natives jar seen\n"), r.stdout());
    }

    /** A folder that looks like another platform's natives jar (its manifest only). */
    static Path fakeNatives(String platform) throws Exception {
        Path root = TestSupport.workDir("fake-natives-" + platform);
        Path d = root.resolve("dev/llamajava/native/" + platform);
        Files.createDirectories(d);
        Files.writeString(d.resolve("natives.sha256"), "0".repeat(64) + "  libllama.so\n");
        return root;
    }

    @Test
    void onlyAnotherPlatformsNativesIsAClearException() throws Exception {
        String cp = classPathWithoutNatives() + File.pathSeparator + fakeNatives("linux-aarch64") + File.pathSeparator
                + fakeNatives("windows-x86_64");
        var r = TestSupport.run(TestSupport.javaCommand(cp, List.of(), "dev.llamajava.LoaderProbe"), null, null, 120);
        assertEquals(3, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains("could not load llama.cpp's native libraries for linux-x86_64"), r.stdout());
        assertTrue(r.stdout().contains("(is llama-java-<version>-natives-linux-x86_64.jar on the class path?); "
                + "natives jars seen: linux-aarch64, windows-x86_64\n"), r.stdout());
    }

    @Test
    void theRunningPlatformsNativesArePickedAmongSeveral() throws Exception {
        String cp = fakeNatives("linux-aarch64") + File.pathSeparator + fakeNatives("windows-x86_64") + File.pathSeparator + CP;
        var r = TestSupport.run(TestSupport.javaCommand(cp, List.of(), "dev.llamajava.LoaderProbe", TestSupport.stories260K().toString()),
                null, null, 120);
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains("LOADED ") && r.stdout().contains("TOKENS ["), r.stdout());
        assertTrue(r.stdout().contains("linux-x86_64"), r.stdout());
    }

    @Test
    void explicitLibraryPathIsUsedAsIs() throws Exception {
        Llama.load();
        Path dir = Llama.libraryDirectory();
        var r = TestSupport.run(TestSupport.javaCommand(classPathWithoutNatives(), List.of("-Dllama.library.path=" + dir),
                "dev.llamajava.LoaderProbe", TestSupport.stories260K().toString()), null, null, 120);
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().startsWith("LOADED " + dir + " variant="), r.stdout());
        assertTrue(r.stdout().contains("TOKENS ["), r.stdout());
        // the library prints nothing to stdout: only the probe's own two lines are there (llama.cpp's warnings about
        // this model go through System.Logger, whose default handler writes to stderr)
        assertEquals(2, r.stdout().lines().count(), r.stdout());
        assertTrue(r.stderr().contains("WARNING: load: bad special token"), r.stderr());
    }

    // ---- the backend setting with an explicit library folder ----

    private static final String MARKER_ENV = "LLAMA_JAVA_TEST_MARKER";

    /**
     * A shared library named libggml-cuda.so whose constructor writes the file named by $LLAMA_JAVA_TEST_MARKER: the
     * marker exists exactly when something dlopen()ed it.
     */
    private static Path markerLibrary(Path dir) throws Exception {
        Path src = dir.resolve("marker.c");
        Files.writeString(src, """
                #include <stdio.h>
                #include <stdlib.h>
                __attribute__((constructor)) static void loaded(void) {
                    const char *path = getenv("%s");
                    FILE *f = path ? fopen(path, "w") : NULL;
                    if (f) { fputs("loaded\\n", f); fclose(f); }
                }
                """.formatted(MARKER_ENV));
        Path lib = dir.resolve("libggml-cuda.so");
        var cc = TestSupport.run(List.of("cc", "-shared", "-fPIC", "-o", lib.toString(), src.toString()), null, null, 120);
        assertEquals(0, cc.exit(), "cc failed: " + cc.stderr());
        return lib;
    }

    /** A fresh folder holding links to the libraries this JVM loaded, plus {@code extra} (linked as its own name). */
    private static Path libraryFolder(String name, Path... extra) throws Exception {
        Llama.load();
        Path real = Llama.libraryDirectory();
        Path dir = freshDir(name);
        try (var s = Files.list(real)) {
            for (Path f : s.toList()) {
                String n = f.getFileName().toString();
                if (n.endsWith(".so") || n.equals("build.properties")) Files.createSymbolicLink(dir.resolve(n), f);
            }
        }
        for (Path e : extra) Files.createSymbolicLink(dir.resolve(e.getFileName()), e.toAbsolutePath());
        return dir;
    }

    static Path freshDir(String name) throws Exception {
        Path dir = TestSupport.workDir("loader-" + name);
        deleteTree(dir);
        Files.createDirectories(dir);
        return dir;
    }

    private static void deleteTree(Path dir) throws Exception {
        if (!Files.exists(dir, LinkOption.NOFOLLOW_LINKS)) return;
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                if (!Files.isSymbolicLink(p)) p.toFile().setWritable(true);
                Files.delete(p);
            }
        }
    }

    static TestSupport.Proc scenario(String classPath, List<String> jvm, Map<String, String> env, String... args) throws Exception {
        return TestSupport.run(TestSupport.javaCommand(classPath, jvm, "dev.llamajava.LoaderScenarioProbe", args), null, env, 120);
    }

    static List<String> lines(String out, String prefix) {
        return out.lines().filter(l -> l.startsWith(prefix)).toList();
    }

    @Test
    void cpuBackendNeverLoadsAGpuLibraryFromTheLibraryFolder() throws Exception {
        Path work = freshDir("marker-lib");
        Path marker = work.resolve("marker");
        Path fakeCuda = markerLibrary(work);
        Path folder = libraryFolder("with-cuda", fakeCuda);
        Map<String, String> env = Map.of(MARKER_ENV, marker.toString());
        String cp = classPathWithoutNatives(); // no natives jar, no CUDA natives jar: the folder is all there is

        // control: the marker library does announce a load. With llama.cuda.library.path naming the folder, auto
        // tries libggml-cuda.so (it has no ggml_backend_init, so it does not register and the choice stays CPU)
        var r = scenario(cp, List.of("-Dllama.library.path=" + folder, "-Dllama.backend=auto", "-Dllama.cuda.library.path=" + folder),
                env, "backends");
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertTrue(Files.isRegularFile(marker), "the control run did not load the marker library: " + r.stdout() + r.stderr());
        assertTrue(lines(r.stdout(), "CHOICE ").getFirst().startsWith("CHOICE CPU (llama.backend=auto: libggml-cuda.so did not load ("), r.stdout());
        Files.delete(marker);

        // cpu: never touched
        r = scenario(cp, List.of("-Dllama.library.path=" + folder, "-Dllama.backend=cpu"), env, "backends");
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertEquals(List.of("LOADED " + folder), lines(r.stdout(), "LOADED "));
        assertEquals(List.of("CHOICE CPU (llama.backend=cpu: GPU libraries not loaded)"), lines(r.stdout(), "CHOICE "));
        assertEquals(List.of("BACKEND CPU 1"), lines(r.stdout(), "BACKEND "));
        assertFalse(Files.exists(marker), "llama.backend=cpu loaded libggml-cuda.so from the library folder");
        assertFalse(r.stdout().contains("libggml-cuda"), r.stdout());
        assertCpuOnlyMapped(r.stdout());
        // not even when a CUDA library folder is configured
        r = scenario(cp, List.of("-Dllama.library.path=" + folder, "-Dllama.backend=cpu", "-Dllama.cuda.library.path=" + folder), env, "backends");
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertEquals(List.of("BACKEND CPU 1"), lines(r.stdout(), "BACKEND "));
        assertFalse(Files.exists(marker), "llama.backend=cpu loaded libggml-cuda.so named by llama.cuda.library.path");
        assertCpuOnlyMapped(r.stdout());

        // auto, no CUDA library configured: only the best CPU variant is loaded from the folder, not the GPU library
        r = scenario(cp, List.of("-Dllama.library.path=" + folder), env, "backends");
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertEquals(List.of("CHOICE CPU (llama.backend=auto: the CUDA natives (llama-java-<version>-natives-linux-x86_64-cuda.jar) are not on the class path)"),
                lines(r.stdout(), "CHOICE "));
        assertEquals(List.of("BACKEND CPU 1"), lines(r.stdout(), "BACKEND "));
        assertFalse(Files.exists(marker), "llama.backend=auto loaded libggml-cuda.so from the library folder without being asked to");
        assertFalse(r.stdout().contains("libggml-cuda"), r.stdout());
        assertCpuOnlyMapped(r.stdout());

        // the real CUDA backend, where ci/build-cuda has built it: not mapped with llama.backend=cpu
        Path realCuda = Path.of(System.getProperty("llama.natives.cuda.dir", "build/natives/cuda"))
                .resolve("dev/llamajava/native/linux-x86_64-cuda/libggml-cuda.so").toAbsolutePath();
        if (Files.isRegularFile(realCuda)) {
            Path withReal = libraryFolder("with-real-cuda", realCuda);
            r = scenario(cp, List.of("-Dllama.library.path=" + withReal, "-Dllama.backend=cpu"), Map.of(), "backends");
            assertEquals(0, r.exit(), r.stdout() + r.stderr());
            assertEquals(List.of("BACKEND CPU 1"), lines(r.stdout(), "BACKEND "));
            assertFalse(r.stdout().contains("libggml-cuda"), r.stdout());
            assertFalse(r.stdout().contains("libcuda"), r.stdout());
        }
    }

    /** The mapped llama.cpp libraries are the four core ones and exactly one CPU variant. */
    private static void assertCpuOnlyMapped(String stdout) {
        List<String> names = lines(stdout, "MAPPED ").stream().map(l -> Path.of(l.substring(7)).getFileName().toString()).toList();
        assertTrue(names.containsAll(List.of("libggml-base.so", "libggml.so", "libllama.so", "libllamajava.so")), names.toString());
        List<String> variants = names.stream().filter(n -> n.startsWith("libggml-cpu")).toList();
        assertEquals(1, variants.size(), "exactly one CPU variant stays mapped: " + names);
        assertEquals(5, names.size(), names.toString());
    }

    // ---- the temporary-folder fallback ----

    private static final String USER = System.getProperty("user.name");

    /** The cache folder name the loader uses for these natives (as this JVM extracted them). */
    private static String versionFolder() {
        Llama.load();
        return Llama.libraryDirectory().getParent().getFileName().toString();
    }

    private static List<String> tmpFallbackJvm(Path tmp, Path cache) {
        return List.of("-Dllama.cache.dir=" + cache, "-Djava.io.tmpdir=" + tmp);
    }

    @Test
    void temporaryFolderFallbackIsPrivate() throws Exception {
        Path work = freshDir("tmp-fallback");
        Path cacheIsAFile = Files.writeString(work.resolve("cache-is-a-file"), "not a folder");
        Path tmp = Files.createDirectory(work.resolve("tmp"));
        var r = TestSupport.run(TestSupport.javaCommand(CP, tmpFallbackJvm(tmp, cacheIsAFile), "dev.llamajava.LoaderProbe"), null, null, 120);
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        Path base = tmp.resolve("llama-java-" + USER);
        Path version = base.resolve(versionFolder());
        Path dir = version.resolve("linux-x86_64");
        assertTrue(r.stdout().startsWith("LOADED " + dir + " variant="), r.stdout());
        for (Path p : List.of(base, version, dir)) {
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(p)), p.toString());
            assertEquals(USER, Files.getOwner(p).getName(), p.toString());
        }
        for (String lib : List.of("libllama.so", "libggml.so", "libggml-base.so", "libllamajava.so")) {
            assertTrue(Files.isRegularFile(dir.resolve(lib)), lib);
        }
        // the tmp folder itself was left as it was; the cache "folder" is still the file it was
        assertEquals("not a folder", Files.readString(cacheIsAFile));

        // a second JVM reuses the private folder
        r = TestSupport.run(TestSupport.javaCommand(CP, tmpFallbackJvm(tmp, cacheIsAFile), "dev.llamajava.LoaderProbe"), null, null, 120);
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().startsWith("LOADED " + dir + " variant="), r.stdout());
    }

    @Test
    void sharedWritableTemporaryFolderIsRefused() throws Exception {
        Path work = freshDir("tmp-shared");
        Path cacheIsAFile = Files.writeString(work.resolve("cache-is-a-file"), "not a folder");
        Path tmp = Files.createDirectory(work.resolve("tmp"));
        Path base = Files.createDirectory(tmp.resolve("llama-java-" + USER));
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxrwxrwx"));
        var r = TestSupport.run(TestSupport.javaCommand(CP, tmpFallbackJvm(tmp, cacheIsAFile), "dev.llamajava.LoaderProbe"), null, null, 120);
        assertEquals(3, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().startsWith("EXCEPTION dev.llamajava.NativeLibraryException\n"), r.stdout());
        Path dir = base.resolve(versionFolder()).resolve("linux-x86_64");
        assertTrue(r.stdout().contains("  - extract to " + cacheIsAFile.resolve(versionFolder()).resolve("linux-x86_64") + ": "), r.stdout());
        assertTrue(r.stdout().contains("  - extract to " + dir + ": java.io.IOException: " + base
                + " can be written by other users (rwxrwxrwx)\n"), r.stdout());
        // refused before anything was extracted into it
        if (Files.isDirectory(dir)) {
            try (var s = Files.list(dir)) {
                assertEquals(List.of(), s.filter(f -> f.getFileName().toString().endsWith(".so")).toList());
            }
        }
        // group-writable alone is refused too
        Files.setPosixFilePermissions(base, PosixFilePermissions.fromString("rwxrwx---"));
        r = TestSupport.run(TestSupport.javaCommand(CP, tmpFallbackJvm(tmp, cacheIsAFile), "dev.llamajava.LoaderProbe"), null, null, 120);
        assertEquals(3, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains(base + " can be written by other users (rwxrwx---)\n"), r.stdout());
    }

    @Test
    void temporaryFolderOfAnotherUserIsRefused() throws Exception {
        Path work = freshDir("tmp-other-user");
        Path cacheIsAFile = Files.writeString(work.resolve("cache-is-a-file"), "not a folder");
        Path tmp = Files.createDirectory(work.resolve("tmp"));
        Path base = Files.createDirectory(tmp.resolve("llama-java-" + USER),
                PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        boolean chowned;
        try {
            UserPrincipal nobody = base.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
            Files.setOwner(base, nobody);
            chowned = Files.getOwner(base).getName().equals("nobody");
        } catch (IOException | UnsupportedOperationException e) {
            chowned = false; // only root can give a folder away
        }
        Assumptions.assumeTrue(chowned, "cannot chown a folder to nobody here (not root)");
        var r = TestSupport.run(TestSupport.javaCommand(CP, tmpFallbackJvm(tmp, cacheIsAFile), "dev.llamajava.LoaderProbe"), null, null, 120);
        assertEquals(3, r.exit(), r.stdout() + r.stderr());
        Path dir = base.resolve(versionFolder()).resolve("linux-x86_64");
        assertTrue(r.stdout().contains("  - extract to " + dir + ": java.io.IOException: " + base + " belongs to nobody, not to " + USER + "\n"),
                r.stdout());
    }
}
