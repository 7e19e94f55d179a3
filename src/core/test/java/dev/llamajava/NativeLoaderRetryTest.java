package dev.llamajava;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static dev.llamajava.NativeLoaderTest.classPathWithoutNatives;
import static dev.llamajava.NativeLoaderTest.freshDir;
import static dev.llamajava.NativeLoaderTest.lines;
import static dev.llamajava.NativeLoaderTest.scenario;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The loader's failures are not remembered: each case in a child JVM ({@link LoaderScenarioProbe}). */
class NativeLoaderRetryTest {


    @Test
    void aFailedLoadIsRetried() throws Exception {
        Llama.load();
        Path real = Llama.libraryDirectory();
        Path empty = freshDir("retry-empty");
        var r = scenario(classPathWithoutNatives(), List.of(), Map.of(), "retry", empty.toString(), real.toString(),
                TestSupport.stories260K().toString());
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        List<String> failed = lines(r.stdout(), "FAILED ");
        assertEquals(List.of("FAILED dev.llamajava.NativeLibraryException", "FAILED dev.llamajava.NativeLibraryException"), failed);
        assertTrue(r.stdout().contains("  - llama.library.path / LLAMA_LIBRARY_PATH = " + empty
                + ": missing libggml-base.so, libggml.so, libllama.so, libllamajava.so\n"), r.stdout());
        assertEquals(List.of("LOADED " + real), lines(r.stdout(), "LOADED "));
        String info = lines(r.stdout(), "SYSTEMINFO ").getFirst();
        assertTrue(info.contains("CPU :"), info);
        String tokens = lines(r.stdout(), "TOKENS ").getFirst();
        assertTrue(tokens.matches("TOKENS \\[\\d+(, \\d+)+]"), tokens);
        assertEquals(List.of("BACKEND CPU 1"), lines(r.stdout(), "BACKEND "));
        assertBoundTo(real, r.stdout());
    }

    /** The generated bindings call into the libraries of {@code dir} (the BOUND lines of the probe). */
    static void assertBoundTo(Path dir, String stdout) {
        List<String> bound = lines(stdout, "BOUND ");
        assertEquals(2, bound.size(), stdout);
        for (String b : bound) {
            String file = b.substring(b.lastIndexOf(' ') + 1);
            assertEquals(dir, Path.of(file).getParent(), "the bindings call into another folder than the one loaded: " + b);
        }
    }

    @Test
    void aFailureAfterTheCoreLibrariesLoadedIsRetriedWithTheNewFolder() throws Exception {
        // the first folder has the four core libraries (real copies, so the dynamic linker sees other files) but no
        // CPU backend: the loader gets as far as opening them before it fails. A retry from the real folder must
        // then use the real folder for every call, not only report it.
        Llama.load();
        Path real = Llama.libraryDirectory();
        Path partial = freshDir("retry-partial");
        for (String lib : List.of("libggml-base.so", "libggml.so", "libllama.so", "libllamajava.so")) {
            Files.copy(real.resolve(lib), partial.resolve(lib));
        }
        var r = scenario(classPathWithoutNatives(), List.of(), Map.of(), "retry", partial.toString(), real.toString(),
                TestSupport.stories260K().toString());
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertEquals(2, lines(r.stdout(), "FAILED dev.llamajava.NativeLibraryException").size(), r.stdout());
        assertTrue(r.stdout().contains("  - llama.library.path / LLAMA_LIBRARY_PATH = " + partial + ": no CPU backend in " + partial), r.stdout());
        assertEquals(List.of("LOADED " + real), lines(r.stdout(), "LOADED "));
        assertTrue(lines(r.stdout(), "TOKENS ").getFirst().matches("TOKENS \\[\\d+(, \\d+)+]"), r.stdout());
        assertBoundTo(real, r.stdout());
    }

    @Test
    void aFailedBackendChoiceIsRetriedWithoutLoadingTwice() throws Exception {
        Llama.load();
        Path real = Llama.libraryDirectory();
        var r = scenario(classPathWithoutNatives(), List.of("-Dllama.library.path=" + real), Map.of(), "retry-backend", "gpu", "cpu");
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertEquals(List.of("FAILED dev.llamajava.BackendUnavailableException"), lines(r.stdout(), "FAILED "));
        assertTrue(r.stdout().contains("llama-java: llama.backend / LLAMA_BACKEND must be auto, cpu or cuda, was 'gpu'"), r.stdout());
        assertEquals(List.of("CHOICE CPU (llama.backend=cpu: GPU libraries not loaded)"), lines(r.stdout(), "CHOICE "));
        // the second, successful load registered the CPU backend once, not once per attempt
        assertEquals(List.of("BACKEND CPU 1"), lines(r.stdout(), "BACKEND "));
        assertBoundTo(real, r.stdout());

        // a bad backend setting fails after the libraries were loaded: if the retry names another folder, what is
        // reported as loaded and what the bindings call must still be the same libraries
        Path copy = freshDir("retry-backend-copy");
        try (var s = Files.list(real)) {
            for (Path f : s.toList()) {
                if (f.getFileName().toString().endsWith(".so")) Files.copy(f, copy.resolve(f.getFileName()));
            }
        }
        r = scenario(classPathWithoutNatives(), List.of("-Dllama.library.path=" + copy), Map.of(), "retry-backend", "gpu", "cpu", real.toString());
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertEquals(List.of("FAILED dev.llamajava.BackendUnavailableException"), lines(r.stdout(), "FAILED "));
        String loaded = lines(r.stdout(), "LOADED ").getFirst().substring(7);
        assertBoundTo(Path.of(loaded), r.stdout());
        assertEquals(List.of("BACKEND CPU 1"), lines(r.stdout(), "BACKEND "));
    }
}
