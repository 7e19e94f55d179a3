package dev.llamajava.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamajava.Classifier;
import dev.llamajava.LlamaModel;
import dev.llamajava.internal.Json;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;

import static dev.llamajava.cli.Main.out;

/**
 * {@code llama-java classify}: one JSON line per input (the texts given, else stdin's lines) with the label, every
 * label's probability and the time split. The prefix (or instruction) is decoded once.
 */
@Command(name = "classify", description = "Classify texts into labels, scored from the logits in one decode each.", mixinStandardHelpOptions = true)
final class ClassifyCommand implements Callable<Integer> {
    @Mixin
    ModelOption model = new ModelOption();
    @Option(names = "--labels", required = true, split = ",", description = "The labels, comma-separated (at least two).")
    List<String> labels;
    @Option(names = "--instruction", description = "System prompt, rendered with the model's chat template around each text.")
    String instruction;
    @Option(names = "--prefix", description = "Raw text decoded once before each text (when there is no --instruction).")
    String prefix = "";
    @Option(names = "--suffix", description = "Text after each text, before the label (e.g. '\\nLabel:').")
    String suffix = "";
    @Option(names = "--label-prefix", description = "Text put before every label (e.g. ' ' for models that continue with a space).")
    String labelPrefix = "";
    @Option(names = {"-t", "--text"}, description = "A text to classify (repeatable; default: each line of stdin).")
    List<String> texts = new ArrayList<>();
    @Mixin
    ContextOptions ctx = new ContextOptions();

    @Override
    public Integer call() throws Exception {
        List<String> full = labels.stream().map(l -> labelPrefix + l).toList();
        try (LlamaModel m = LlamaModel.load(model.resolve(), ctx.modelParams())) {
            Classifier.Builder b = Classifier.builder(m).labels(full).contextParams(ctx.params()).suffix(suffix);
            if (instruction != null) b.instruction(instruction); else b.prefix(prefix);
            try (Classifier c = b.build()) {
                if (texts.isEmpty()) {
                    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
                    for (String line; (line = in.readLine()) != null; ) if (!line.isBlank()) print(c, line);
                } else {
                    for (String t : texts) print(c, t);
                }
            }
        }
        return 0;
    }

    private void print(Classifier c, String text) {
        Classifier.Result r = c.classify(text);
        ObjectNode o = Json.object().put("text", text).put("label", labels.get(r.index()));
        ObjectNode p = o.putObject("probabilities");
        for (int k = 0; k < labels.size(); k++) p.put(labels.get(k), r.probabilities().get(c.labels().get(k)));
        o.put("prompt_ms", Double.parseDouble(String.format(Locale.ROOT, "%.3f", r.promptNanos() / 1e6)))
                .put("scoring_ms", Double.parseDouble(String.format(Locale.ROOT, "%.3f", r.scoringNanos() / 1e6)));
        out.println(Json.write(o));
        out.flush();
    }
}
