package dev.llamajava;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * llama.cpp's own tokenizer reference files (models/ggml-vocab-*.gguf.inp/.out in the pinned source):
 * our tokenize, with the vocabulary loaded vocab-only, reproduces every expected id list.
 */
class TokenizerReferenceTest {

    static final String SEP = "\n__ggml_vocab_test__\n";

    @ParameterizedTest
    @ValueSource(strings = {"ggml-vocab-llama-bpe.gguf", "ggml-vocab-llama-spm.gguf"})
    void matchesReferenceIds(String vocab) throws Exception {
        Path models = TestSupport.llamaSource().resolve("models");
        String raw = Files.readString(models.resolve(vocab + ".inp"), StandardCharsets.UTF_8);
        List<String> inputs = new ArrayList<>();
        int pos = 0;
        while (pos < raw.length()) {
            int next = raw.indexOf(SEP, pos);
            if (next < 0) { inputs.add(raw.substring(pos)); break; }
            inputs.add(raw.substring(pos, next));
            pos = next + SEP.length();
        }
        List<String> outputs = Files.readAllLines(models.resolve(vocab + ".out"), StandardCharsets.UTF_8);
        assertEquals(inputs.size(), outputs.size(), "reference files disagree on the number of cases");
        assertTrue(inputs.size() > 30, "only " + inputs.size() + " cases");
        int roundTrips = 0;
        try (LlamaModel m = LlamaModel.load(models.resolve(vocab), ModelParams.builder().vocabOnly(true).build())) {
            for (int i = 0; i < inputs.size(); i++) {
                String o = outputs.get(i).strip();
                int[] expected = o.isEmpty() ? new int[0] : Arrays.stream(o.split(" ")).mapToInt(Integer::parseInt).toArray();
                int[] actual = m.tokenize(inputs.get(i), false, false);
                assertEquals(Arrays.toString(expected), Arrays.toString(actual), "case " + i + ": '" + inputs.get(i) + "'");
                String back = m.detokenize(actual, false, false);
                if (vocab.contains("bpe")) {
                    // byte-level BPE is lossless: the raw pieces give back the input's bytes exactly
                    ByteArrayOutputStream pieces = new ByteArrayOutputStream();
                    for (int id : actual) pieces.writeBytes(m.tokenBytes(id, false));
                    assertEquals(inputs.get(i), pieces.toString(StandardCharsets.UTF_8), "pieces of case " + i);
                }
                // detokenize applies the vocabulary's clean-up rules (e.g. " ?" -> "?"), so it may differ in spaces
                if (back.equals(inputs.get(i)) || (" " + back).equals(inputs.get(i)) || back.equals(" " + inputs.get(i))) {
                    roundTrips++;
                }
            }
        }
        assertTrue(roundTrips > inputs.size() * 9 / 10, "round trips " + roundTrips + " of " + inputs.size());
    }
}
