package dev.llamajava.cli;

import dev.llamajava.Engine;
import dev.llamajava.EngineParams;
import dev.llamajava.LlamaModel;
import dev.llamajava.server.OpenAiServer;
import dev.llamajava.server.ServerParams;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.time.Duration;
import java.util.concurrent.Callable;

import static dev.llamajava.cli.Main.err;

/** {@code llama-java serve}: the OpenAI-compatible HTTP server until interrupted (Ctrl-C shuts it down gracefully). */
@Command(name = "serve", description = "Serve the OpenAI API (chat, completions, embeddings, models, health, metrics).", mixinStandardHelpOptions = true)
final class ServeCommand implements Callable<Integer> {
    @Mixin
    ModelOption model = new ModelOption();
    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind (default: ${DEFAULT-VALUE}, loopback only).")
    String host;
    @Option(names = "--port", defaultValue = "8080", description = "Port, 0 for a free one (default: ${DEFAULT-VALUE}).")
    int port;
    @Option(names = {"-np", "--parallel"}, defaultValue = "4", description = "Requests decoded together (slots; default: ${DEFAULT-VALUE}).")
    int parallel;
    @Option(names = "--queue", defaultValue = "64", description = "Requests that wait for a slot before 429 (default: ${DEFAULT-VALUE}).")
    int queue;
    @Option(names = "--api-key", description = "Require Authorization: Bearer KEY (default: the LLAMA_API_KEY environment variable, else none).")
    String apiKey;
    @Option(names = "--name", description = "The model id served (default: the file name).")
    String name;
    @Option(names = "--max-tokens", defaultValue = "512", description = "max_tokens when a request gives none (default: ${DEFAULT-VALUE}).")
    int maxTokens;
    @Option(names = "--no-embeddings", description = "Do not serve /v1/embeddings (saves its context).")
    boolean noEmbeddings;
    @Option(names = "--grace", defaultValue = "30", description = "Seconds running requests get to finish on shutdown (default: ${DEFAULT-VALUE}).")
    int grace;
    @Mixin
    ContextOptions ctx = new ContextOptions();

    @Override
    public Integer call() throws Exception {
        var file = model.resolve();
        String key = apiKey != null ? apiKey : System.getenv("LLAMA_API_KEY");
        try (LlamaModel m = LlamaModel.load(file, ctx.modelParams());
             Engine engine = Engine.create(m, EngineParams.builder().slots(parallel).slotContext(ctx.params().contextSize())
                     .context(ctx.params()).queueCapacity(queue).build())) {
            OpenAiServer server = OpenAiServer.start(engine, ServerParams.builder().host(host).port(port)
                    .modelName(name != null ? name : file.getFileName().toString()).apiKey(key == null || key.isBlank() ? null : key)
                    .maxTokens(maxTokens).embeddings(!noEmbeddings).build());
            Thread hook = new Thread(() -> server.shutdown(Duration.ofSeconds(grace)), "llama-java-serve-shutdown");
            Runtime.getRuntime().addShutdownHook(hook);
            err.printf("llama-java serve: %s on http://%s:%d/v1 (%d slots of %d tokens)%n", file.getFileName(), host, server.port(),
                    parallel, ctx.params().contextSize());
            err.flush();
            server.awaitShutdown();
            return 0;
        }
    }
}
