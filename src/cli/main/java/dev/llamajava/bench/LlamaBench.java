package dev.llamajava.bench;

import com.fasterxml.jackson.databind.JsonNode;
import dev.llamajava.LlamaException;
import dev.llamajava.internal.Json;
import dev.llamajava.internal.Settings;

import java.io.IOException;
import java.lang.ProcessBuilder.Redirect;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** llama.cpp's {@code llama-bench}: finding it, running it, and reading its {@code -o json} output. */
public final class LlamaBench {

    private LlamaBench() { }

    /**
     * llama-bench's averages for one model.
     *
     * @param pp prompt tokens/s (NaN when it measured none)
     * @param tg generation tokens/s (NaN when it measured none)
     */
    public record Averages(double pp, double tg) { }

    /**
     * Parses llama-bench's {@code -o json} output: an array with one record per test, {@code pp} tests having
     * {@code n_gen} 0 and {@code tg} tests {@code n_prompt} 0.
     *
     * @param json the output
     * @return average prompt and generation tokens/s (NaN when absent)
     * @throws IllegalArgumentException when it is not a JSON array
     */
    public static Averages parse(String json) {
        JsonNode records = Json.parse(json);
        if (!records.isArray()) throw new IllegalArgumentException("llama-bench output is not a JSON array: " + json);
        return averages(records);
    }

    private static Averages averages(JsonNode records) {
        double pp = Double.NaN, tg = Double.NaN;
        for (JsonNode rec : records) {
            int np = rec.path("n_prompt").asInt(), ng = rec.path("n_gen").asInt();
            double ts = rec.path("avg_ts").asDouble(Double.NaN);
            if (np > 0 && ng == 0) pp = ts;
            if (ng > 0 && np == 0) tg = ts;
        }
        return new Averages(pp, tg);
    }

    /** Runs llama-bench on a model, every layer offloaded ({@code -ngl 99}) with {@code gpu}, else none. */
    static Averages run(Path tool, Path model, int threads, int pp, int tg, int reps, boolean gpu) throws IOException, InterruptedException {
        return averages(records(tool, model, threads, reps, gpu, "-p", Integer.toString(pp), "-n", Integer.toString(tg)));
    }

    /**
     * Runs llama-bench with {@code -o json} and the given test arguments.
     *
     * @return its records, one per test
     */
    static JsonNode records(Path tool, Path model, int threads, int reps, boolean gpu, String... tests) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(tool.toString(), "-m", model.toString(), "-t", Integer.toString(threads),
                "-r", Integer.toString(reps), "-o", "json", "-ngl", gpu ? "99" : "0"));
        cmd.addAll(List.of(tests));
        Process p = new ProcessBuilder(cmd).redirectError(Redirect.DISCARD).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) throw new IOException("llama-bench failed: " + out);
        JsonNode records = Json.parse(out);
        if (!records.isArray()) throw new IOException("llama-bench output is not a JSON array: " + out);
        return records;
    }

    /**
     * Finds llama-bench: {@code -Dllama.bench} / {@code LLAMA_BENCH}, else in {@code -Dllama.tools.dir} / {@code LLAMA_TOOLS_DIR}, else in {@code build/native}.
     *
     * @return the executable
     * @throws LlamaException when none of them is one
     */
    public static Path find() {
        List<Path> tried = new ArrayList<>();
        Settings.LLAMA_BENCH.explicit().ifPresent(v -> tried.add(Path.of(v)));
        Settings.TOOLS_DIR.explicit().ifPresent(v -> tried.add(Path.of(v, "llama-bench")));
        tried.add(Path.of("build/native/llama-bench"));
        for (Path p : tried) if (Files.isExecutable(p)) return p;
        throw new LlamaException("llama-bench not found (tried " + tried + "); build it with ci/build-native or pass --compare-native PATH");
    }
}
