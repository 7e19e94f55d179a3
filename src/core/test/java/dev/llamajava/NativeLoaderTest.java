package dev.llamajava;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;

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
        assertTrue(line.matches("load_backend: loaded CPU backend from " + java.util.regex.Pattern.quote(dir.toString()) + "/libggml-cpu-?" + variant + "\\.so"), line);
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
                var md = java.security.MessageDigest.getInstance("SHA-256");
                assertEquals(p[0], java.util.HexFormat.of().formatHex(md.digest(Files.readAllBytes(f))), p[1]);
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

    private static String classPathWithoutNatives() {
        // drop the staged natives folder (and any natives jar) from this JVM's class path
        StringBuilder sb = new StringBuilder();
        for (String e : CP.split(java.io.File.pathSeparator)) {
            if (e.contains("natives")) continue;
            if (!sb.isEmpty()) sb.append(java.io.File.pathSeparator);
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
                + "(is llama-java-<version>-natives-linux-x86_64.jar on the class path?)\n"), r.stdout());
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
}
