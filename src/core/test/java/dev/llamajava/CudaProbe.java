package dev.llamajava;

import java.nio.file.Path;

/** Child-JVM probe for the CUDA backend tests: prints the backend choice, the backends, and a greedy completion. */
public final class CudaProbe {
    private CudaProbe() { }

    public static void main(String[] args) {
        try {
            System.out.println("CHOICE " + Llama.backendChoice());
            for (Backend b : Llama.backends()) System.out.println("BACKEND " + b.name() + " " + b.devices().size());
            if (args.length > 0) {
                try (LlamaModel m = LlamaModel.load(Path.of(args[0]), ModelParams.builder().gpuLayers(ModelParams.GPU_LAYERS_AUTO).build());
                     LlamaContext c = LlamaContext.create(m, ContextParams.builder().contextSize(64).build());
                     TokenStream ts = c.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(24).build())) {
                    System.out.println("TEXT " + ts.text());
                }
            }
        } catch (LlamaException e) {
            System.out.println("EXCEPTION " + e.getClass().getName());
            System.out.println(e.getMessage());
            System.exit(3);
        }
    }
}
