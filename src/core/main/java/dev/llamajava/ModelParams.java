package dev.llamajava;

import dev.llamajava.internal.RpcBackend;

import java.util.List;
import java.util.Objects;

/**
 * How a model is loaded. Immutable; defaults equal llama.cpp's {@code llama_model_default_params()}.
 *
 * @param gpuLayers        layers to offload to the GPU; -1 means all (llama.cpp's default), {@link #GPU_LAYERS_AUTO} as many
 *                         as fit the GPU's free memory with {@code fitContext} and {@code fitKvType} (see {@link GpuFit})
 * @param loadMode         how the weights are read: mmap, mlock, direct I/O, or automatic ({@link LoadMode#AUTO}, the
 *                         default: llama.cpp's choice, except that a CPU-only load of a file whose weights llama.cpp
 *                         repacks for the CPU reads the file instead of mapping it, so those weights are not held twice,
 *                         and so does every CPU-only load with {@code hugePages})
 * @param mainGpu          the GPU used when {@code splitMode} is {@link SplitMode#NONE}
 * @param splitMode        how to split the model across GPUs
 * @param vocabOnly        load only the vocabulary, no weights
 * @param checkTensors     validate the tensor data while loading
 * @param progressListener called with the load progress in [0, 1]; returning false cancels the load (may be null)
 * @param fitContext       for {@link #GPU_LAYERS_AUTO}: the context size the fit reserves KV cache for
 * @param fitKvType        for {@link #GPU_LAYERS_AUTO}: the KV cache type the fit assumes
 * @param cpuRepack        let the CPU backend keep weights in its interleaved {@code CPU_REPACK} layout (llama.cpp's
 *                         {@code use_extra_bufts}, on by default; off keeps them as stored)
 * @param hugePages        back the weights read into memory with transparent huge pages (Linux, where
 *                         {@code /sys/kernel/mm/transparent_hugepage/enabled} is {@code always} or {@code madvise}; on by
 *                         default). A CPU decode streams every weight once per token, and with 4 KiB pages it walks the
 *                         page tables every 4 KiB: on a 2-core zen4, llama.cpp generated about 20% more tokens/s from
 *                         synthetic Llama-3.2-1B Q8_0 weights in huge pages (12-40% over 6 rounds), Q4_K_M about 3%
 *                         more (see the README's Memory section). With it, {@link LoadMode#AUTO}
 *                         reads the file on every CPU-only load (a mapped file's page cache gets no huge pages).
 * @param rpcServers       {@code host:port} of ggml {@code rpc-server} processes whose devices take layers like local GPUs
 *                         (llama.cpp's {@code --rpc}); empty for none. Their devices come first, then the local GPUs; the
 *                         layers are split in proportion to each device's free memory. A server that is down, silent or
 *                         of another protocol version fails the load with a {@link ModelLoadException} after at most
 *                         {@code llama.rpc.timeout} seconds (10). A server that dies while the model is in use aborts the
 *                         process inside llama.cpp's RPC client: run such a model in a process of its own where that
 *                         matters. The RPC protocol has no authentication or encryption: use it on a trusted network.
 */
public record ModelParams(int gpuLayers, LoadMode loadMode, int mainGpu, SplitMode splitMode,
                          boolean vocabOnly, boolean checkTensors, LoadProgressListener progressListener,
                          int fitContext, ContextParams.KvCacheType fitKvType, boolean cpuRepack,
                          boolean hugePages, List<String> rpcServers) {

    /** Offload all layers. */
    public static final int GPU_LAYERS_ALL = -1;
    /** Offload as many layers as fit the GPU's free memory. */
    public static final int GPU_LAYERS_AUTO = -2;

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
        /**
         * llama.cpp decides from the device (its default: mapped where the devices allow), except that a CPU-only load
         * of a file whose weights the CPU backend repacks (Q4_0, Q4_K, IQ4_NL, MXFP4 on AVX2) is read into memory:
         * mapped, the repacked tensors' pages would be resident beside their interleaved copy (about 440 MB more peak
         * memory for a 1B Q4_K_M model, at the same speed); and that with {@code hugePages} (the default) on a kernel
         * that offers them, every CPU-only load is read, into huge pages.
         */
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
        if (gpuLayers < -2) throw new IllegalArgumentException("gpuLayers must be -1 (all), -2 (auto) or >= 0, was " + gpuLayers);
        if (fitContext < 1) throw new IllegalArgumentException("fitContext must be >= 1, was " + fitContext);
        Objects.requireNonNull(fitKvType, "fitKvType");
        if (mainGpu < 0) throw new IllegalArgumentException("mainGpu must be >= 0, was " + mainGpu);
        Objects.requireNonNull(splitMode, "splitMode");
        Objects.requireNonNull(loadMode, "loadMode");
        rpcServers = List.copyOf(Objects.requireNonNull(rpcServers, "rpcServers"));
        rpcServers.forEach(RpcBackend::checkEndpoint);
        if (rpcServers.stream().distinct().count() != rpcServers.size()) {
            throw new IllegalArgumentException("rpcServers names an endpoint twice: " + rpcServers);
        }
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
        b.fitContext = fitContext;
        b.fitKvType = fitKvType;
        b.cpuRepack = cpuRepack;
        b.hugePages = hugePages;
        b.rpcServers = rpcServers;
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
        private int fitContext = 4096;
        private ContextParams.KvCacheType fitKvType = ContextParams.KvCacheType.F16;
        private boolean cpuRepack = true;
        private boolean hugePages = true;
        private List<String> rpcServers = List.of();

        private Builder() { }

        /** @param v layers to offload, -1 for all, -2 ({@link #GPU_LAYERS_AUTO}) to fit the GPU @return this */
        public Builder gpuLayers(int v) { this.gpuLayers = v; return this; }
        /** @param ctx context the auto fit reserves @param kv KV type it assumes @return this */
        public Builder fitFor(int ctx, ContextParams.KvCacheType kv) { this.fitContext = ctx; this.fitKvType = kv; return this; }
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
        /** @param v let the CPU backend repack weights into its interleaved layout (default true) @return this */
        public Builder cpuRepack(boolean v) { this.cpuRepack = v; return this; }
        /** @param v back the weights read into memory with transparent huge pages where the kernel offers them (default true) @return this */
        public Builder hugePages(boolean v) { this.hugePages = v; return this; }
        /**
         * @param endpoints {@code host:port} of ggml {@code rpc-server} processes to split the layers across (none: local only)
         * @return this
         */
        public Builder rpcServers(String... endpoints) { this.rpcServers = List.of(endpoints); return this; }
        /** @param endpoints {@code host:port} of ggml {@code rpc-server} processes @return this */
        public Builder rpcServers(List<String> endpoints) { this.rpcServers = endpoints; return this; }
        /** @param v load progress listener, may be null @return this */
        public Builder progressListener(LoadProgressListener v) { this.progressListener = v; return this; }

        /**
         * @return the parameters
         * @throws IllegalArgumentException when a value is out of range (the message names the field), or an RPC endpoint is
         *                                  not {@code host:port} or is named twice
         */
        public ModelParams build() {
            return new ModelParams(gpuLayers, loadMode, mainGpu, splitMode, vocabOnly, checkTensors, progressListener, fitContext, fitKvType,
                    cpuRepack, hugePages, rpcServers);
        }
    }
}
