package dev.llamajava.cli;

import dev.llamajava.LlamaException;
import dev.llamajava.gguf.GgufFile;
import dev.llamajava.gguf.GgufFormatException;
import dev.llamajava.gguf.GgufValue;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;

import static dev.llamajava.cli.Main.out;

/** {@code llama-java info}: a GGUF file's metadata. */
@Command(name = "info", description = "Show a GGUF file's metadata (no weights are loaded).", mixinStandardHelpOptions = true)
final class InfoCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "GGUF file.")
    Path model;
    @Option(names = "--all", description = "Print every metadata key.")
    boolean all;

    @Override
    public Integer call() throws Exception {
        GgufFile g;
        try {
            g = GgufFile.read(model);
        } catch (GgufFormatException e) {
            throw new LlamaException(model + " is not a valid GGUF file: " + e.getMessage());
        }
        String a = g.architecture();
        row("file", model.toString());
        row("architecture", a);
        row("name", str(g, "general.name"));
        row("parameters", String.format(Locale.ROOT, "%,d (%.2f B)", g.parameterCount(), g.parameterCount() / 1e9));
        row("quantization", g.fileTypeName() + String.format(Locale.ROOT, " (%.2f bits/weight)", g.bitsPerWeight()));
        row("size", String.format(Locale.ROOT, "%,d bytes (%.2f GB)", g.fileSize(), g.fileSize() / 1e9));
        row("context", str(g, a + ".context_length"));
        row("layers", str(g, a + ".block_count"));
        row("embedding", str(g, a + ".embedding_length"));
        row("heads / KV heads", str(g, a + ".attention.head_count") + " / " + str(g, a + ".attention.head_count_kv"));
        row("vocabulary", g.get("tokenizer.ggml.tokens").map(v -> v.asList().size() + " tokens (" + str(g, "tokenizer.ggml.model") + ")").orElse("-"));
        row("chat template", g.get("tokenizer.chat_template").map(v -> v.asString().length() + " characters").orElse("none"));
        row("tensors", Integer.toString(g.tensors().size()));
        if (all) for (Map.Entry<String, GgufValue> e : g.metadata().entrySet()) row(e.getKey(), e.getValue().toString());
        return 0;
    }

    static String str(GgufFile g, String key) {
        return g.get(key).map(GgufValue::toString).orElse("-");
    }

    static void row(String k, String v) {
        out.printf("%-18s %s%n", k, v);
    }
}
