package dev.llamajava;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA backend on a machine without a GPU, with the real libggml-cuda.so built by ci/build-cuda on the class path:
 * auto falls back to the CPU (saying why) and generates exactly what llama.cpp does; cuda fails with the documented
 * exception; cpu never touches GPU libraries. Both no-GPU shapes are covered: the driver library present but no
 * device (the CUDA backend registers with 0 devices), and the driver library absent (the library does not load).
 */
class CudaBackendTest {

    static Path cudaNatives;
    static String expectedText;

    @BeforeAll
    static void find() throws Exception {
        cudaNatives = Path.of(System.getProperty("llama.natives.cuda.dir", "build/natives/cuda")).toAbsolutePath();
        assertTrue(Files.isRegularFile(cudaNatives.resolve("dev/llamajava/native/linux-x86_64-cuda/libggml-cuda.so")),
                "the CUDA natives are missing: run ci/build-cuda (" + cudaNatives + ")");
        var r = TestSupport.run(List.of(TestSupport.tool("llama-simple").toString(), "-m", TestSupport.stories260K().toString(),
                "-n", "24", "Once upon a time"), null, null, 120);
        assertEquals(0, r.exit(), r.stderr());
        expectedText = r.stdout();
    }

    static String cp(boolean withCuda) {
        List<String> parts = new ArrayList<>(List.of(System.getProperty("java.class.path").split(File.pathSeparator)));
        if (withCuda) parts.add(cudaNatives.toString());
        return String.join(File.pathSeparator, parts);
    }

    static TestSupport.Proc probe(boolean withCuda, List<String> jvm, String... args) throws Exception {
        List<String> all = new ArrayList<>(jvm);
        all.add("-Dllama.cache.dir=" + System.getProperty("llama.cache.dir"));
        return TestSupport.run(TestSupport.javaCommand(cp(withCuda), all, "dev.llamajava.CudaProbe", args), null, null, 300);
    }

    @Test
    void autoFallsBackToCpuWhenNoDeviceAndGeneratesLikeLlamaCpp() throws Exception {
        var r = probe(true, List.of("-Dllama.backend=auto"), TestSupport.stories260K().toString());
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        String choice = r.stdout().lines().filter(l -> l.startsWith("CHOICE ")).findFirst().orElseThrow();
        assertTrue(choice.startsWith("CHOICE CPU (llama.backend=auto: the CUDA backend loaded but found no device")
                || choice.startsWith("CHOICE CPU (llama.backend=auto: the NVIDIA driver library libcuda.so.1 is missing"), choice);
        assertTrue(r.stdout().contains("BACKEND CPU 1\n"), r.stdout());
        if (choice.contains("found no device")) assertTrue(r.stdout().contains("BACKEND CUDA 0\n"), r.stdout());
        String text = r.stdout().lines().filter(l -> l.startsWith("TEXT ")).findFirst().orElseThrow().substring(5);
        assertTrue(expectedText.startsWith("<s> Once upon a time") || expectedText.startsWith("Once upon a time"), expectedText);
        assertTrue(expectedText.strip().endsWith(text.strip()), "llama-simple: " + expectedText + "\nours: " + text);
        assertTrue(text.length() > 40, text);
        assertTrue(r.stderr().contains("llama-java backend: CPU (llama.backend=auto: "), "one INFO line names the choice: " + r.stderr());
        assertTrue(!r.stderr().contains("SEVERE"), "no error lines for an expected fallback: " + r.stderr());
    }

    @Test
    void cudaModeFailsWithWhatIsMissing() throws Exception {
        var r = probe(true, List.of("-Dllama.backend=cuda"));
        assertEquals(3, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().startsWith("EXCEPTION dev.llamajava.BackendUnavailableException\n"), r.stdout());
        assertTrue(r.stdout().startsWith("EXCEPTION dev.llamajava.BackendUnavailableException\nllama-java: llama.backend=cuda, but the CUDA backend loaded but found no device")
                || r.stdout().contains("\nllama-java: llama.backend=cuda, but the NVIDIA driver library libcuda.so.1 is missing"), r.stdout());
        assertTrue(!r.stderr().contains("SEVERE"), "the failure is reported once, by the exception: " + r.stderr());
        // without the CUDA natives jar
        r = probe(false, List.of("-Dllama.backend=cuda"));
        assertEquals(3, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().contains("llama-java: llama.backend=cuda, but the CUDA natives (llama-java-<version>-natives-linux-x86_64-cuda.jar) "
                + "are not on the class path"), r.stdout());
    }

    @Test
    void cpuModeNeverTouchesGpuLibraries() throws Exception {
        var r = probe(true, List.of("-Dllama.backend=cpu"));
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        assertTrue(r.stdout().startsWith("CHOICE CPU (llama.backend=cpu: GPU libraries not loaded)\n"), r.stdout());
        assertTrue(!r.stdout().contains("BACKEND CUDA"), r.stdout());
        r = probe(true, List.of("-Dllama.backend=gpu"));
        assertEquals(3, r.exit());
        assertTrue(r.stdout().contains("llama-java: llama.backend / LLAMA_BACKEND must be auto, cpu or cuda, was 'gpu'"), r.stdout());
    }

    @Test
    void driverLibraryAbsent() throws Exception {
        // the same library, made to need a driver library name that does not exist: the dlopen fails as it does
        // on a machine without the NVIDIA driver
        Path lib = cudaNatives.resolve("dev/llamajava/native/linux-x86_64-cuda/libggml-cuda.so");
        var needed = TestSupport.run(List.of("objdump", "-p", lib.toString()), null, null, 60);
        String dep = needed.stdout().contains("NEEDED               libcuda.so.1") ? "libcuda.so.1" : "libcudart.so.11.0";
        Path dir = TestSupport.workDir("cuda-no-driver");
        Path copy = dir.resolve("libggml-cuda.so");
        Files.copy(lib, copy, StandardCopyOption.REPLACE_EXISTING);
        String fake = dep.equals("libcuda.so.1") ? "libcuda.so.999" : "libcudart.so.999";
        var pe = TestSupport.run(List.of("patchelf", "--replace-needed", dep, fake, copy.toString()), null, null, 60);
        assertEquals(0, pe.exit(), pe.stderr());
        var r = probe(false, List.of("-Dllama.backend=auto", "-Dllama.cuda.library.path=" + dir), TestSupport.stories260K().toString());
        assertEquals(0, r.exit(), r.stdout() + r.stderr());
        String reason = dep.equals("libcuda.so.1") ? "the NVIDIA driver library libcuda.so.1 is missing" : "the CUDA runtime libraries are missing";
        assertTrue(r.stdout().startsWith("CHOICE CPU (llama.backend=auto: " + reason + " ("), r.stdout());
        assertTrue(r.stdout().contains(fake), r.stdout());
        assertTrue(!r.stdout().contains("BACKEND CUDA"), r.stdout());
        assertTrue(r.stdout().contains("TEXT "), r.stdout());
        r = probe(false, List.of("-Dllama.backend=cuda", "-Dllama.cuda.library.path=" + dir));
        assertEquals(3, r.exit());
        assertTrue(r.stdout().contains("llama-java: llama.backend=cuda, but " + reason), r.stdout());
    }
}
