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

    /** GNU time, which reports a child's peak resident set ({@code %M}); absent on some machines. */
    private static final Path TIME = Path.of("/usr/bin/time");

    /**
     * llama-bench's averages for one model.
     *
     * @param pp      prompt tokens/s (NaN when it measured none)
     * @param tg      generation tokens/s (NaN when it measured none)
     * @param peakRss the llama-bench process's peak resident set in bytes, as GNU time reports it (-1 when unknown)
     */
    public record Averages(double pp, double tg, long peakRss) {
        /** Averages without a peak. */
        public Averages(double pp, double tg) {
            this(pp, tg, -1);
        }
    }

    /**
     * What one llama-bench process gave.
     *
     * @param records its {@code -o json} records, one per test
     * @param peakRss its peak resident set in bytes (-1 when unknown)
     */
    record Output(JsonNode records, long peakRss) { }

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
        return averages(records, -1);
    }

    private static Averages averages(JsonNode records, long peakRss) {
        double pp = Double.NaN, tg = Double.NaN;
        for (JsonNode rec : records) {
            int np = rec.path("n_prompt").asInt(), ng = rec.path("n_gen").asInt();
            double ts = rec.path("avg_ts").asDouble(Double.NaN);
            if (np > 0 && ng == 0) pp = ts;
            if (ng > 0 && np == 0) tg = ts;
        }
        return new Averages(pp, tg, peakRss);
    }

    /**
     * Runs llama-bench on a model, every layer offloaded ({@code -ngl 99}) with {@code gpu}, else none; under GNU time
     * where it is installed, so its peak resident set is known too.
     */
    static Averages run(Path tool, Path model, int threads, int pp, int tg, int reps, boolean gpu) throws IOException, InterruptedException {
        Output o = exec(tool, model, threads, reps, gpu, "-p", Integer.toString(pp), "-n", Integer.toString(tg));
        return averages(o.records(), o.peakRss());
    }

    /**
     * Runs llama-bench with {@code -o json} and the given test arguments.
     *
     * @return its records, one per test
     */
    static JsonNode records(Path tool, Path model, int threads, int reps, boolean gpu, String... tests) throws IOException, InterruptedException {
        return exec(tool, model, threads, reps, gpu, tests).records();
    }

    private static Output exec(Path tool, Path model, int threads, int reps, boolean gpu, String... tests) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        Path peakFile = null;
        if (Files.isExecutable(TIME)) {
            peakFile = Files.createTempFile("llama-bench-peak", ".txt");
            cmd.addAll(List.of(TIME.toString(), "-f", "%M", "-o", peakFile.toString()));
        }
        cmd.addAll(List.of(tool.toString(), "-m", model.toString(), "-t", Integer.toString(threads),
                "-r", Integer.toString(reps), "-o", "json", "-ngl", gpu ? "99" : "0"));
        cmd.addAll(List.of(tests));
        try {
            Process p = new ProcessBuilder(cmd).redirectError(Redirect.DISCARD).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(30, TimeUnit.MINUTES) || p.exitValue() != 0) throw new IOException("llama-bench failed: " + out);
            JsonNode records = Json.parse(out);
            if (!records.isArray()) throw new IOException("llama-bench output is not a JSON array: " + out);
            long kib = peakFile == null ? -1 : peakKib(Files.readString(peakFile));
            return new Output(records, kib < 0 ? -1 : kib * 1024);
        } finally {
            if (peakFile != null) Files.deleteIfExists(peakFile);
        }
    }

    /**
     * @param timeOutput what GNU time wrote for {@code -f %M}: the peak resident set in KiB on its last line
     * @return that number, or -1 when the output holds none
     */
    static long peakKib(String timeOutput) {
        String[] lines = timeOutput.strip().split("\\R");
        try {
            return Long.parseLong(lines[lines.length - 1].strip());
        } catch (NumberFormatException e) {
            return -1;
        }
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
