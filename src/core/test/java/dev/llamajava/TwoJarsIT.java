package dev.llamajava;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * After {@code mvn package}: the API jar and the natives jar alone, no library path, a fresh home folder.
 * A user program (a single source file, {@code examples/Hello.java}) loads the natives from the jar, streams tokens, exits cleanly, and the only thing written is
 * the versioned natives folder.
 */
class TwoJarsIT {

    @Test
    void demoRunsFromTheTwoJarsAlone() throws Exception {
        Path api = Path.of(System.getProperty("llama.api.jar"));
        Path natives = Path.of(System.getProperty("llama.natives.jar"));
        assertTrue(Files.isRegularFile(api), api.toString());
        assertTrue(Files.isRegularFile(natives), natives.toString());
        Path work = Path.of(System.getProperty("llama.test.workdir"));
        Path home = work.resolve("home");
        Path tmp = work.resolve("tmp");
        for (Path p : List.of(home, tmp)) {
            if (Files.exists(p)) try (Stream<Path> s = Files.walk(p)) { s.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete()); }
            Files.createDirectories(p);
        }
        Path model = Path.of(System.getProperty("llama.shared.dir"), "models", "stories260K.gguf");
        Path hello = work.resolve("Hello.java");
        try (var in = TwoJarsIT.class.getResourceAsStream("/examples/Hello.java")) {
            Files.copy(in, hello, StandardCopyOption.REPLACE_EXISTING);
        }
        // the library's only run-time dependency is Jackson: what `mvn package` copied to target/lib
        String jackson;
        try (Stream<Path> s = Files.list(Path.of(System.getProperty("llama.lib.dir")))) {
            List<Path> libs = s.sorted().toList();
            assertTrue(libs.stream().allMatch(p -> p.getFileName().toString().startsWith("jackson-")), "run-time dependencies: " + libs);
            jackson = String.join(":", libs.stream().map(Path::toString).toList());
        }
        var r = TestSupport.run(TestSupport.javaCommand(api + ":" + natives + ":" + jackson, List.of("-Duser.home=" + home, "-Djava.io.tmpdir=" + tmp),
                        hello.toString(), model.toString(), "24"),
                work, Map.of("HOME", home.toString(), "XDG_CACHE_HOME", "", "LLAMA_JAVA_CACHE_DIR", ""), 180); // the default cache, whatever this JVM was given
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains("---\nOnce upon a time"), r.stdout());
        assertTrue(r.stdout().contains(" generated at "), r.stdout());
        Path dir = home.resolve(".cache/llama-java");
        assertTrue(r.stdout().contains("natives: " + dir), r.stdout());
        // everything written is inside ~/.cache/llama-java/<version>-<hash>/linux-x86_64
        try (Stream<Path> s = Files.walk(home)) {
            for (Path p : s.toList()) {
                Path rel = home.relativize(p);
                boolean ok = rel.toString().isEmpty() || rel.equals(Path.of(".cache")) || rel.equals(Path.of(".cache/llama-java"))
                        || (rel.getNameCount() >= 3 && rel.startsWith(".cache/llama-java") && (rel.getNameCount() == 3 || rel.getName(3).toString().equals("linux-x86_64")));
                assertTrue(ok, "unexpected " + p);
            }
        }
        try (Stream<Path> s = Files.list(tmp)) {
            assertEquals(List.of(), s.toList(), "the temp folder must stay untouched");
        }
    }

    @Test
    void cudaJarHoldsOnlyTheCudaBackend() throws Exception {
        Path cuda = Path.of(System.getProperty("llama.natives.cuda.jar"));
        assertTrue(Files.isRegularFile(cuda), "no CUDA natives jar (run ci/build-cuda before mvn package): " + cuda);
        try (JarFile jar = new JarFile(cuda.toFile())) {
            List<String> files = jar.stream().map(JarEntry::getName).filter(n -> !n.endsWith("/") && !n.startsWith("META-INF/")).sorted().toList();
            assertEquals(List.of("dev/llamajava/native/linux-x86_64-cuda/build-cuda.properties",
                    "dev/llamajava/native/linux-x86_64-cuda/libggml-cuda.so",
                    "dev/llamajava/native/linux-x86_64-cuda/natives.sha256"), files);
        }
        try (JarFile jar = new JarFile(Path.of(System.getProperty("llama.natives.jar")).toFile())) {
            assertTrue(jar.stream().noneMatch(e -> e.getName().contains("cuda")), "the CPU natives jar must not hold GPU libraries");
        }
    }
}
