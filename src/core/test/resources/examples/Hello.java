import dev.llamajava.ContextParams;
import dev.llamajava.GenerationParams;
import dev.llamajava.GenerationResult;
import dev.llamajava.Llama;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaModel;
import dev.llamajava.SamplerParams;
import dev.llamajava.TokenStream;

import java.nio.file.Path;

/** A user's program: nothing but the library jar, the natives jar and Jackson on the class path. */
public class Hello {
    public static void main(String[] args) {
        Path model = Path.of(args[0]);
        int max = Integer.parseInt(args[1]);
        Llama.load();
        System.out.println("natives: " + Llama.libraryDirectory());
        try (LlamaModel m = LlamaModel.load(model);
             LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(0).build());
             TokenStream tokens = ctx.generate("Once upon a time",
                     GenerationParams.builder().maxTokens(max).sampler(SamplerParams.greedy()).build())) {
            System.out.println("---");
            System.out.print("Once upon a time");
            GenerationResult r = tokens.collect(t -> System.out.print(t.text()));
            System.out.println();
            System.out.println("---");
            System.out.println(r.generatedTokens() + " generated at " + r.generationTokensPerSecond() + " t/s");
        }
    }
}
