package dev.llamajava.internal.loader;

import dev.llamajava.BackendUnavailableException;
import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.Hashing;
import dev.llamajava.internal.Settings;

import dev.llamajava.NativeLibraryException;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Finds, extracts and loads llama.cpp's shared libraries, once per JVM (in the style of onnxruntime-java's loader).
 * A failure is not remembered: the next use tries again.
 *
 * <p>Order:
 * <ol>
 * <li>{@code -Dllama.library.path} or {@code LLAMA_LIBRARY_PATH}: a directory holding the libraries,
 *     used as is (no fallback when it is wrong: an explicit setting that does not work is an error);</li>
 * <li>the natives jar on the class path: resources under {@code /dev/llamajava/native/<platform>/} with a
 *     {@code natives.sha256} manifest, extracted into {@code <cache>/<version>/<platform>/} where the cache
 *     is {@code -Dllama.cache.dir}, {@code LLAMA_JAVA_CACHE_DIR}, {@code $XDG_CACHE_HOME/llama-java} or
 *     {@code ~/.cache/llama-java}; then a folder under {@code java.io.tmpdir} as fallback. Extraction runs
 *     under a file lock, writes then renames, and verifies every checksum. Nothing outside that
 *     versioned folder is touched.</li>
 * </ol>
 * Then ggml-base, ggml, llama and the llama-java shim are loaded, llama.cpp's log is routed to
 * {@link System.Logger} {@code dev.llamajava.native}, and the backends in the same folder are loaded
 * with {@code ggml_backend_load_all_from_path}.
 */
public final class NativeLoader {

    static final String RESOURCE_ROOT = "/dev/llamajava/native/";
    static final String MANIFEST = "natives.sha256";
    static final List<String> CORE_LIBRARIES = List.of("libggml-base.so", "libggml.so", "libllama.so", "libllamajava.so");
    private static final Pattern LOADED_BACKEND = Pattern.compile("loaded (\\S+) backend from (\\S+)");

    private static final Object LOCK = new Object();
    private static volatile Loaded loaded;

    /** What was loaded, from where. */
    record Loaded(SymbolLookup lookup, Path directory, String source) { }

    private NativeLoader() { }

    /** The symbols of llama.cpp, ggml and the shim; loads everything on first use. */
    public static SymbolLookup symbolLookup() {
        return load().lookup();
    }

