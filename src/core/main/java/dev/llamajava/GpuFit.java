package dev.llamajava;

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.nio.file.Path;
import java.util.Locale;

/**
 * How many layers to offload to a GPU with a given amount of free memory ({@link ModelParams#GPU_LAYERS_AUTO}).
 * Uses {@link QuantSelector}'s estimate (weights, KV cache, compute buffers, overhead) with a safety margin of
 * 5% of the free memory, at least 256 MiB.
 */
public final class GpuFit {

    private static final Logger LOG = System.getLogger("dev.llamajava");

    private GpuFit() { }

    /**
     * The decision.
     *
     * @param layers      layers to offload: -1 for all (output layer included), else 0..n_layers
     * @param freeBytes   the device's free memory
     * @param budgetBytes free memory minus the safety margin
     * @param needBytes   the estimate for the whole model on the GPU
     * @param perLayer    bytes one layer needs (weights and its KV cache)
     */
    public record Decision(int layers, long freeBytes, long budgetBytes, long needBytes, long perLayer) {
        @Override
        public String toString() {
            return String.format(Locale.ROOT, "%s: need %.2f GiB for all layers, %.2f GiB free (%.2f GiB after the margin)",
                    layers < 0 ? "all layers" : layers + " layers", needBytes / 1073741824.0, freeBytes / 1073741824.0, budgetBytes / 1073741824.0);
        }
    }

    /**
     * @param freeBytes free device memory
     * @return the safety margin
     */
    public static long margin(long freeBytes) {
        return Math.max(256L << 20, freeBytes / 20);
    }

    /**
     * @param v         the model's facts
     * @param freeBytes free device memory
     * @param ctx       context size
     * @param kvType    KV cache type
     * @return how many layers to offload
     */
    public static Decision decide(QuantSelector.Variant v, long freeBytes, int ctx, ContextParams.KvCacheType kvType) {
        long budget = Math.max(0, freeBytes - margin(freeBytes));
        QuantSelector.Estimate e = QuantSelector.estimate(v, ctx, 512, kvType, true, budget, false);
        long perLayer = QuantSelector.perLayerBytes(v, e.kvCache());
        int layers = e.fits() ? -1 : e.gpuLayers();
        return new Decision(layers, freeBytes, budget, e.total(), perLayer);
    }

    /** Resolves {@link ModelParams#GPU_LAYERS_AUTO} against the first GPU's free memory and logs the decision. */
    static int autoLayers(Path path, ModelParams params) {
        Device gpu = Llama.devices().stream().filter(d -> d.type() == Device.Type.GPU).findFirst().orElse(null);
        if (gpu == null) {
            LOG.log(Level.INFO, "gpuLayers AUTO: no GPU device (" + Llama.backendChoice() + "); all layers stay on the CPU");
            return 0;
        }
        GpuFit.Decision d = GpuFit.decide(QuantSelector.Variant.of(path), gpu.memoryFree(), params.fitContext(), params.fitKvType());
        LOG.log(Level.INFO, "gpuLayers AUTO on " + gpu.name() + " (" + gpu.description() + "), context "
                + params.fitContext() + ": " + d);
        return d.layers();
    }

}
