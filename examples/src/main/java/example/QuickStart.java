package example;

import dev.llamajava.ContextParams;
import dev.llamajava.GenerationParams;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaModel;
import dev.llamajava.TokenStream;

import java.nio.file.Path;

/** The README's first example: {@code java --enable-native-access=ALL-UNNAMED -cp ... example.QuickStart MODEL.gguf}. */
public class QuickStart {
    public static void main(String[] args) {
        // README:quickstart
        try (LlamaModel model = LlamaModel.load(Path.of(args[0]));   // e.g. Llama-3.2-1B-Instruct-Q4_K_M.gguf
             LlamaContext ctx = LlamaContext.create(model, ContextParams.builder().contextSize(4096).build());
             TokenStream tokens = ctx.generate("Once upon a time", GenerationParams.builder().maxTokens(128).build())) {
            tokens.forEachRemaining(t -> System.out.print(t.text()));
            System.out.println(tokens.result());     // tokens in/out, TTFT, prompt and generation tokens/s, stop reason
        }
        // README:end
    }
}
