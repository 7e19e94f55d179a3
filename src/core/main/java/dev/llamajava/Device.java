package dev.llamajava;

/**
 * A compute device as ggml's backend registry reports it.
 *
 * @param backend     the backend's name, e.g. {@code CPU} or {@code CUDA}
 * @param name        device name, e.g. {@code CPU} or {@code CUDA0}
 * @param description a human-readable description (CPU model, GPU name)
 * @param type        CPU, GPU, IGPU or ACCEL
 * @param memoryFree  free memory in bytes
 * @param memoryTotal total memory in bytes
 */
public record Device(String backend, String name, String description, Type type, long memoryFree, long memoryTotal) {

    /** Device kinds; values match {@code enum ggml_backend_dev_type}. */
    public enum Type {
        /** The CPU. */
        CPU,
        /** A discrete GPU. */
        GPU,
        /** An integrated GPU. */
        IGPU,
        /** An accelerator used with the CPU backend (BLAS, AMX). */
        ACCEL,
        /** A meta device over several others. */
        META,
        /** A type this version does not know. */
        UNKNOWN
    }
}
