package dev.llamajava;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The README's demo: prints system info, loads a model and streams a completion token by token.
 * {@code Demo [--model PATH] [--prompt TEXT] [--max-tokens N] [--temp T] [--seed S]}; the model defaults
 * to {@code ../shared/models/stories260K.gguf}.
 */
public final class Demo {

    private Demo() { }

    /**
     * @param args see the class comment
     */
    public static void main(String[] args) {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, StandardCharsets.UTF_8);
        Path model = Path.of("../shared/models/stories260K.gguf");
        String prompt = "Once upon a time";
        int max = 64;
        float temp = 0f;
        int seed = 42;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--model", "-m" -> model = Path.of(args[++i]);
                case "--prompt", "-p" -> prompt = args[++i];
                case "--max-tokens", "-n" -> max = Integer.parseInt(args[++i]);
                case "--temp" -> temp = Float.parseFloat(args[++i]);
                case "--seed" -> seed = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("usage: Demo [--model PATH] [--prompt TEXT] [--max-tokens N] [--temp T] [--seed S]");
                    System.exit(2);
                }
            }
        }
        try {
            Llama.load();
            out.println("llama-java demo | natives: " + Llama.libraryDirectory() + " | CPU variant: " + Llama.cpuVariant());
            out.println("system: " + Llama.systemInfo());
            for (Backend b : Llama.backends()) {
                for (Device d : b.devices()) {
                    out.printf("device: %s %s (%s), %.1f GiB free of %.1f GiB%n", b.name(), d.name(), d.description(),
                            d.memoryFree() / 1073741824.0, d.memoryTotal() / 1073741824.0);
                }
            }
            if (!Files.exists(model)) {
                System.err.println("error: model not found: " + model.toAbsolutePath() + " (pass --model PATH)");
                System.exit(1);
            }
            try (LlamaModel m = LlamaModel.load(model);
                 LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(0).build())) {
                out.printf("model: %s | %s | %,d parameters | %d-token vocabulary | context %d%n", model.getFileName(),
                        m.description(), m.parameterCount(), m.vocabSize(), ctx.contextSize());
                SamplerParams sp = temp <= 0 ? SamplerParams.greedy() : SamplerParams.builder().temperature(temp).seed(seed).build();
                GenerationParams gp = GenerationParams.builder().maxTokens(max).sampler(sp).build();
                out.println("---");
                out.print(prompt);
                GenerationResult r;
                try (TokenStream tokens = ctx.generate(prompt, gp)) {
                    r = tokens.collect(t -> out.print(t.text()));
                }
                out.println();
                out.println("---");
                out.printf("%d prompt tokens at %.1f t/s, %d generated at %.1f t/s, first token after %.1f ms, stop: %s%n",
                        r.promptTokens(), r.promptTokensPerSecond(), r.generatedTokens(), r.generationTokensPerSecond(),
                        r.timeToFirstTokenNanos() / 1e6, r.stopReason());
            }
        } catch (LlamaException e) {
            System.err.println("error: " + e.getMessage());
            System.exit(1);
        }
    }
}
