package dev.llamajava.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamajava.GenerationParams;
import dev.llamajava.GenerationResult;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaModel;
import dev.llamajava.Token;
import dev.llamajava.TokenStream;
import dev.llamajava.internal.Json;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import static dev.llamajava.cli.Main.err;
import static dev.llamajava.cli.Main.out;

/** {@code llama-java run}: streams one completion. */
@Command(name = "run", description = "Stream a completion.", mixinStandardHelpOptions = true)
final class RunCommand implements Callable<Integer> {
    @Mixin
    ModelOption model = new ModelOption();
    @Option(names = {"-p", "--prompt"}, description = "Prompt (default: read stdin).")
    String prompt;
    @Option(names = {"-n", "--max-tokens"}, defaultValue = "256", description = "Most tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxTokens;
    @Option(names = "--stop", description = "Stop string (repeatable).")
    List<String> stop = new ArrayList<>();
    @Option(names = "--json", description = "One JSON object per token, then a summary.")
    boolean json;
    @Option(names = "--json-schema", description = "Constrain the output to JSON valid under this JSON Schema file.")
    Path jsonSchema;
    @Option(names = "--json-object", description = "Constrain the output to a JSON object.")
    boolean jsonObject;
    @Option(names = "--top-logprobs", defaultValue = "0", description = "With --json: the N most probable tokens at each step (0-20; default: ${DEFAULT-VALUE}).")
    int topLogprobs;
    @Mixin
    SamplingOptions sampling = new SamplingOptions();
    @Mixin
    ContextOptions ctx = new ContextOptions();

    @Override
    public Integer call() throws Exception {
        String p = prompt != null ? prompt : new String(System.in.readAllBytes(), StandardCharsets.UTF_8);
        GenerationParams.Builder gb = GenerationParams.builder().maxTokens(maxTokens).stopStrings(stop)
                .sampler(sampling.params()).logprobs(json).topLogprobs(json ? topLogprobs : 0);
        if (jsonSchema != null) gb.jsonSchema(Files.readString(jsonSchema));
        else if (jsonObject) gb.json();
        GenerationParams gp = gb.build();
        try (LlamaModel m = LlamaModel.load(model.resolve(), ctx.modelParams());
             LlamaContext c = LlamaContext.create(m, ctx.params());
             TokenStream ts = c.generate(p, gp)) {
            GenerationResult r = ts.collect(t -> {
                if (json) {
                    out.println(Json.write(tokenJson(t)));
                } else {
                    out.print(t.text());
                    out.flush();
                }
            });
            if (json) {
                out.println(Json.write(summaryJson(r)));
            } else {
                out.println();
                err.printf(Locale.ROOT, "[%d prompt tokens, %d generated, %.1f t/s, first token %.0f ms, %s]%n", r.promptTokens(),
                        r.generatedTokens(), r.generationTokensPerSecond(), r.timeToFirstTokenNanos() / 1e6, r.stopReason());
            }
        }
        return 0;
    }

    /** {@code {"id":…,"text":…,"logprob":…}}; a logprob that is not finite (none, or -inf) is written as null. */
    static ObjectNode tokenJson(Token t) {
        ObjectNode o = Json.object().put("id", t.id()).put("text", t.text());
        if (Float.isFinite(t.logprob())) o.put("logprob", t.logprob()); else o.putNull("logprob");
        if (!t.topLogprobs().isEmpty()) {
            var top = o.putArray("top_logprobs");
            for (Token.Alternative a : t.topLogprobs()) {
                ObjectNode e = top.addObject().put("id", a.id()).put("text", a.text());
                if (Float.isFinite(a.logprob())) e.put("logprob", a.logprob()); else e.putNull("logprob");
            }
        }
        return o;
    }

    /** {@code {"summary":{…}}}: the counts, timings, stop reason and text of the whole generation. */
    static ObjectNode summaryJson(GenerationResult r) {
        ObjectNode root = Json.object();
        ObjectNode s = root.putObject("summary").put("prompt_tokens", r.promptTokens()).put("generated_tokens", r.generatedTokens());
        Json.putFinite(s, "ttft_ms", r.timeToFirstTokenNanos() / 1e6);
        Json.putFinite(s, "prompt_tps", r.promptTokensPerSecond());
        Json.putFinite(s, "generation_tps", r.generationTokensPerSecond());
        s.put("stop_reason", r.stopReason().name()).put("text", r.text());
        return root;
    }
}
