package dev.llamajava;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.networknt.schema.Error;
import com.networknt.schema.Schema;
import com.networknt.schema.SchemaRegistry;
import com.networknt.schema.SpecificationVersion;
import dev.llamajava.gguf.SyntheticModel;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * JSON that always parses: constrained generations on random-weight models with the real Llama 3 vocabulary (whose
 * free output is noise), each parsed and validated against its schema by an independent validator (networknt).
 *
 * <p>Sizes: {@code -Dllama.json.generations=N} per schema on the tiny synthetic model (default 12 in the test run),
 * and {@code -Dllama.json.generations1b=N} on the synthetic Llama-3.2-1B (default 1; the full run is 1000
 * each: {@code -Dllama.json.generations=1000 -Dllama.json.generations1b=1000}).
 */
class JsonOutputTest {

    /** Five shapes: nested objects, arrays, enums, integer ranges, optional fields, formats, patterns, nullables. */
    static final Map<String, String> SCHEMAS = new LinkedHashMap<>();

    static {
        SCHEMAS.put("person", """
                {"type": "object", "properties": {
                   "name": {"type": "string", "minLength": 1, "maxLength": 12},
                   "age": {"type": "integer", "minimum": 0, "maximum": 120},
                   "email": {"type": "string", "maxLength": 16},
                   "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "maxItems": 3}},
                 "required": ["name", "age", "tags"], "additionalProperties": false}""");
        SCHEMAS.put("order", """
                {"type": "object", "properties": {
                   "id": {"type": "integer", "minimum": 1, "maximum": 99999},
                   "customer": {"type": "object", "properties": {"name": {"type": "string", "maxLength": 10}, "vip": {"type": "boolean"}},
                                "required": ["name", "vip"], "additionalProperties": false},
                   "items": {"type": "array", "minItems": 1, "maxItems": 3, "items": {"type": "object", "properties": {
                       "sku": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2}$"},
                       "qty": {"type": "integer", "minimum": 1, "maximum": 9},
                       "price": {"type": "number"}}, "required": ["sku", "qty", "price"], "additionalProperties": false}}},
                 "required": ["id", "customer", "items"], "additionalProperties": false}""");
        SCHEMAS.put("sentiment", """
                {"type": "object", "properties": {
                   "label": {"enum": ["positive", "negative", "neutral"]},
                   "confidence": {"type": "number"},
                   "reasons": {"type": "array", "items": {"enum": ["price", "quality", "delivery", "support"]}, "maxItems": 2}},
                 "required": ["label", "confidence"], "additionalProperties": false}""");
        SCHEMAS.put("event", """
                {"type": "object", "properties": {
                   "title": {"type": "string", "maxLength": 10},
                   "date": {"type": "string", "format": "date"},
                   "start": {"type": "string", "format": "time"},
                   "attendees": {"type": "integer", "minimum": -5, "maximum": 500},
                   "priority": {"enum": [1, 2, 3]},
                   "id": {"type": "string", "format": "uuid"}},
                 "required": ["title", "date", "attendees", "priority"], "additionalProperties": false}""");
        SCHEMAS.put("reading", """
                {"type": "object", "properties": {
                   "sensor": {"const": "t1"},
                   "values": {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 4},
                   "unit": {"type": "string", "enum": ["C", "F"]},
                   "note": {"type": ["string", "null"], "maxLength": 8},
                   "ok": {"anyOf": [{"type": "boolean"}, {"type": "integer", "minimum": 0, "maximum": 1}]}},
                 "required": ["sensor", "values", "unit", "note"], "additionalProperties": false}""");
    }

    static final List<String> PROMPTS = List.of("Extract the data as JSON: ", "Reply in JSON.", "Order 66 for Ann, two mugs",
            "{", "The weather today", "<|begin_of_text|> data:");
    static final ObjectMapper MAPPER = new ObjectMapper();
    static LlamaModel tiny;

    @BeforeAll
    static void load() throws Exception {
        tiny = LlamaModel.load(TestSupport.writeTinyModel(TestSupport.workDir("json").resolve("tiny-json.gguf"), 3));
    }

    @AfterAll
    static void close() {
        tiny.close();
    }

