package dev.llamajava;

import java.util.Objects;

/**
 * How a model is loaded. Immutable; defaults equal llama.cpp's {@code llama_model_default_params()}.
 *
 * @param gpuLayers        layers to offload to the GPU; -1 means all (llama.cpp's default)
 * @param loadMode         how the weights are read: mmap, mlock, direct I/O, or llama.cpp's automatic choice
 * @param mainGpu          the GPU used when {@code splitMode} is {@link SplitMode#NONE}
 * @param splitMode        how to split the model across GPUs
 * @param vocabOnly        load only the vocabulary, no weights
 * @param checkTensors     validate the tensor data while loading
 * @param progressListener called with the load progress in [0, 1]; returning false cancels the load (may be null)
 */
public record ModelParams(int gpuLayers, LoadMode loadMode, int mainGpu, SplitMode splitMode,
                          boolean vocabOnly, boolean checkTensors, LoadProgressListener progressListener) {

    /** How a model is split across several GPUs. Values match {@code enum llama_split_mode}. */
    public enum SplitMode {
        /** Use one GPU, {@code mainGpu}. */
        NONE,
        /** Split layers and KV across GPUs. */
        LAYER,
        /** Split layers and KV across GPUs, use tensor parallelism where supported. */
        ROW
    }

    /** How the weights are read. Values match {@code enum llama_load_mode}. */
    public enum LoadMode {
        /** llama.cpp decides from the device (its default). */
        AUTO(-1),
        /** Read the file into memory. */
        NONE(0),
        /** Memory-map the file. */
        MMAP(1),
        /** Read and lock in RAM. */
        MLOCK(2),
        /** Memory-map and lock in RAM. */
        MMAP_MLOCK(3),
        /** Direct I/O where available. */
        DIRECT_IO(4);

        private final int value;

        LoadMode(int value) { this.value = value; }

        /** @return the {@code llama_load_mode} value */
        public int value() { return value; }
    }

    /** Load progress; return false to cancel loading. Must not throw (a throw cancels the load). */
    @FunctionalInterface
    public interface LoadProgressListener {
        /**
         * @param progress between 0 and 1
         * @return true to continue, false to cancel
         */
        boolean onProgress(float progress);
    }

    /** Validates the values; see {@link Builder}. */
    public ModelParams {
        if (gpuLayers < -1) throw new IllegalArgumentException("gpuLayers must be -1 (all) or >= 0, was " + gpuLayers);
        if (mainGpu < 0) throw new IllegalArgumentException("mainGpu must be >= 0, was " + mainGpu);
        Objects.requireNonNull(splitMode, "splitMode");
        Objects.requireNonNull(loadMode, "loadMode");
    }

    /** @return the defaults (llama.cpp's) */
    public static ModelParams defaults() {
        return builder().build();
    }

    /** @return a builder with the defaults */
    public static Builder builder() {
        return new Builder();
    }

    /** @return a builder holding this record's values */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.gpuLayers = gpuLayers;
        b.loadMode = loadMode;
        b.mainGpu = mainGpu;
        b.splitMode = splitMode;
        b.vocabOnly = vocabOnly;
        b.checkTensors = checkTensors;
        b.progressListener = progressListener;
        return b;
    }

    /** Builder for {@link ModelParams}; every value starts at llama.cpp's default. */
    public static final class Builder {
        private int gpuLayers = -1;
        private LoadMode loadMode = LoadMode.AUTO;
        private int mainGpu = 0;
        private SplitMode splitMode = SplitMode.LAYER;
        private boolean vocabOnly = false;
        private boolean checkTensors = false;
        private LoadProgressListener progressListener;

        private Builder() { }

        /** @param v layers to offload, -1 for all @return this */
        public Builder gpuLayers(int v) { this.gpuLayers = v; return this; }
        /** @param v how the weights are read @return this */
        public Builder loadMode(LoadMode v) { this.loadMode = v; return this; }
        /** @param v true: memory-map the file; false: read it @return this */
        public Builder useMmap(boolean v) {
            boolean lock = loadMode == LoadMode.MLOCK || loadMode == LoadMode.MMAP_MLOCK;
            this.loadMode = v ? (lock ? LoadMode.MMAP_MLOCK : LoadMode.MMAP) : (lock ? LoadMode.MLOCK : LoadMode.NONE);
            return this;
        }
        /** @param v lock the weights in RAM @return this */
        public Builder useMlock(boolean v) {
            boolean map = loadMode != LoadMode.NONE && loadMode != LoadMode.MLOCK;
            this.loadMode = v ? (map ? LoadMode.MMAP_MLOCK : LoadMode.MLOCK) : (map ? LoadMode.MMAP : LoadMode.NONE);
            return this;
        }
        /** @param v main GPU index @return this */
        public Builder mainGpu(int v) { this.mainGpu = v; return this; }
        /** @param v split mode @return this */
        public Builder splitMode(SplitMode v) { this.splitMode = v; return this; }
        /** @param v load only the vocabulary @return this */
        public Builder vocabOnly(boolean v) { this.vocabOnly = v; return this; }
        /** @param v validate tensor data @return this */
        public Builder checkTensors(boolean v) { this.checkTensors = v; return this; }
        /** @param v load progress listener, may be null @return this */
        public Builder progressListener(LoadProgressListener v) { this.progressListener = v; return this; }

        /**
         * @return the parameters
         * @throws IllegalArgumentException when a value is out of range (the message names the field)
         */
        public ModelParams build() {
            return new ModelParams(gpuLayers, loadMode, mainGpu, splitMode, vocabOnly, checkTensors, progressListener);
        }
    }
}
