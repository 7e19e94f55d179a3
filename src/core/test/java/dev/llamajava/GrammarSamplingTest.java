package dev.llamajava;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every grammar the converter emits through llama.cpp's own grammar parser; lazy grammars; grammar misuse. */
class GrammarSamplingTest {

    static LlamaModel model;

    @BeforeAll
    static void load() {
        model = LlamaModel.load(TestSupport.stories260K());
    }

    @AfterAll
    static void close() {
        model.close();
    }

    @Test
    void llamaCppAcceptsEveryGrammarWeEmit() throws Exception {
        List<String[]> cases = JsonSchemaGrammarTest.successCases();
        assertTrue(cases.size() > 60, "cases read: " + cases.size());
        for (String[] c : cases) {
            String gbnf = JsonSchemaGrammar.toGbnf(c[1]);
            try (Sampler s = Sampler.create(model, SamplerParams.builder().grammar(gbnf).build())) {
                assertTrue(s.params().grammar() != null);
            } catch (IllegalArgumentException e) {
                throw new AssertionError("llama_sampler_init_grammar refused our grammar for '" + c[0] + "': " + e.getMessage() + "\n" + gbnf);
            }
        }
        try (Sampler s = Sampler.create(model, SamplerParams.builder().grammar(JsonSchemaGrammar.ANY_OBJECT).build())) {
            assertTrue(s.params().grammar().contains("root ::="));
        }
    }

    static String generate(SamplerParams sp, int n) {
        try (LlamaContext ctx = LlamaContext.create(model, ContextParams.builder().contextSize(256).build());
             TokenStream ts = ctx.generate("Once upon a time", GenerationParams.builder().maxTokens(n).sampler(sp).build())) {
            ts.collect(t -> { });
            return ts.text();
        }
    }

    @Test
    void lazyGrammarIsFreeUntilItsTriggerThenConstrains() {
        String free = generate(SamplerParams.greedy(), 48);
        int at = free.indexOf(" there");
        assertTrue(at >= 0, "the free greedy text names ' there': " + free);
        String grammar = "root ::= \" there\" [ a-z]{1,30} \".\"";
        SamplerParams untriggered = SamplerParams.greedy().toBuilder().grammar(grammar)
                .grammarTriggers(List.of("[\\s\\S]*?(QQQZZZ)[\\s\\S]*")).build();
        assertEquals(free, generate(untriggered, 48), "a grammar whose trigger never matches changes nothing");
        SamplerParams triggered = SamplerParams.greedy().toBuilder().grammar(grammar)
                .grammarTriggers(List.of("[\\s\\S]*?( there)[\\s\\S]*")).build();
        String got = generate(triggered, 48);
        assertEquals(free.substring(0, at), got.substring(0, at), "free text before the trigger");
        assertTrue(Pattern.matches(" there[ a-z]{1,30}\\.", got.substring(at)), "constrained from the trigger on: " + got);
    }

    @Test
    void badGrammarsAndTokensAreClearExceptions() {
        var e = assertThrows(IllegalArgumentException.class, () -> Sampler.create(model, SamplerParams.builder().grammar("root ::= (").build()));
        assertTrue(e.getMessage().contains("grammar"), e.getMessage());
        // valid in Java, not in ECMAScript (std::regex would throw inside llama.cpp and abort the process)
        assertThrows(IllegalArgumentException.class, () -> Sampler.create(model, SamplerParams.builder().grammar("root ::= \"a\"")
                .grammarTriggers(List.of("(?<n>a)b")).build()));
        assertThrows(IllegalArgumentException.class, () -> Sampler.create(model, SamplerParams.builder().grammar("root ::= \"a\"")
                .grammarTriggers(List.of("(")).build()));
        // ECMAScript's [^] (any character) is no Java regex, and llama.cpp takes it: checked in its flavour only
        Sampler.create(model, SamplerParams.builder().grammar("root ::= \"a\"").grammarTriggers(List.of("[^]*(a)[^]*")).build()).close();
        assertThrows(IllegalArgumentException.class, () -> SamplerParams.builder().grammarTriggers(List.of("a")).build());
        int once = model.tokenize("Once", false, false)[0];
        String piece = new String(model.tokenBytes(once, false), StandardCharsets.UTF_8);
        try (Sampler s = Sampler.create(model, SamplerParams.builder().grammar("root ::= \"" + piece + "\" [a-z ]*").build())) {
            // a token the grammar forbids would abort inside llama.cpp's grammar accept: refused first
            int bad = model.eosToken(); // end of generation before the grammar is complete
            assertThrows(IllegalArgumentException.class, () -> s.accept(bad));
            assertThrows(IllegalArgumentException.class, () -> s.accept(-1));
            s.accept(once);
        }
    }
}
