package dev.llamajava;

import java.util.List;

/**
 * A registered ggml backend and its devices.
 *
 * @param name    backend name, e.g. {@code CPU}
 * @param devices its devices (a backend may register with none, e.g. CUDA without a GPU)
 */
public record Backend(String name, List<Device> devices) {
    /** Copies the device list. */
    public Backend {
        devices = List.copyOf(devices);
    }
}
