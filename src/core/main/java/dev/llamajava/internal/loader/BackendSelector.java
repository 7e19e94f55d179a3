package dev.llamajava.internal.loader;

import dev.llamajava.BackendUnavailableException;
import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.Settings;
import dev.llamajava.NativeLibraryException;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/** Chooses the compute backend (CPU or CUDA) once the core libraries are loaded, and loads the best CPU variant. */
final class BackendSelector {

    private BackendSelector() { }

    /**
     * Loads the CPU backend variant that scores best on this CPU (as ggml's own search does), and nothing else from
     * the folder: a GPU library that happens to sit there is never loaded here.
     */
    static void loadBestCpuVariant(Path dir, Platform p) {
        Path best = null;
        int bestScore = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, p.cpuBackendGlob())) {
            for (Path lib : ds) {
                int score;
                try (Arena a = Arena.ofConfined()) {
                    Optional<MemorySegment> fn = SymbolLookup.libraryLookup(lib, a).find("ggml_backend_score");
                    score = fn.isEmpty() ? 0 : (int) Linker.nativeLinker()
                            .downcallHandle(fn.get(), FunctionDescriptor.of(ValueLayout.JAVA_INT)).invokeExact();
                } catch (Throwable t) {
                    score = 0;
                }
                if (score > bestScore) {
                    bestScore = score;
                    best = lib;
                }
            }
        } catch (IOException e) {
            throw new NativeLibraryException("cannot list the CPU backends in " + dir + ": " + e, e);
        }
        if (best == null) throw new NativeLibraryException("no CPU backend in " + dir + " supports this CPU (" + p.cpuBackendGlob() + ")");
        try (Arena a = Arena.ofConfined()) {
            if (llama_h.ggml_backend_load(a.allocateFrom(best.toString())).equals(MemorySegment.NULL)) {
                throw new NativeLibraryException("llama.cpp could not load the CPU backend " + best);
            }
        }
    }

    /** Which compute backend was chosen and why. */
    record BackendChoice(String backend, String mode, String reason) {
        @Override
        public String toString() {
            return backend + " (llama.backend=" + mode + ": " + reason + ")";
        }
    }

    static volatile BackendChoice backendChoice;

    static final String CUDA_PLATFORM = "linux-x86_64-cuda";

    /**
     * Applies {@code -Dllama.backend} / {@code LLAMA_BACKEND}: {@code cpu} never touches GPU libraries; {@code auto}
     * (default) loads the CUDA backend when its library is available and uses it when a device is present;
     * {@code cuda} requires it and fails with what was missing.
     */
    static BackendChoice select() {
        String mode = Settings.BACKEND.get().toLowerCase(Locale.ROOT);
        if (!List.of("auto", "cpu", "cuda").contains(mode)) {
            throw new BackendUnavailableException("llama-java: llama.backend / LLAMA_BACKEND must be auto, cpu or cuda, was '" + mode + "'");
        }
        if (mode.equals("cpu")) return new BackendChoice("CPU", mode, "GPU libraries not loaded");
        String why;
        Path cudaDir = null;
        String explicit = Settings.CUDA_LIBRARY_PATH.explicit().orElse(null);
        if (explicit != null) {
            cudaDir = Path.of(explicit).toAbsolutePath();
            why = Files.isRegularFile(cudaDir.resolve("libggml-cuda.so")) ? null : "no libggml-cuda.so in llama.cuda.library.path " + cudaDir;
        } else {
            String resDir = NativeLoader.RESOURCE_ROOT + CUDA_PLATFORM + "/";
            Map<String, String> manifest = NativeExtractor.readManifest(resDir);
            if (manifest == null) {
                why = "the CUDA natives (llama-java-<version>-natives-" + CUDA_PLATFORM + ".jar) are not on the class path";
            } else {
                why = "could not extract the CUDA natives";
                String version = NativeExtractor.version(resDir);
                for (Path base : NativeExtractor.cacheCandidates()) {
                    Path d = base.resolve(version).resolve(CUDA_PLATFORM);
                    try {
                        NativeExtractor.extract(resDir, manifest, base, d);
                        cudaDir = d;
                        why = null;
                        break;
                    } catch (RuntimeException e) {
                        why = "could not extract the CUDA natives to " + d + ": " + e.getMessage();
                    }
                }
            }
        }
        if (why == null) {
            Natives.beginCapture();
            NativeLog.quiet(true); // what goes wrong here is reported once, in the choice or the exception
            MemorySegment reg;
            List<String> errors;
            try (Arena a = Arena.ofConfined()) {
                reg = llama_h.ggml_backend_load(a.allocateFrom(cudaDir.resolve("libggml-cuda.so").toString()));
            } finally {
                NativeLog.quiet(false);
                errors = Natives.endCapture();
            }
            if (reg.equals(MemorySegment.NULL)) {
                String detail = errors.isEmpty() ? "no reason given" : String.join("; ", errors);
                if (detail.contains("libcuda.so")) why = "the NVIDIA driver library libcuda.so.1 is missing (" + detail + ")";
                else if (detail.contains("libcudart") || detail.contains("libcublas")) why = "the CUDA runtime libraries are missing (" + detail + ")";
                else why = "libggml-cuda.so did not load (" + detail + ")";
            } else {
                long devices = llama_h.ggml_backend_reg_dev_count(reg);
                if (devices == 0) {
                    why = "the CUDA backend loaded but found no device" + (errors.isEmpty() ? "" : " (" + String.join("; ", errors) + ")");
                } else {
                    return new BackendChoice("CUDA", mode, devices + " device(s), " + describeCuda(reg));
                }
            }
        }
        if (mode.equals("cuda")) {
            throw new BackendUnavailableException("llama-java: llama.backend=cuda, but " + why);
        }
        return new BackendChoice("CPU", mode, why);
    }

    private static String describeCuda(MemorySegment reg) {
        StringBuilder sb = new StringBuilder();
        long n = llama_h.ggml_backend_reg_dev_count(reg);
        for (long i = 0; i < n; i++) {
            MemorySegment d = llama_h.ggml_backend_reg_dev_get(reg, i);
            if (i > 0) sb.append(", ");
            sb.append(llama_h.ggml_backend_dev_description(d).reinterpret(1024).getString(0));
        }
        return sb.toString();
    }
}
