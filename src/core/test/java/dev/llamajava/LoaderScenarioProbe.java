package dev.llamajava;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.TreeSet;

/**
 * Child-JVM probe for the loader tests that need a fresh JVM and more than {@link LoaderProbe} prints.
 * <ul>
 * <li>{@code backends}: loads, then prints {@code LOADED dir}, {@code CHOICE ...}, one {@code BACKEND name devices}
 *     line per registered backend, one {@code MAPPED path} line per llama.cpp / ggml library mapped into this
 *     process (from /proc/self/maps), and {@code BOUND function file} lines naming the library the generated
 *     bindings call into;</li>
 * <li>{@code retry <bad dir> <good dir> <model>}: sets {@code llama.library.path} to the bad folder and loads
 *     (twice: the failure is reported as {@code FAILED class} plus the message), then to the good folder, and prints
 *     {@code LOADED dir}, {@code SYSTEMINFO ...}, {@code TOKENS [...]} and the backends;</li>
 * <li>{@code retry-backend <first backend> <second backend> [<second library folder>]}: the same with
 *     {@code llama.backend} (and, when given, another {@code llama.library.path} for the second try).</li>
 * </ul>
 * Exit status 3 after an unexpected {@link LlamaException}.
 */
public final class LoaderScenarioProbe {
    private LoaderScenarioProbe() { }

    public static void main(String[] args) throws IOException {
        try {
            switch (args[0]) {
                case "backends" -> {
                    Llama.load();
                    System.out.println("LOADED " + Llama.libraryDirectory());
                    printBackends();
                }
                case "retry" -> {
                    System.setProperty("llama.library.path", args[1]);
                    failing();
                    failing(); // still failing, nothing half-loaded that makes the second call different
                    System.setProperty("llama.library.path", args[2]);
                    Llama.load();
                    System.out.println("LOADED " + Llama.libraryDirectory());
                    System.out.println("SYSTEMINFO " + Llama.systemInfo());
                    try (LlamaModel m = LlamaModel.load(Path.of(args[3]))) {
                        System.out.println("TOKENS " + Arrays.toString(m.tokenize("Once upon a time")));
                    }
                    printBackends();
                }
                case "retry-backend" -> {
                    System.setProperty("llama.backend", args[1]);
                    failing();
                    System.setProperty("llama.backend", args[2]);
                    if (args.length > 3) System.setProperty("llama.library.path", args[3]);
                    Llama.load();
                    System.out.println("LOADED " + Llama.libraryDirectory());
                    printBackends();
                }
                default -> throw new IllegalArgumentException(args[0]);
            }
        } catch (LlamaException e) {
            System.out.println("EXCEPTION " + e.getClass().getName());
            System.out.println(e.getMessage());
            System.exit(3);
        }
    }

    private static void failing() {
        try {
            Llama.load();
            System.out.println("UNEXPECTEDLY LOADED " + Llama.libraryDirectory());
        } catch (NativeLibraryException e) {
            System.out.println("FAILED " + e.getClass().getName());
            System.out.println(e.getMessage());
        }
    }

    private static void printBackends() throws IOException {
        System.out.println("CHOICE " + Llama.backendChoice());
        for (Backend b : Llama.backends()) System.out.println("BACKEND " + b.name() + " " + b.devices().size());
        TreeSet<String> mapped = new TreeSet<>();
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            int slash = line.indexOf('/');
            if (slash < 0) continue;
            String file = line.substring(slash);
            String name = Path.of(file).getFileName().toString();
            if (name.startsWith("libggml") || name.startsWith("libllama")) mapped.add(file);
        }
        for (String f : mapped) System.out.println("MAPPED " + f);
        // where the generated bindings' calls go: the file mapped at the address they resolved
        System.out.println("BOUND llama_print_system_info " + fileAt(dev.llamajava.ffi.llama_h.llama_print_system_info$address().address()));
        System.out.println("BOUND ggml_backend_reg_count " + fileAt(dev.llamajava.ffi.llama_h.ggml_backend_reg_count$address().address()));
    }

    private static String fileAt(long address) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            String[] f = line.trim().split("\\s+", 6);
            String[] range = f[0].split("-");
            if (Long.compareUnsigned(address, Long.parseUnsignedLong(range[0], 16)) >= 0
                    && Long.compareUnsigned(address, Long.parseUnsignedLong(range[1], 16)) < 0) {
                return f.length == 6 ? f[5] : "?";
            }
        }
        return "?";
    }
}
