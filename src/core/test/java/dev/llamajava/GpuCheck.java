package dev.llamajava;

import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.Test;

import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * What only a CUDA GPU can show, run by {@code ci/gpu-check run} on a lent GPU machine with {@code -Dllama.backend=cuda}
 * and llama.cpp's tools of the same CUDA build. Surefire never runs it (its name matches none of surefire's patterns):
 * the CI machine has no GPU, and there the CUDA backend's refusals are tested by {@code CudaBackendTest} instead.
 */
class GpuCheck {

    static Device gpu() {
        return Llama.devices().stream().filter(d -> d.type() == Device.Type.GPU).findFirst()
                .orElseThrow(() -> new AssertionError("no GPU device: " + Llama.devices()));
    }

    /** CUDA is the backend, the weights sit in GPU buffers, and the output layer is there (so sampling goes in the graph). */
    @Test
    void theModelLivesOnTheGpu() {
        assertTrue(Llama.backendChoice().startsWith("CUDA"), Llama.backendChoice());
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K())) {
            Map<String, Long> buffers = m.weightBuffers();
            assertTrue(buffers.keySet().stream().anyMatch(k -> k.startsWith("CUDA")), buffers.toString());
            assertTrue(m.outputRemote, "the output layer is on the GPU");
        }
    }

    /**
     * The synthetic 1B (0.8 GB of Q4_K_M) takes GPU memory when loaded with a context and gives all of it back when
     * closed, twenty times over: no device memory leaks from load, context, decode or close.
     */
    @Test
    void gpuMemoryComesBackOnClose() {
        var path = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q4_K_M", null);
        long before = gpu().memoryFree();
        long lowest = Long.MAX_VALUE;
        for (int i = 0; i < 20; i++) {
            try (LlamaModel m = LlamaModel.load(path);
                 LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(1024).build());
                 TokenStream ts = ctx.generate("Hello", GenerationParams.builder().greedy().maxTokens(4).build())) {
                assertEquals(4, ts.stream().count());
                lowest = Math.min(lowest, gpu().memoryFree());
            }
        }
        long after = gpu().memoryFree();
        assertTrue(before - lowest > 700L << 20, "loaded, the model took " + ((before - lowest) >> 20) + " MiB of GPU memory");
        assertTrue(before - after < 64L << 20, "after 20 loads and closes " + ((before - after) >> 20) + " MiB stayed taken");
    }

    /**
     * On a GPU, sampling runs in llama.cpp's graph by default ({@code llama.sampling.backend=auto}): a seeded stream
     * draws what llama-completion of the same CUDA build draws with {@code --backend-sampling}, and its logits never
     * left the GPU.
     */
    @Test
    void samplingRunsInTheGraphByDefaultAndEqualsLlamaCompletion() throws Exception {
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K())) {
            for (int seed : new int[]{42, 7}) BackendSamplingTest.drawsInTheGraphLikeLlamaCompletion(m, seed);
        }
    }
}
