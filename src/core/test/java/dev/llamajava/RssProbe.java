package dev.llamajava;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Child-JVM probe for {@link LoadModeTest}: loads a model ({@code args[0]}) with a load mode ({@code args[1]}), creates a
 * context, generates 4 tokens, and prints the process's peak resident memory ({@code VmHWM}) and the generated ids.
 */
public final class RssProbe {
    private RssProbe() { }

    public static void main(String[] args) throws Exception {
        ModelParams p = ModelParams.builder().gpuLayers(0).loadMode(ModelParams.LoadMode.valueOf(args[1])).build();
        try (LlamaModel m = LlamaModel.load(Path.of(args[0]), p);
             LlamaContext c = LlamaContext.create(m, ContextParams.builder().contextSize(256).build());
             TokenStream ts = c.generate("Once upon a time", GenerationParams.builder().greedy().maxTokens(4).build())) {
            StringBuilder ids = new StringBuilder();
            ts.forEachRemaining(t -> ids.append(t.id()).append(' '));
            System.out.println("BUFFERS " + m.weightBuffers());
            System.out.println("IDS " + ids.toString().strip());
        }
        for (String l : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (l.startsWith("VmHWM:")) System.out.println("PEAK " + Long.parseLong(l.replaceAll("\\D", "")) * 1024);
        }
    }
}
