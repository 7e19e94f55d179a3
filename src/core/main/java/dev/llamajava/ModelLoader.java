package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.ffi.llama_model_params;
import dev.llamajava.ffi.llama_progress_callback;
import dev.llamajava.internal.CpuRepack;
import dev.llamajava.internal.GgufPrecheck;
import dev.llamajava.internal.HugePages;
import dev.llamajava.internal.NativeMemory;
import dev.llamajava.internal.RpcBackend;
import dev.llamajava.internal.loader.Natives;

import java.io.IOException;
import java.io.InputStream;
import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicReference;

/** Loads a model: checks the file in Java first, then calls llama.cpp with the parameters and a progress upcall. */
final class ModelLoader {

    private static final Logger LOG = System.getLogger("dev.llamajava");

    private ModelLoader() { }

    static LlamaModel load(Path path, ModelParams params) {
        Objects.requireNonNull(path, "path");
        Objects.requireNonNull(params, "params");
        Path abs = path.toAbsolutePath();
        GgufPrecheck.Inspection inspection = checkGguf(abs);
        Natives.ensureLoaded();
        if (params.rpcServers().isEmpty()) return load(abs, params, inspection);
        // RPC: the probes, llama.cpp's connections and the load run under one lock (see RpcBackend)
        RpcBackend.lock().lock();
        try {
            return load(abs, params, inspection);
        } finally {
            RpcBackend.lock().unlock();
        }
    }

