package dev.llamajava;

import dev.llamajava.internal.loader.Natives;
import dev.llamajava.ffi.ggml_backend_dev_props;
import dev.llamajava.ffi.llama_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

/**
 * Process-wide facts about llama.cpp as llama-java loaded it: system info, backends, devices.
 * Every method loads the native libraries on first use.
 */
public final class Llama {

    private Llama() { }

    /**
     * Loads the native libraries now (they load on first use otherwise).
     *
     * @throws NativeLibraryException when they cannot be found or loaded; the message lists what was tried
     */
    public static void load() {
        Natives.ensureLoaded();
    }

    /**
     * @return llama.cpp's system info line (CPU features of the chosen backend variant, etc.)
     * @throws NativeLibraryException when the native libraries cannot be loaded
     */
    public static String systemInfo() {
        Natives.ensureLoaded();
        return string(llama_h.llama_print_system_info());
    }

    /**
     * @return the registered backends, each with its devices and their memory
     * @throws NativeLibraryException when the native libraries cannot be loaded
     */
    public static List<Backend> backends() {
        Natives.ensureLoaded();
        List<Backend> out = new ArrayList<>();
        long n = llama_h.ggml_backend_reg_count();
        List<Device> all = devices();
        for (long i = 0; i < n; i++) {
            String name = string(llama_h.ggml_backend_reg_name(llama_h.ggml_backend_reg_get(i)));
            out.add(new Backend(name, all.stream().filter(d -> d.backend().equals(name)).toList()));
        }
        return List.copyOf(out);
    }

    /**
     * @return every device of every registered backend
     * @throws NativeLibraryException when the native libraries cannot be loaded
     */
    public static List<Device> devices() {
        Natives.ensureLoaded();
        List<Device> out = new ArrayList<>();
        long n = llama_h.ggml_backend_dev_count();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment props = ggml_backend_dev_props.allocate(arena);
            for (long i = 0; i < n; i++) {
                MemorySegment dev = llama_h.ggml_backend_dev_get(i);
                llama_h.ggml_backend_dev_get_props(dev, props);
                String backend = string(llama_h.ggml_backend_reg_name(llama_h.ggml_backend_dev_backend_reg(dev)));
                int t = ggml_backend_dev_props.type(props);
                Device.Type type = switch (t) {
                    case llama_h.GGML_BACKEND_DEVICE_TYPE_CPU -> Device.Type.CPU;
                    case llama_h.GGML_BACKEND_DEVICE_TYPE_GPU -> Device.Type.GPU;
                    case llama_h.GGML_BACKEND_DEVICE_TYPE_IGPU -> Device.Type.IGPU;
                    case llama_h.GGML_BACKEND_DEVICE_TYPE_ACCEL -> Device.Type.ACCEL;
                    case llama_h.GGML_BACKEND_DEVICE_TYPE_META -> Device.Type.META;
                    default -> Device.Type.UNKNOWN;
                };
                out.add(new Device(backend, string(ggml_backend_dev_props.name(props)),
                        string(ggml_backend_dev_props.description(props)), type,
                        ggml_backend_dev_props.memory_free(props), ggml_backend_dev_props.memory_total(props)));
            }
        }
        return List.copyOf(out);
    }

    /**
     * @return the CPU backend variant llama.cpp chose for this CPU (e.g. {@code haswell}), from its log
     * @throws NativeLibraryException when the native libraries cannot be loaded
     */
    public static String cpuVariant() {
        return Natives.cpuVariant();
    }

    /**
     * @return the compute backend in use (CPU or CUDA) and why, as chosen by {@code -Dllama.backend} / {@code LLAMA_BACKEND}
     *         ({@code auto}, the default: CUDA when its library loads and a device is present; {@code cpu}; {@code cuda})
     * @throws NativeLibraryException when the native libraries cannot be loaded, or {@code cuda} was asked for and is unusable
     */
    public static String backendChoice() {
        return Natives.backendChoice();
    }

    /**
     * @return the directory the native libraries were loaded from
     * @throws NativeLibraryException when the native libraries cannot be loaded
     */
    public static Path libraryDirectory() {
        return Natives.directory();
    }

    /**
     * @return the native build's facts (llama.cpp commit, ggml version, CPU variants), empty when unknown
     * @throws NativeLibraryException when the native libraries cannot be loaded
     */
    public static Properties buildInfo() {
        return Natives.buildProperties();
    }

    static String string(MemorySegment cstr) {
        if (cstr == null || cstr.equals(MemorySegment.NULL)) return "";
        return cstr.reinterpret(Integer.MAX_VALUE).getString(0);
    }
}
