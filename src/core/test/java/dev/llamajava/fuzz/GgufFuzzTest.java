package dev.llamajava.fuzz;

import dev.llamajava.TestSupport;
import dev.llamajava.fuzz.FuzzRunner.Result;
import dev.llamajava.fuzz.GgufMutator.Variant;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * GGUF fuzz: seeded mutated and truncated variants of stories260K and the tiny synthetic model (see
 * {@link GgufMutator}), plus a truncation at every header field boundary of both, each loaded through
 * {@code LlamaModel.load} and, when it loads, used for a 4-token generation, in child JVMs ({@link FuzzRunner},
 * {@link FuzzChild}). The bar is zero JVM deaths and zero hangs; a death found becomes a check in
 * {@code GgufPrecheck} and a line of {@code regressions.tsv}. {@code -Dllama.fuzz.variants=N} (default {@value #CI_VARIANTS}) and
 * {@code -Dllama.fuzz.seed=S} (default {@value #CI_SEED}; {@code random} for a new one) choose the run; the
 * outcome table is printed and written to {@code target/fuzz/fuzz-table.md}, every death's recipe to
 * {@code target/fuzz/deaths.tsv} in the format of {@code src/core/test/resources/fuzz/regressions.tsv}.
 */
class GgufFuzzTest {

    static final int CI_VARIANTS = 600;
    static final long CI_SEED = 20240601L;
    static final Map<String, String> OUTCOMES = new LinkedHashMap<>();

    static {
        OUTCOMES.put("PRECHECK", "rejected by our pre-checks");
        OUTCOMES.put("LLAMA", "rejected by llama.cpp (load)");
        OUTCOMES.put("FAILED", "loaded, then refused (context or generation)");
        OUTCOMES.put("RAN", "loaded and ran");
        OUTCOMES.put("JAVA", "unexpected Java exception");
        OUTCOMES.put("DIED", "JVM died");
        OUTCOMES.put("HUNG", "hung (killed)");
    }

    @Test
    void mutatedModelsNeverKillTheJvm() throws Exception {
        int n = intProperty("llama.fuzz.variants", CI_VARIANTS);
        String s = property("llama.fuzz.seed");
        long seed = s == null ? CI_SEED : s.equals("random") ? System.nanoTime() : Long.parseLong(s);
        System.out.println("GGUF fuzz: " + n + " variants, seed " + seed + " (-Dllama.fuzz.seed=" + seed + " repeats this run)");
        Path work = TestSupport.workDir("fuzz");
        Map<String, Path> bases = bases(work);
        Map<String, GgufMutator> mutators = new LinkedHashMap<>();
        for (Map.Entry<String, Path> e : bases.entrySet()) {
            mutators.put(e.getKey(), new GgufMutator(e.getKey(), GgufLayout.of(Files.readAllBytes(e.getValue()))));
        }
        List<Variant> variants = new ArrayList<>();
        List<String> names = new ArrayList<>(bases.keySet());
        for (int i = 0; i < n; i++) {
            String base = names.get(i % names.size());
            variants.add(mutators.get(base).variant(seed, i, String.format("%s-%05d", base.substring(0, 1), i)));
        }
        int k = 0;
        for (String base : names) {
            for (String r : mutators.get(base).boundaryTruncations()) {
                variants.add(new Variant(String.format("b%s-%04d", base.substring(0, 1), k++), base, "truncate-at-field", r));
            }
        }
        System.out.println("  and " + k + " truncations at every header field boundary");
        Path files = Files.isDirectory(Path.of("/dev/shm")) && Files.isWritable(Path.of("/dev/shm"))
                ? Files.createTempDirectory(Path.of("/dev/shm"), "llama-fuzz") : work.resolve("run");
        long t0 = System.nanoTime();
        Map<String, Result> results;
        try {
            results = new FuzzRunner(bases, files, 2, 100, 180).run(variants);
        } finally {
            FuzzRunner.deleteTree(files);
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        String table = table(variants, results, names, seed, seconds, n);
        System.out.println(table);
        Path out = Path.of(property("llama.test.workdir")).getParent().resolve("fuzz");
        Files.createDirectories(out);
        Files.writeString(out.resolve("fuzz-table.md"), table, StandardCharsets.UTF_8);
        StringBuilder deaths = new StringBuilder();
        List<String> bad = new ArrayList<>();
        for (Variant v : variants) {
            Result r = results.get(v.id());
            if (r != null && (r.outcome().equals("DIED") || r.outcome().equals("HUNG"))) {
                deaths.append(v.base()).append('\t').append(v.recipe()).append('\t').append("?").append('\t')
                        .append(r.outcome()).append(' ').append(v.kind()).append(": ").append(r.detail()).append('\n');
                bad.add(v.id() + " " + r.outcome() + " [" + v.base() + ": " + v.recipe() + "] " + r.detail());
            }
        }
        Files.writeString(out.resolve("deaths.tsv"), deaths, StandardCharsets.UTF_8);
        assertEquals(variants.size(), results.size(), "every variant has an outcome");
        assertTrue(bad.isEmpty(), bad.size() + " variants killed or hung the JVM (seed " + seed + "):\n" + String.join("\n", bad));
    }

    /** stories260K and the tiny synthetic model. */
    static Map<String, Path> bases(Path work) throws Exception {
        Map<String, Path> bases = new LinkedHashMap<>();
        bases.put("stories260K", TestSupport.stories260K());
        Path tiny = TestSupport.writeTinyModel(work.resolve("tiny-F16.gguf"), 7);
        bases.put("tiny", tiny);
        return bases;
    }

    static String table(List<Variant> variants, Map<String, Result> results, List<String> bases, long seed, double seconds, int random) {
        Map<String, Map<String, Integer>> byBase = new LinkedHashMap<>();
        Map<String, Map<String, Integer>> byKind = new TreeMap<>();
        Map<String, Integer> prechecks = new TreeMap<>();
        for (Variant v : variants) {
            Result r = results.get(v.id());
            String o = r == null ? "HUNG" : r.outcome();
            byBase.computeIfAbsent(v.base(), k -> new LinkedHashMap<>()).merge(o, 1, Integer::sum);
            byKind.computeIfAbsent(v.kind(), k -> new LinkedHashMap<>()).merge(o, 1, Integer::sum);
            if (o.equals("PRECHECK")) prechecks.merge(reasonClass(r.detail()), 1, Integer::sum);
        }
        StringBuilder t = new StringBuilder();
        t.append(String.format("GGUF fuzz: %d variants (%d seeded mutations, %d truncations at header field boundaries), seed %d, %.0f s (%.1f variants/s)%n%n",
                variants.size(), random, variants.size() - random, seed, seconds, variants.size() / seconds));
        t.append("| outcome |");
        for (String b : bases) t.append(' ').append(b).append(" |");
        t.append(" total |\n|---|");
        t.append("---:|".repeat(bases.size() + 1)).append('\n');
        for (Map.Entry<String, String> o : OUTCOMES.entrySet()) {
            t.append("| ").append(o.getValue()).append(" |");
            int sum = 0;
            for (String b : bases) {
                int c = byBase.getOrDefault(b, Map.of()).getOrDefault(o.getKey(), 0);
                sum += c;
                t.append(' ').append(c).append(" |");
            }
            t.append(' ').append(sum).append(" |\n");
        }
        t.append("\n| mutation |");
        for (String o : OUTCOMES.keySet()) t.append(' ').append(o).append(" |");
        t.append("\n|---|").append("---:|".repeat(OUTCOMES.size())).append('\n');
        for (Map.Entry<String, Map<String, Integer>> k : byKind.entrySet()) {
            t.append("| ").append(k.getKey()).append(" |");
            for (String o : OUTCOMES.keySet()) t.append(' ').append(k.getValue().getOrDefault(o, 0)).append(" |");
            t.append('\n');
        }
        if (!prechecks.isEmpty()) {
            t.append("\n| pre-check | variants |\n|---|---:|\n");
            prechecks.forEach((k, v) -> t.append("| ").append(k).append(" | ").append(v).append(" |\n"));
        }
        return t.toString();
    }

    /** A pre-check reason without its specifics (names, types, numbers). */
    static String reasonClass(String reason) {
        return reason.replaceAll("'[^']*'", "X").replaceAll("type [A-Z][A-Z0-9_]*", "type T").replaceAll("\\(\\w+\\.expert_count.*\\)", "(...)")
                .replaceAll("(?<![\\w<.])-?\\d+(\\.\\d+)?|NaN|-?Infinity", "N").replaceAll("<0x[0-9A-F]{2}>", "<0xXX>");
    }

    static String property(String name) {
        String v = System.getProperty(name);
        return v == null || v.isBlank() || v.startsWith("${") ? null : v.trim();
    }

    static int intProperty(String name, int def) {
        String v = property(name);
        return v == null ? def : Integer.parseInt(v);
    }
}