    private static LlamaModel load(Path abs, ModelParams params, GgufPrecheck.Inspection inspection) {
        AtomicBoolean cancelled = new AtomicBoolean();
        AtomicReference<Throwable> listenerError = new AtomicReference<>();
        MemorySegment ptr;
        int gpuLayers;
        List<String> errors;
        Map<String, Long> buffers;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment p = llama_h.llama_model_default_params(arena);
            gpuLayers = params.gpuLayers() == ModelParams.GPU_LAYERS_AUTO ? GpuFit.autoLayers(abs, params) : params.gpuLayers();
            llama_model_params.n_gpu_layers(p, gpuLayers);
            llama_model_params.main_gpu(p, params.mainGpu());
            llama_model_params.split_mode(p, params.splitMode().ordinal());
            llama_model_params.vocab_only(p, params.vocabOnly());
            llama_model_params.check_tensors(p, params.checkTensors());
            llama_model_params.use_extra_bufts(p, params.cpuRepack());
            boolean hugePages = hugePagesWanted(params);
            ModelParams.LoadMode mode = loadMode(abs, params, gpuLayers, inspection, hugePages);
            llama_model_params.load_mode(p, mode.value());
            if (!params.rpcServers().isEmpty()) llama_model_params.devices(p, rpcDevices(abs, params.rpcServers(), arena));
            ModelParams.LoadProgressListener listener = params.progressListener();
            // huge pages: the mappings before the load; at the first progress call llama.cpp's buffers exist, unfilled
            // (only a read, NONE or MLOCK, puts the weights in anonymous memory that huge pages can back)
            boolean read = mode == ModelParams.LoadMode.NONE || mode == ModelParams.LoadMode.MLOCK;
            List<HugePages.Range> before = read && hugePages ? HugePages.mappings() : null;
            AtomicBoolean advised = new AtomicBoolean();
            if (listener != null || before != null) {
                llama_model_params.progress_callback(p, llama_progress_callback.allocate((progress, user) -> {
                    try {
                        if (before != null && !advised.getAndSet(true)) HugePages.adviseNew(before);
                        if (listener == null) return true;
                        boolean go = listener.onProgress(progress);
                        if (!go) cancelled.set(true);
                        return go;
                    } catch (Throwable t) {
                        listenerError.set(t);
                        cancelled.set(true);
                        return false;
                    }
                }, arena));
            }
            Natives.beginCapture();
            try {
                ptr = llama_h.llama_model_load_from_file(arena.allocateFrom(abs.toString()), p);
            } finally {
                List<Natives.Line> lines = Natives.endCaptureAll();
                errors = lines.stream().filter(Natives.Line::isProblem).map(Natives.Line::text).toList();
                buffers = MemoryReport.buffers(lines, "model buffer size");
            }
        }
        if (ptr.equals(MemorySegment.NULL)) {
            if (listenerError.get() != null) {
                throw new ModelLoadException(abs, "Loading " + abs + " was cancelled: the progress listener threw "
                        + listenerError.get(), listenerError.get());
            }
            if (cancelled.get()) throw new ModelLoadException(abs, "Loading " + abs + " was cancelled by the progress listener");
            String why = errors.isEmpty() ? "no reason given" : String.join("; ", errors);
            throw new ModelLoadException(abs, "llama.cpp could not load " + abs + ": " + why);
        }
        NativeMemory.trim(); // the load's read buffers and temporaries, freed into glibc's heaps, go back to the system
        LOG.log(Level.DEBUG, () -> "loaded " + abs);
        boolean offloaded = hasGpu() || !params.rpcServers().isEmpty();
        boolean outputRemote = gpuLayers != 0 && offloaded && (gpuLayers < 0 || gpuLayers > llama_h.llama_model_n_layer(ptr));
        RpcBackend.hold(params.rpcServers());
        return new LlamaModel(abs, ptr, params, buffers, outputRemote, inspection.rankHead());
    }

    /**
     * The devices of a load with RPC servers, as llama.cpp's default selection orders them: the RPC devices first
     * (fewer transfers), then the local GPUs (integrated ones only when there is no discrete GPU); NULL-terminated.
     * Passed explicitly, so the RPC devices are never registered globally and later loads without them stay local.
     */
    private static MemorySegment rpcDevices(Path abs, List<String> endpoints, Arena arena) {
        List<MemorySegment> devs;
        try {
            devs = new ArrayList<>(RpcBackend.connect(endpoints));
        } catch (RpcBackend.RpcException e) {
            throw new ModelLoadException(abs, "Cannot load " + abs + " across RPC servers " + endpoints + ": " + e.getMessage(), e);
        }
        List<MemorySegment> gpus = new ArrayList<>(), igpus = new ArrayList<>();
        for (long i = 0, n = llama_h.ggml_backend_dev_count(); i < n; i++) {
            MemorySegment d = llama_h.ggml_backend_dev_get(i);
            int type = llama_h.ggml_backend_dev_type(d);
            if (type == llama_h.GGML_BACKEND_DEVICE_TYPE_GPU) gpus.add(d);
            else if (type == llama_h.GGML_BACKEND_DEVICE_TYPE_IGPU) igpus.add(d);
        }
        devs.addAll(gpus.isEmpty() ? igpus : gpus);
        MemorySegment list = arena.allocate(ValueLayout.ADDRESS, devs.size() + 1);
        for (int i = 0; i < devs.size(); i++) list.setAtIndex(ValueLayout.ADDRESS, i, devs.get(i));
        list.setAtIndex(ValueLayout.ADDRESS, devs.size(), MemorySegment.NULL);
        return list;
    }

    /** Below this many bytes of weights a file stays mapped under {@link ModelParams#hugePages()}: nothing to gain. */
    static final long HUGE_PAGES_MIN_WEIGHTS = 64L << 20;

    /**
     * The load mode: the caller's, except that {@link ModelParams.LoadMode#AUTO} on a CPU-only load reads the file
     * instead of mapping it when llama.cpp repacks its weights (see {@link CpuRepack}: the same speed, the repacked
     * tensors not held twice) or when they go into huge pages ({@link HugePages}: faster decodes), which
     * {@code hugePages} says ({@link #hugePagesWanted}, asked once per load).
     */
    static ModelParams.LoadMode loadMode(Path file, ModelParams params, int gpuLayers, GgufPrecheck.Inspection inspection, boolean hugePages) {
        if (params.loadMode() != ModelParams.LoadMode.AUTO || params.vocabOnly()) return params.loadMode();
        boolean repacked = params.cpuRepack() && CpuRepack.preferRead(inspection.repackedBytes(), inspection.weightBytes());
        boolean huge = params.rpcServers().isEmpty() && inspection.weightBytes() >= HUGE_PAGES_MIN_WEIGHTS && hugePages;
        if (!repacked && !huge) return params.loadMode();
        boolean cpuOnly = gpuLayers == 0 || !hasGpu();
        if (!cpuOnly) return params.loadMode();
        LOG.log(Level.DEBUG, () -> "reading " + file + " instead of mapping it: " + (repacked ? "llama.cpp repacks " + (inspection.repackedBytes() >> 20)
                + " of its " + (inspection.weightBytes() >> 20) + " MiB of weights for this CPU" : "its weights go into huge pages"));
        return ModelParams.LoadMode.NONE;
    }

    /** @return whether the caller wants huge pages for the weights and the kernel offers them */
    private static boolean hugePagesWanted(ModelParams params) {
        return params.hugePages() && !params.vocabOnly() && HugePages.available();
    }

    private static boolean hasGpu() {
        return Llama.devices().stream().anyMatch(d -> d.type() == Device.Type.GPU);
    }

    private static GgufPrecheck.Inspection checkGguf(Path p) {
        if (!Files.exists(p)) throw new ModelLoadException(p, "Model file not found: " + p);
        if (!Files.isRegularFile(p)) throw new ModelLoadException(p, "Model path is not a regular file: " + p);
        if (!Files.isReadable(p)) throw new ModelLoadException(p, "Model file is not readable: " + p);
        byte[] head = new byte[8];
        int n;
        try (InputStream in = Files.newInputStream(p)) {
            n = in.readNBytes(head, 0, 8);
        } catch (IOException e) {
            throw new ModelLoadException(p, "Cannot read model file " + p + ": " + e.getMessage(), e);
        }
        if (n < 8) throw new ModelLoadException(p, "Not a GGUF file (only " + n + " bytes): " + p);
        if (head[0] != 'G' || head[1] != 'G' || head[2] != 'U' || head[3] != 'F') {
            throw new ModelLoadException(p, "Not a GGUF file (bad magic 0x"
                    + HexFormat.of().formatHex(head, 0, 4) + ", expected \"GGUF\"): " + p);
        }
        GgufPrecheck.Inspection inspection = GgufPrecheck.inspect(p);
        if (inspection.refusal() != null) {
            throw new ModelLoadException(p, "Refused " + p + " before llama.cpp saw it: " + inspection.refusal());
        }
        return inspection;
    }
}
