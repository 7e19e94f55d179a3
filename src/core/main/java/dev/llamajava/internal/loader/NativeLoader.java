package dev.llamajava.internal.loader;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.Settings;

import dev.llamajava.NativeLibraryException;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
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
    private static final Pattern LOADED_BACKEND = Pattern.compile("loaded (\\S+) backend from (\\S+)");

    private static final Object LOCK = new Object();
    private static volatile Loaded loaded;

    /** What was loaded, from where. */
    record Loaded(SymbolLookup lookup, Path directory, String source) { }

    private NativeLoader() { }

    /** The symbols of llama.cpp, ggml and the shim; loads everything on first use. */
    public static SymbolLookup symbolLookup() {
        Loaded l = loaded; // the bindings bind while load() runs: they need the libraries, not the backend choice
        return l != null ? l.lookup() : load().lookup();
    }

    /** A failure after the bindings were bound: final for this JVM. */
    private static volatile NativeLibraryException bound;

    static Loaded load() {
        Loaded l = loaded;
        if (l != null && backendChoice != null) return l;
        synchronized (LOCK) {
            if (bound != null) throw bound;
            try {
                if (loaded == null) doLoad(); // fails before binding anything, so a later call may try another folder
                if (backendChoice == null) {
                    // the libraries stay (the bindings are bound to them for the life of the JVM): only the choice is retried
                    backendChoice = BackendSelector.select();
                    System.getLogger("dev.llamajava").log(System.Logger.Level.INFO, "llama-java backend: " + backendChoice);
                }
                return loaded;
            } catch (NativeLibraryException e) {
                throw e;
            } catch (RuntimeException | Error e) {
                throw new NativeLibraryException("llama-java: loading the native libraries failed: " + e, e);
            }
        }
    }

    /** The platform of this JVM. */
    static Platform platform() {
        return Platform.current();
    }

    private static Loaded doLoad() {
        Platform p = platform();
        String platform = p.id();
        List<String> tried = new ArrayList<>();
        String explicit = Settings.LIBRARY_PATH.explicit().orElse(null);
        if (explicit != null) {
            Path dir = Path.of(explicit).toAbsolutePath();
            String why = checkLibraryDir(dir, p);
            if (why != null) {
                tried.add("llama.library.path / LLAMA_LIBRARY_PATH = " + dir + ": " + why);
                throw failure(platform, tried, null);
            }
            try {
                return finish(dir, p, "llama.library.path " + dir);
            } catch (RuntimeException e) {
                tried.add("llama.library.path / LLAMA_LIBRARY_PATH = " + dir + ": " + e.getMessage());
                throw failure(platform, tried, e);
            }
        }
        tried.add("llama.library.path / LLAMA_LIBRARY_PATH: not set");
        if (!p.supported()) {
            tried.add("platform " + platform + ": llama-java ships natives for " + Platform.SUPPORTED + seen());
            throw failure(platform, tried, null);
        }
        String resDir = RESOURCE_ROOT + platform + "/";
        Map<String, String> manifest = NativeExtractor.readManifest(resDir);
        if (manifest == null) {
            tried.add("class path resource " + resDir + MANIFEST + ": not found (is llama-java-<version>-natives-" + platform
                    + ".jar on the class path?)" + seen());
            throw failure(platform, tried, null);
        }
        String version = NativeExtractor.version(resDir);
        RuntimeException last = null;
        for (Path base : NativeExtractor.cacheCandidates()) {
            Path dir = base.resolve(version).resolve(platform);
            try {
                NativeExtractor.extract(resDir, manifest, base, dir);
                return finish(dir, p, "natives jar, extracted to " + dir);
            } catch (RuntimeException e) {
                if (bound != null) throw bound; // bound to this folder: no other candidate can be used in this JVM
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
        Platform p = platform();
        sb.append("\nTo fix: put llama-java-<version>-natives-").append(platform).append(".jar on the class path next to llama-java.jar, "
                + "or set -Dllama.library.path (LLAMA_LIBRARY_PATH) to a directory with "
                + String.join(", ", p.coreLibraries()) + " and the " + p.cpuBackendGlob() + " backends (built by ci/build-native).");
        return new NativeLibraryException(sb.toString(), cause);
    }

    /** The natives jars on the class path, by platform: "; natives jars seen: linux-aarch64", or "; no natives jar seen". */
    static String seen() {
        List<String> found = new ArrayList<>();
        for (String id : Platform.SUPPORTED) {
            try (InputStream in = NativeExtractor.resource(RESOURCE_ROOT + id + "/" + MANIFEST)) {
                if (in != null) found.add(id);
            } catch (IOException ignore) {
                // only for the message
            }
        }
        return found.isEmpty() ? "; no natives jar seen" : "; natives jars seen: " + String.join(", ", found);
    }

    static String checkLibraryDir(Path dir, Platform p) {
        if (!Files.isDirectory(dir)) return "not a directory";
        List<String> missing = new ArrayList<>();
        for (String lib : p.coreLibraries()) if (!Files.isRegularFile(dir.resolve(lib))) missing.add(lib);
        if (!missing.isEmpty()) return "missing " + String.join(", ", missing);
        return null;
    }

    private static Loaded finish(Path dir, Platform p, String source) {
        // checked before anything is opened: a folder that fails here binds nothing, so a later call may use another
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, p.cpuBackendGlob())) {
            if (!ds.iterator().hasNext()) throw new NativeLibraryException("no CPU backend in " + dir + " (" + p.cpuBackendGlob() + ")");
        } catch (IOException e) {
            throw new NativeLibraryException("cannot list the CPU backends in " + dir + ": " + e, e);
        }
        Arena arena = Arena.global();
        SymbolLookup lookup = null;
        for (String lib : p.coreLibraries()) {
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
            BackendSelector.loadBestCpuVariant(dir, p); // only CPU backends from this folder: a GPU backend is loaded by selectBackend alone
            System.getLogger("dev.llamajava").log(System.Logger.Level.DEBUG, "llama-java natives: " + source);
        } catch (RuntimeException | Error e) {
            // the bindings are bound to these libraries now: another folder cannot replace them in this JVM
            bound = new NativeLibraryException("llama-java: the native libraries of " + dir + " were bound but did not "
                    + "initialise (" + e.getMessage() + "); restart the JVM to load others", e);
            throw bound;
        }
        return result;
    }

    /** The backend chosen once the libraries are in (CPU or CUDA) and why. */
    static volatile BackendSelector.BackendChoice backendChoice;

    /** The CPU backend variant llama.cpp chose (from its "loaded CPU backend from ..." log line), or null. */
    static String cpuVariant() {
        return NativeLog.cpuVariant();
    }

    static void noteLogLine(String line) {
        Matcher m = LOADED_BACKEND.matcher(line);
        if (m.find() && m.group(1).equals("CPU")) {
            String file = Path.of(m.group(2)).getFileName().toString();
            String variant = platform().cpuVariant(file);
            NativeLog.setCpuVariant(variant != null ? variant : file, line);
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
