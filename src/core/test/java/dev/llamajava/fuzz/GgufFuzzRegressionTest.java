package dev.llamajava.fuzz;

import dev.llamajava.LlamaModel;
import dev.llamajava.ModelLoadException;
import dev.llamajava.TestSupport;
import dev.llamajava.internal.GgufPrecheck;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every JVM death the GGUF fuzz found, as a recipe in {@code fuzz/regressions.tsv}: the pre-check refuses it
 * with exactly the recorded reason (in pure Java; llama.cpp never sees these files). And the pre-checks refuse
 * no valid model: stories260K, the tiny synthetic model and llama.cpp's vocabulary files pass.
 */
class GgufFuzzRegressionTest {

    static Map<String, Path> bases;
    static Map<String, byte[]> bytes = new LinkedHashMap<>();
    static Map<String, GgufLayout> layouts = new LinkedHashMap<>();

    @BeforeAll
    static void bases() throws Exception {
        bases = GgufFuzzTest.bases(TestSupport.workDir("fuzz-regressions"));
        for (Map.Entry<String, Path> e : bases.entrySet()) {
            byte[] b = Files.readAllBytes(e.getValue());
            bytes.put(e.getKey(), b);
            layouts.put(e.getKey(), GgufLayout.of(b));
        }
    }

    /** One line of regressions.tsv: base, recipe, the exact pre-check reason, and a note. */
    record Regression(int line, String base, String recipe, String reason, String note) { }

    static List<Regression> regressions() throws IOException {
        List<Regression> out = new ArrayList<>();
        try (InputStream in = GgufFuzzRegressionTest.class.getResourceAsStream("/fuzz/regressions.tsv")) {
            String[] lines = new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n");
            for (int i = 0; i < lines.length; i++) {
                if (lines[i].isBlank() || lines[i].startsWith("#")) continue;
                String[] f = lines[i].split("\t");
                out.add(new Regression(i + 1, f[0], f[1], f[2], f.length > 3 ? f[3] : ""));
            }
        }
        return out;
    }

    @Test
    void everyDeathFoundIsRefusedBeforeLlamaCpp() throws Exception {
        List<Regression> all = regressions();
        assertFalse(all.isEmpty());
        Path dir = TestSupport.workDir("fuzz-regressions");
        List<String> wrong = new ArrayList<>();
        for (Regression r : all) {
            Path f = dir.resolve("regression-" + r.line() + ".gguf");
            Files.write(f, Recipe.apply(bytes.get(r.base()), layouts.get(r.base()), r.recipe()));
            String why = GgufPrecheck.check(f);
            if (!r.reason().equals(why)) wrong.add("line " + r.line() + " (" + r.note() + "):\n  expected " + r.reason() + "\n  got      " + why);
            Files.delete(f);
        }
        assertTrue(wrong.isEmpty(), String.join("\n", wrong));
    }

    @Test
    void refusedFilesNeverReachLlamaCpp() throws Exception {
        // through the public API: the refusal is a ModelLoadException naming the reason
        Regression r = regressions().getFirst();
        Path f = TestSupport.workDir("fuzz-regressions").resolve("refused.gguf");
        Files.write(f, Recipe.apply(bytes.get(r.base()), layouts.get(r.base()), r.recipe()));
        assertEquals(r.reason(), GgufPrecheck.check(f), "the pre-check must refuse it before it is loaded in this JVM");
        ModelLoadException e = assertThrows(ModelLoadException.class, () -> LlamaModel.load(f));
        assertEquals("Refused " + f.toAbsolutePath() + " before llama.cpp saw it: " + r.reason(), e.getMessage());
    }

    @Test
    void validModelsPassThePrechecks() throws Exception {
        for (Path p : bases.values()) assertNull(GgufPrecheck.check(p), p.toString());
        try (var s = Files.list(TestSupport.llamaSource().resolve("models"))) {
            List<Path> vocabs = s.filter(p -> p.getFileName().toString().matches("ggml-vocab-.*\\.gguf")).sorted().toList();
            assertTrue(vocabs.size() >= 10, "llama.cpp's vocabulary files: " + vocabs);
            for (Path p : vocabs) assertNull(GgufPrecheck.check(p), p.toString());
        }
    }

    @Test
    void recipesNameFieldsAndRoundTrip() {
        GgufLayout l = layouts.get("stories260K");
        for (long at = 0; at < l.size(); at += 997) assertEquals(at, l.resolve(l.name(at)), l.name(at));
        assertEquals(l.kvs.get("llama.block_count").valueStart(), l.resolve("kv[llama.block_count].value"));
        byte[] b = Recipe.apply(bytes.get("stories260K"), l, "u32 kv[llama.block_count].value 0; trunc t[output.weight].data+8");
        assertEquals(l.tensors.get("output.weight").dataStart() + 8, b.length);
        assertEquals(0, b[(int) l.kvs.get("llama.block_count").valueStart()]);
    }
}