    static Loaded load() {
        Loaded l = loaded;
        if (l != null) return l;
        synchronized (LOCK) {
            if (loaded != null) return loaded; // a failure is not remembered: a later call tries again
            try {
                Loaded result = doLoad();
                // the backend is chosen once the libraries are in, outside the search for a library folder:
                // an unusable backend is not a reason to try another folder
                try {
                    backendChoice = selectBackend();
                } catch (RuntimeException | Error e) {
                    loaded = null;
                    throw e;
                }
                System.getLogger("dev.llamajava").log(System.Logger.Level.INFO, "llama-java backend: " + backendChoice);
                return result;
            } catch (NativeLibraryException e) {
                throw e;
            } catch (RuntimeException | Error e) {
                throw new NativeLibraryException("llama-java: loading the native libraries failed: " + e, e);
            }
        }
    }

    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String o = os.startsWith("linux") ? "linux" : os.startsWith("mac") ? "macos" : os.startsWith("windows") ? "windows" : os;
        String a = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return o + "-" + a;
    }

    static final List<String> SUPPORTED_PLATFORMS = List.of("linux-x86_64");

    private static Loaded doLoad() {
        String platform = platform();
        List<String> tried = new ArrayList<>();
        String explicit = Settings.LIBRARY_PATH.explicit().orElse(null);
        if (explicit != null) {
            Path dir = Path.of(explicit).toAbsolutePath();
            String why = checkLibraryDir(dir);
            if (why != null) {
                tried.add("llama.library.path / LLAMA_LIBRARY_PATH = " + dir + ": " + why);
                throw failure(platform, tried, null);
            }
            try {
                return finish(dir, "llama.library.path " + dir);
            } catch (RuntimeException e) {
                tried.add("llama.library.path / LLAMA_LIBRARY_PATH = " + dir + ": " + e.getMessage());
                throw failure(platform, tried, e);
            }
        }
        tried.add("llama.library.path / LLAMA_LIBRARY_PATH: not set");
        if (!SUPPORTED_PLATFORMS.contains(platform)) {
            tried.add("platform " + platform + ": llama-java ships natives for " + SUPPORTED_PLATFORMS);
            throw failure(platform, tried, null);
        }
        String resDir = RESOURCE_ROOT + platform + "/";
        Map<String, String> manifest = readManifest(resDir);
        if (manifest == null) {
            tried.add("class path resource " + resDir + MANIFEST + ": not found (is llama-java-<version>-natives-" + platform + ".jar on the class path?)");
            throw failure(platform, tried, null);
        }
        String version = version(resDir);
        RuntimeException last = null;
        for (Path base : cacheCandidates()) {
            Path dir = base.resolve(version).resolve(platform);
            try {
                extract(resDir, manifest, base, dir);
                return finish(dir, "natives jar, extracted to " + dir);
            } catch (RuntimeException e) {
                tried.add("extract to " + dir + ": " + e.getMessage());
                last = e;
            }
        }
        throw failure(platform, tried, last);
    }

    private static NativeLibraryException failure(String platform, List<String> tried, Throwable cause) {
        StringBuilder sb = new StringBuilder("llama-java: could not load llama.cpp's native libraries for ")
                .append(platform).append(" (os.name=").append(System.getProperty("os.name"))
                .append(", os.arch=").append(System.getProperty("os.arch")).append("). Tried:");
        for (String t : tried) sb.append("\n  - ").append(t);
        sb.append("\nTo fix: put llama-java-<version>-natives-linux-x86_64.jar on the class path next to llama-java.jar, "
                + "or set -Dllama.library.path (LLAMA_LIBRARY_PATH) to a directory with "
                + String.join(", ", CORE_LIBRARIES) + " and the libggml-cpu*.so backends (built by ci/build-native).");
        return new NativeLibraryException(sb.toString(), cause);
    }

    static String checkLibraryDir(Path dir) {
        if (!Files.isDirectory(dir)) return "not a directory";
        List<String> missing = new ArrayList<>();
        for (String lib : CORE_LIBRARIES) if (!Files.isRegularFile(dir.resolve(lib))) missing.add(lib);
        if (!missing.isEmpty()) return "missing " + String.join(", ", missing);
        return null;
    }

    private static Map<String, String> readManifest(String resDir) {
        try (InputStream in = NativeLoader.class.getResourceAsStream(resDir + MANIFEST)) {
            if (in == null) return null;
            Map<String, String> m = new LinkedHashMap<>();
            for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                line = line.strip();
                if (line.isEmpty()) continue;
                String[] parts = line.split("\\s+\\*?", 2);
                if (parts.length != 2 || parts[0].length() != 64 || parts[1].contains("/"))
                    throw new NativeLibraryException("llama-java: malformed natives manifest line: " + line);
                m.put(parts[1], parts[0]);
            }
            return m;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The cache folder name: the library version and the manifest's own hash, so two builds never share a folder. */
    private static String version(String resDir) {
        String v = NativeLoader.class.getPackage().getImplementationVersion();
        if (v == null) v = "dev";
        try (InputStream in = NativeLoader.class.getResourceAsStream(resDir + MANIFEST)) {
            return v + "-" + Hashing.sha256(in.readAllBytes()).substring(0, 12);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static List<Path> cacheCandidates() {
        List<Path> out = new ArrayList<>();
        out.add(Settings.CACHE_DIR.path());
        out.add(Path.of(System.getProperty("java.io.tmpdir"), "llama-java-" + System.getProperty("user.name", "user")).toAbsolutePath());
        return out;
    }

    /**
     * Creates the folder (owner-only where it is new) and checks that it and every folder from it up to the cache
     * base belong to this user and that nobody else can write them: the libraries are verified, then loaded from a
     * place no other user could have swapped them in.
     */
    static void createPrivate(Path base, Path dir) throws IOException {
        try {
            Files.createDirectories(dir, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
        } catch (UnsupportedOperationException e) {
            Files.createDirectories(dir); // not a POSIX file system
            return;
        }
        String me = System.getProperty("user.name");
        for (Path p = dir; p != null; p = p.getParent()) {
            String owner = Files.getOwner(p).getName();
            if (!owner.equals(me)) throw new IOException(p + " belongs to " + owner + ", not to " + me);
            Set<PosixFilePermission> perms = Files.getPosixFilePermissions(p);
            if (perms.contains(PosixFilePermission.GROUP_WRITE) || perms.contains(PosixFilePermission.OTHERS_WRITE)) {
                throw new IOException(p + " can be written by other users (" + PosixFilePermissions.toString(perms) + ")");
            }
            if (p.equals(base)) break;
        }
    }

    private static void extract(String resDir, Map<String, String> manifest, Path base, Path dir) {
        try {
            createPrivate(base, dir);
            if (!Files.isWritable(dir) || !Files.isExecutable(dir)) throw new IOException("directory is not writable and searchable");
            try (FileChannel ch = FileChannel.open(dir.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                 FileLock ignored = ch.lock()) {
                for (Map.Entry<String, String> e : manifest.entrySet()) {
                    Path target = dir.resolve(e.getKey());
                    if (Files.isRegularFile(target) && Hashing.sha256(target).equals(e.getValue())) continue;
                    Path tmp = Files.createTempFile(dir, "." + e.getKey(), ".part");
                    try {
                        try (InputStream in = NativeLoader.class.getResourceAsStream(resDir + e.getKey())) {
                            if (in == null) throw new IOException("resource " + resDir + e.getKey() + " listed in the manifest is missing");
                            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                        }
                        String actual = Hashing.sha256(tmp);
                        if (!actual.equals(e.getValue()))
                            throw new IOException("checksum mismatch for " + e.getKey() + ": expected " + e.getValue() + ", got " + actual);
                        try {
                            Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x"));
                        } catch (UnsupportedOperationException ignore) {
                            // not a POSIX file system
                        }
                        try {
                            Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
                        } catch (AtomicMoveNotSupportedException ex) {
                            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING);
                        }
                    } finally {
                        Files.deleteIfExists(tmp);
                    }
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e.toString(), e);
        }
    }

    private static Loaded finish(Path dir, String source) {
        Arena arena = Arena.global();
        SymbolLookup lookup = null;
        for (String lib : CORE_LIBRARIES) {
            SymbolLookup l;
            try {
                l = SymbolLookup.libraryLookup(dir.resolve(lib), arena);
            } catch (IllegalArgumentException e) {
                throw new NativeLibraryException("cannot load " + dir.resolve(lib) + ": " + e.getMessage(), e);
            }
            lookup = lookup == null ? l : lookup.or(l);
        }
        Loaded result = new Loaded(lookup, dir, source);
        // From here on the generated bindings can resolve symbols (they read the lookup through load()).
        loaded = result;
        try {
            NativeLog.install();
            llama_h.llama_backend_init();
            loadBestCpuVariant(dir); // only CPU backends from this folder: a GPU backend is loaded by selectBackend alone
            System.getLogger("dev.llamajava").log(System.Logger.Level.DEBUG, "llama-java natives: " + source);
        } catch (RuntimeException | Error e) {
            loaded = null;
            throw e;
        }
        return result;
    }

    /**
     * Loads the CPU backend variant that scores best on this CPU (as ggml's own search does), and nothing else from
     * the folder: a GPU library that happens to sit there is never loaded here.
     */
    private static void loadBestCpuVariant(Path dir) {
        Path best = null;
        int bestScore = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, "libggml-cpu*.so")) {
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
        if (best == null) throw new NativeLibraryException("no CPU backend in " + dir + " supports this CPU (libggml-cpu-*.so)");
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
    static BackendChoice selectBackend() {
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
            String resDir = RESOURCE_ROOT + CUDA_PLATFORM + "/";
            Map<String, String> manifest = readManifest(resDir);
            if (manifest == null) {
                why = "the CUDA natives (llama-java-<version>-natives-" + CUDA_PLATFORM + ".jar) are not on the class path";
            } else {
                why = "could not extract the CUDA natives";
                String version = version(resDir);
                for (Path base : cacheCandidates()) {
                    Path d = base.resolve(version).resolve(CUDA_PLATFORM);
                    try {
                        extract(resDir, manifest, base, d);
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

    /** The CPU backend variant llama.cpp chose (from its "loaded CPU backend from ..." log line), or null. */
    static String cpuVariant() {
        return NativeLog.cpuVariant();
    }

    static void noteLogLine(String line) {
        Matcher m = LOADED_BACKEND.matcher(line);
        if (m.find() && m.group(1).equals("CPU")) {
            String file = Path.of(m.group(2)).getFileName().toString();
            Matcher v = Pattern.compile("libggml-cpu-?([^.]*)\\.so").matcher(file);
            NativeLog.setCpuVariant(v.find() ? (v.group(1).isEmpty() ? "native" : v.group(1)) : file, line);
        }
    }

    static Properties buildProperties() {
        Properties p = new Properties();
        Loaded l = load();
        Path f = l.directory().resolve("build.properties");
        if (Files.isRegularFile(f)) {
            try (InputStream in = Files.newInputStream(f)) {
                p.load(in);
            } catch (IOException ignore) {
                // informational only
            }
        }
        return p;
    }
}