    record Counts(int generations, int parsed, int valid, long tokens, long nanos) { }

    /** Runs n seeded generations per schema; fails at the first output that does not parse or validate. */
    static Map<String, Counts> run(LlamaModel model, int n) throws Exception {
        SchemaRegistry registry = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12);
        Map<String, Counts> all = new LinkedHashMap<>();
        try (LlamaContext ctx = LlamaContext.create(model, ContextParams.builder().contextSize(1024).build())) {
            for (var e : SCHEMAS.entrySet()) {
                Schema validator = registry.getSchema(e.getValue());
                int parsed = 0, valid = 0;
                long tokens = 0, nanos = 0;
                for (int i = 0; i < n; i++) {
                    GenerationParams gp = GenerationParams.builder().maxTokens(900).jsonSchema(e.getValue())
                            .sampler(SamplerParams.builder().temperature(1.0f).topK(0).topP(1.0f).minP(0f).seed(1000 + i).build()).build();
                    String text;
                    GenerationResult r;
                    try (TokenStream ts = ctx.generate(PROMPTS.get(i % PROMPTS.size()), gp)) {
                        r = ts.collect(t -> { });
                        text = ts.text();
                    }
                    tokens += r.generatedTokens();
                    nanos += r.generationNanos();
                    if (text.indexOf('\uFFFD') >= 0) fail(e.getKey() + " generation " + i + " holds bytes that are not UTF-8: " + text);
                    JsonNode json;
                    try {
                        json = MAPPER.readTree(text);
                    } catch (Exception ex) {
                        fail(e.getKey() + " generation " + i + " (" + r.stopReason() + ") does not parse: " + ex.getMessage() + "\n" + text);
                        return all;
                    }
                    parsed++;
                    List<Error> errors = validator.validate(json);
                    if (!errors.isEmpty()) fail(e.getKey() + " generation " + i + " is not valid: " + errors + "\n" + text);
                    valid++;
                }
                all.put(e.getKey(), new Counts(n, parsed, valid, tokens, nanos));
            }
        }
        return all;
    }

    static void report(String model, Map<String, Counts> counts) {
        for (var e : counts.entrySet()) {
            Counts c = e.getValue();
            System.out.printf(Locale.ROOT, "json %s %-9s %d generations, %d parsed, %d valid, %d tokens, %.2f ms/token%n", model, e.getKey(),
                    c.generations(), c.parsed(), c.valid(), c.tokens(), c.nanos() / 1e6 / Math.max(1, c.tokens()));
        }
    }

    @Test
    void everyConstrainedGenerationParsesAndValidates() throws Exception {
        int n = Integer.getInteger("llama.json.generations", 12);
        Map<String, Counts> counts = run(tiny, n);
        report("tiny", counts);
        for (Counts c : counts.values()) assertEquals(n, c.valid());
        // the same sampler without a grammar, in the same run: the cost of the constraint per token
        long tokens = 0, nanos = 0;
        try (LlamaContext ctx = LlamaContext.create(tiny, ContextParams.builder().contextSize(1024).build())) {
            for (int i = 0; i < n; i++) {
                GenerationParams gp = GenerationParams.builder().maxTokens(64)
                        .sampler(SamplerParams.builder().temperature(1.0f).topK(0).topP(1.0f).minP(0f).seed(1000 + i).build()).build();
                try (TokenStream ts = ctx.generate(PROMPTS.get(i % PROMPTS.size()), gp)) {
                    GenerationResult r = ts.collect(t -> { });
                    tokens += r.generatedTokens();
                    nanos += r.generationNanos();
                }
            }
        }
        System.out.printf(Locale.ROOT, "json tiny free sampling: %d tokens, %.2f ms/token%n", tokens, nanos / 1e6 / Math.max(1, tokens));
    }

    @Test
    void onTheSynthetic1B() throws Exception {
        int n = Integer.getInteger("llama.json.generations1b", 1);
        Path file = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q4_K_M", null);
        try (LlamaModel m = LlamaModel.load(file)) {
            Map<String, Counts> counts = run(m, n);
            report("1B-Q4_K_M", counts);
            for (Counts c : counts.values()) assertEquals(n, c.valid());
        }
    }

    @Test
    void jsonObjectAndBadSchemas() throws Exception {
        try (LlamaContext ctx = LlamaContext.create(tiny, ContextParams.builder().contextSize(1024).build())) {
            int finished = 0;
            for (int i = 0; i < 5; i++) {
                GenerationParams gp = GenerationParams.builder().maxTokens(600).json()
                        .sampler(SamplerParams.builder().temperature(1.0f).topK(0).topP(1.0f).minP(0f).seed(7 + i).build()).build();
                try (TokenStream ts = ctx.generate("JSON:", gp)) {
                    ts.collect(t -> { });
                    if (ts.result().stopReason() == StopReason.MAX_TOKENS) continue; // any object is unbounded: may not finish
                    assertTrue(MAPPER.readTree(ts.text()).isObject(), ts.text());
                    finished++;
                }
            }
            System.out.println("json() on random weights: " + finished + " of 5 objects finished within 600 tokens");
            assertTrue(finished > 0, "no json() generation finished, so none was checked");
        }
        assertThrows(IllegalArgumentException.class, () -> GenerationParams.builder().jsonSchema("{not json"));
        var e = assertThrows(IllegalArgumentException.class, () -> GenerationParams.builder().jsonSchema("{\"type\": \"kaboom\"}"));
        assertTrue(e.getMessage().contains("kaboom"), e.getMessage());
    }

    enum Size { SMALL, LARGE }

    record Item(Size size, int qty) { }

    record Order(List<Item> items, Size size, boolean gift, double total, short code) { }

    record Named(String name, Map<String, Integer> counts, long[] ids) { }

    @Test
    void typedRecordsRoundTrip() throws Exception {
        JsonNode schema = StructuredOutput.schemaOf(Order.class);
        assertEquals(List.of("items", "size", "gift", "total", "code"), MAPPER.convertValue(schema.get("required"), List.class));
        assertEquals(MAPPER.readTree("""
                {"type":"object","properties":{"name":{"type":"string"},"counts":{"type":"object","additionalProperties":
                {"type":"integer","minimum":-2147483648,"maximum":2147483647}},"ids":{"type":"array","items":{"type":"integer"}}},
                "required":["name","counts","ids"],"additionalProperties":false}"""), StructuredOutput.schemaOf(Named.class));
        Schema validator = SchemaRegistry.withDefaultDialect(SpecificationVersion.DRAFT_2020_12).getSchema(schema);
        try (LlamaContext ctx = LlamaContext.create(tiny, ContextParams.builder().contextSize(2048).build())) {
            for (int i = 0; i < 5; i++) {
                // no strings in Order: every part of its grammar closes quickly even on random weights
                GenerationParams gp = GenerationParams.builder().maxTokens(1500)
                        .sampler(SamplerParams.builder().temperature(1.0f).topK(0).topP(1.0f).minP(0f).seed(21 + i).build()).build();
                Order o = StructuredOutput.generate(ctx, "Order " + i + ":", Order.class, gp);
                assertTrue(validator.validate(MAPPER.valueToTree(o)).isEmpty(), o.toString());
            }
            ChatSession chat = new ChatSession(ctx, tiny.chatTemplate().orElseThrow(), "Answer in JSON.");
            for (int i = 0; i < 3; i++) {
                GenerationParams gp = GenerationParams.builder().maxTokens(1500)
                        .sampler(SamplerParams.builder().temperature(1.0f).topK(0).topP(1.0f).minP(0f).seed(51 + i).build()).build();
                Order o = StructuredOutput.send(chat, "Order number " + i + "?", Order.class, gp);
                assertTrue(validator.validate(MAPPER.valueToTree(o)).isEmpty(), o.toString());
            }
            assertEquals(7, chat.messages().size(), "system, then a user and an assistant message per turn");
            var cut = assertThrows(LlamaException.class, () -> StructuredOutput.generate(ctx, "Order:", Order.class,
                    GenerationParams.builder().maxTokens(2).build()));
            assertTrue(cut.getMessage().contains("raise maxTokens"), cut.getMessage());
        }
        assertThrows(IllegalArgumentException.class, () -> StructuredOutput.schemaOf(Thread.class));
    }
}
