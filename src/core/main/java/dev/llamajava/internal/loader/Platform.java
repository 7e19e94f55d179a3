package dev.llamajava.internal.loader;

import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A platform llama-java ships natives for, and how its libraries are named there: the natives jar's classifier
 * ({@code natives-<id>}), the resource folder {@code /dev/llamajava/native/<id>/}, and the file names (ELF
 * {@code libllama.so} on Linux; {@code llama.dll} on Windows, as llama.cpp's own Windows builds and ggml's backend
 * loader name them).
 *
 * @param id     {@code <os>-<arch>}, e.g. {@code linux-aarch64}
 * @param prefix the libraries' file name prefix
 * @param suffix the libraries' file name suffix
 */
record Platform(String id, String prefix, String suffix) {

    /** The platforms with a natives jar. */
    static final List<String> SUPPORTED = List.of("linux-x86_64", "linux-aarch64", "windows-x86_64");

    /** The platform of this JVM. */
    static Platform current() {
        return of(System.getProperty("os.name", ""), System.getProperty("os.arch", ""));
    }

    /**
     * @param osName the {@code os.name} property
     * @param osArch the {@code os.arch} property
     * @return the platform they name (supported or not)
     */
    static Platform of(String osName, String osArch) {
        String os = osName.toLowerCase(Locale.ROOT);
        String arch = osArch.toLowerCase(Locale.ROOT);
        String o = os.startsWith("linux") ? "linux" : os.startsWith("mac") || os.startsWith("darwin") ? "macos"
                : os.startsWith("windows") ? "windows" : os.replace(' ', '_');
        String a = switch (arch) {
            case "amd64", "x86_64", "x86-64", "x64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return o.equals("windows") ? new Platform(o + "-" + a, "", ".dll")
                : new Platform(o + "-" + a, "lib", o.equals("macos") ? ".dylib" : ".so");
    }

    boolean supported() {
        return SUPPORTED.contains(id);
    }

    /** @param name a library's base name, e.g. {@code ggml-base} @return its file name here */
    String file(String name) {
        return prefix + name + suffix;
    }

    /**
     * The libraries bound by the loader, in dependency order: each one's dependencies are loaded before it, which is
     * how Windows (no RPATH) finds them, by name among the modules already loaded.
     */
    List<String> coreLibraries() {
        return List.of(file("ggml-base"), file("ggml"), file("llama"), file("llamajava"));
    }

    /** @return the glob of the CPU backend variants' files */
    String cpuBackendGlob() {
        return prefix + "ggml-cpu*" + suffix;
    }

    /** @return the CUDA backend's file */
    String cudaBackend() {
        return file("ggml-cuda");
    }

    /** @return the variant a CPU backend file holds ({@code haswell}), {@code native} for the plain one, or null */
    String cpuVariant(String fileName) {
        Matcher v = Pattern.compile(Pattern.quote(prefix) + "ggml-cpu-?(.*)" + Pattern.quote(suffix)).matcher(fileName);
        return v.matches() ? (v.group(1).isEmpty() ? "native" : v.group(1)) : null;
    }
}
