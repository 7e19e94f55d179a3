package dev.llamajava.bench;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamajava.bench.Bench.Decision;
import dev.llamajava.bench.Bench.Ratio;
import dev.llamajava.bench.Bench.Row;
import dev.llamajava.bench.Bench.Stat;
import dev.llamajava.internal.Json;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.lang.management.RuntimeMXBean;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The benchmark's results as a markdown table and as JSON.
 *
 * @param hardware the machine, e.g. its CPU and cores
 * @param backend  CPU or CUDA
 * @param build    the llama.cpp build
 * @param pp       prompt tokens per measurement
 * @param tg       generated tokens per measurement
 * @param date     when it ran
 * @param rows     one per model
 */
public record BenchReport(String hardware, String backend, String build, int pp, int tg, Instant date, List<Row> rows) {

    /** @return the markdown table, one line per model */
    public String markdown() {
        StringBuilder sb = new StringBuilder();
        sb.append("| hardware | backend | model | quant | size | params | threads | ctx | pp").append(pp).append(" t/s (llama-java) | pp")
          .append(pp).append(" t/s (llama-bench) | ratio | tg").append(tg).append(" t/s (llama-java) | tg").append(tg)
          .append(" t/s (llama-bench) | ratio | TTFT ms (20-token prompt) | TTFT beyond prompt decode | Java cost/token | load ms | peak RSS | build | date |\n");
        sb.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
        String day = date.toString().substring(0, 10);
        for (Row r : rows) {
            sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %s | %.2f GB | %.2f B | %d | %d | %s | %s | %s | %s | %s | %s | %s | %.2f ms | %.1f µs | %.0f | %.2f GB | %s | %s |%n",
                    hardware, backend, r.model(), r.quant(), r.sizeBytes() / 1e9, r.params() / 1e9, r.threads(), r.ctx(), fmt(r.pp()),
                    fmtOrDash(r.nativePp()), fmt(r.ppRatio()), fmt(r.tg()), fmtOrDash(r.nativeTg()), fmt(r.tgRatio()),
                    fmt(r.ttftMs()), r.ttftOverheadMs(), r.overheadUs(), r.loadMs().median(), r.peakRssBytes() / 1e9, build, day));
        }
        return sb.toString();
    }

    private static String fmt(Stat s) {
        return String.format(Locale.ROOT, "%.2f (%.2f-%.2f)", s.median(), s.min(), s.max());
    }

    private static String fmtOrDash(Stat s) {
        return s == null ? "-" : fmt(s);
    }

    private static String fmt(Ratio r) {
        return r == null ? "-" : String.format(Locale.ROOT, "%.3f [%.3f-%.3f]", r.median(), r.low(), r.high());
    }

    /**
     * @return the per-token breakdown outside llama_decode, greedy and sampled, as a markdown table, with the time
     *         llama-java's sampling ops took inside the decode's graph beside it (not part of the total)
     */
    public String breakdownMarkdown() {
        StringBuilder sb = new StringBuilder("| model | sampling | logits µs | sample µs | piece µs | stop µs | plumbing µs | total µs | in the graph µs (inside llama_decode) |\n")
                .append("|---|---|---:|---:|---:|---:|---:|---:|---:|\n");
        for (Row r : rows) {
            breakdownLine(sb, r.model(), "greedy", r.greedyTokenUs());
            breakdownLine(sb, r.model(), "default chain", r.sampledTokenUs());
        }
        return sb.toString();
    }

    /**
     * @return each ratio against llama-bench with its interval, the bar it was decided against and the verdict, and how
     *         steady each side's repetitions were (the median absolute deviation over the median), as a markdown table
     */
    public String decisionMarkdown() {
        StringBuilder sb = new StringBuilder("| model | ratio | median [interval] | coverage | bar | verdict | repetitions | spread, llama-java | spread, llama-bench |\n")
                .append("|---|---|---|---:|---:|---|---:|---:|---:|\n");
        for (Row r : rows) {
            decisionLine(sb, r, "prompt", r.ppRatio(), r.ppDecision(), r.pp(), r.nativePp());
            decisionLine(sb, r, "generation", r.tgRatio(), r.tgDecision(), r.tg(), r.nativeTg());
        }
        return sb.toString();
    }

    private static void decisionLine(StringBuilder sb, Row r, String what, Ratio ratio, Decision d, Stat ours, Stat theirs) {
        if (ratio == null) return;
        sb.append(String.format(Locale.ROOT, "| %s | %s | %s | %.3f | %s | %s | %d | %s | %s |%n", r.model(), what, fmt(ratio), ratio.confidence(),
                d == null ? "-" : String.format(Locale.ROOT, "%.3f", d.bar()), d == null ? "-" : d.verdict().label(),
                r.reps(), percent(ours), percent(theirs)));
    }

    private static String percent(Stat s) {
        return s == null || Double.isNaN(s.spread()) ? "-" : String.format(Locale.ROOT, "%.1f%%", 100 * s.spread());
    }

    /** @return each model's peak RSS, part by part, as markdown tables */
    public String memoryMarkdown() {
        StringBuilder sb = new StringBuilder();
        for (Row r : rows) if (r.memory() != null) sb.append(MemoryTable.markdown(r.model(), r.memory())).append('\n');
        return sb.toString();
    }

    private static void breakdownLine(StringBuilder sb, String model, String sampling, Map<String, Double> us) {
        if (us == null || us.isEmpty()) return;
        sb.append("| ").append(model).append(" | ").append(sampling).append(" |");
        for (String k : List.of("logits", "sample", "piece", "stop", "plumbing", "total", Bench.IN_GRAPH)) {
            sb.append(String.format(Locale.ROOT, " %.2f |", us.getOrDefault(k, Double.NaN)));
        }
        sb.append('\n');
    }

    private static String fmt(Double v, String format) {
        return v == null ? "-" : String.format(Locale.ROOT, format, v);
    }

    /** @return the results as JSON (a number that is absent or not finite is null) */
    public String json() {
        ObjectNode root = Json.object().put("hardware", hardware).put("backend", backend).put("build", build).put("date", date.toString())
                .put("jvm", jvm());
        ArrayNode results = root.putArray("results");
        for (Row r : rows) {
            ObjectNode o = results.addObject().put("model", r.model()).put("quant", r.quant()).put("size_bytes", r.sizeBytes())
                    .put("params", r.params()).put("threads", r.threads()).put("ctx", r.ctx());
            put(o.putObject("pp_tps"), r.pp());
            put(o.putObject("tg_tps"), r.tg());
            put(o.putObject("ttft_ms"), r.ttftMs());
            put(o, "ttft_prompt_decode_ms", r.ttftPromptMs());
            put(o, "ttft_beyond_decode_ms", r.ttftOverheadMs());
            put(o, "java_cost_per_token_us", r.overheadUs());
            put(o, "load_ms", r.loadMs().median());
            o.put("peak_rss_bytes", r.peakRssBytes());
            put(o, "llama_bench_pp_tps", r.nativePp() == null ? null : r.nativePp().median());
            put(o, "llama_bench_tg_tps", r.nativeTg() == null ? null : r.nativeTg().median());
            if (r.nativePp() != null) put(o.putObject("llama_bench_pp_tps_range"), r.nativePp());
            if (r.nativeTg() != null) put(o.putObject("llama_bench_tg_tps_range"), r.nativeTg());
            put(o, "pp_ratio", r.ppRatio());
            put(o, "tg_ratio", r.tgRatio());
            o.put("reps", r.reps());
            put(o, "pp_decision", r.ppDecision());
            put(o, "tg_decision", r.tgDecision());
            putBreakdown(o, "greedy_token_us", r.greedyTokenUs());
            putBreakdown(o, "sampled_token_us", r.sampledTokenUs());
            o.put("token_us_runs", Bench.BREAKDOWN_RUNS); // the breakdowns are each the median of these runs, by total
            if (r.memory() != null) {
                ObjectNode mem = o.putObject("memory_bytes");
                r.memory().forEach(mem::put);
            }
        }
        return Json.pretty(root) + "\n";
    }

    /**
     * @return this JVM's version and the options it was started with (the report is written by the process that
     *         measured): the JVM's own settings move fast-token ratios by a few percent on a small machine
     */
    static String jvm() {
        RuntimeMXBean rt = ManagementFactory.getRuntimeMXBean();
        return (rt.getVmName() + " " + Runtime.version() + " " + String.join(" ", rt.getInputArguments())).strip();
    }

    private static void put(ObjectNode o, Stat s) {
        put(o, "median", s.median());
        put(o, "min", s.min());
        put(o, "max", s.max());
        put(o, "spread", s.spread());
    }

    /** The decision as {@code field}: its bar, the level each look's interval needed and the verdict; null without a bar. */
    private static void put(ObjectNode o, String field, Decision d) {
        if (d == null) {
            o.putNull(field);
            return;
        }
        ObjectNode n = o.putObject(field).put("verdict", d.verdict().label());
        put(n, "bar", d.bar());
        put(n, "level", d.level());
    }

    /** The ratio's median as {@code field}, and {@code field_ci} with the interval and its coverage. */
    private static void put(ObjectNode o, String field, Ratio r) {
        put(o, field, r == null ? null : r.median());
        if (r == null) {
            o.putNull(field + "_ci");
            return;
        }
        ObjectNode ci = o.putObject(field + "_ci");
        put(ci, "low", r.low());
        put(ci, "high", r.high());
        put(ci, "confidence", r.confidence());
    }

    private static void putBreakdown(ObjectNode o, String field, Map<String, Double> us) {
        if (us == null) return;
        ObjectNode b = o.putObject(field);
        us.forEach((k, v) -> put(b, k, v));
    }

    private static void put(ObjectNode o, String field, Double v) {
        Json.putFinite(o, field, v == null ? Double.NaN : v);
    }

    /**
     * Writes the markdown and the JSON where the options say (each only when asked for).
     *
     * @param options {@code --markdown} and {@code --json}
     * @throws IOException when a file cannot be written
     */
    public void write(BenchOptions options) throws IOException {
        write(options.markdown, markdown() + "\n" + decisionMarkdown() + "\n" + breakdownMarkdown() + "\n" + memoryMarkdown());
        write(options.json, json());
    }

    private static void write(Path file, String text) throws IOException {
        if (file == null) return;
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.writeString(file, text);
    }
}
