package dev.llamajava;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.llamajava.internal.schema.GrammarConverter;
import dev.llamajava.internal.schema.NlohmannJson;
import dev.llamajava.internal.schema.SchemaBuilder;
import dev.llamajava.internal.schema.SchemaDocument;

import java.util.List;
import java.util.Objects;

/**
 * JSON Schema to GBNF, in Java: the grammar text llama.cpp's {@code json_schema_to_grammar} produces for the same
 * schema, byte for byte, for use as a sampling grammar.
 *
 * <p>The subset is llama.cpp's: {@code type} (a string or an array of them), {@code const}, {@code enum},
 * {@code anyOf} / {@code oneOf}, {@code allOf} (of objects, or of enums: their intersection), {@code $ref} into the
 * same document (recursion included), objects ({@code properties} in schema order, {@code required},
 * {@code additionalProperties}), arrays ({@code items} / {@code prefixItems}, {@code minItems}, {@code maxItems}),
 * strings ({@code minLength}, {@code maxLength}, {@code format} date / time / date-time / uuid, {@code pattern}
 * anchored with {@code ^...$}), integers with {@code minimum} / {@code maximum} (exclusive ones too). Other keywords
 * are ignored. A {@code pattern} the grammar cannot express is a warning (logged, and listed in {@link Result}) and
 * accepts any string instead.
 *
 * <p>One difference from llama.cpp: a {@code pattern} is read by Unicode code point here, by byte there, so a
 * quantifier right after a non-ASCII character repeats the whole character here.
 */
public final class JsonSchemaGrammar {

    /** The grammar of any JSON object, as for the schema {@code {"type": "object"}}. */
    public static final String ANY_OBJECT = toGbnf("{\"type\":\"object\"}");

    private static final String FAILED = "JSON schema conversion failed:\n";

    private JsonSchemaGrammar() { }

    /**
     * A conversion's outcome.
     *
     * @param grammar  the GBNF text, rules sorted by name, the start rule {@code root}
     * @param warnings what the grammar does not enforce, e.g. an unsupported {@code pattern}; empty when it
     *                 enforces the whole supported subset
     */
    public record Result(String grammar, List<String> warnings) {
        /** Checks the fields and copies the list. */
        public Result {
            Objects.requireNonNull(grammar);
            warnings = List.copyOf(warnings);
        }
    }

    /**
     * Converts schema JSON text.
     *
     * @param schemaJson the schema, JSON text
     * @return the GBNF grammar
     * @throws IllegalArgumentException when the text is not JSON, or the schema is malformed or outside the
     *                                  supported subset; the message starts with
     *                                  {@code JSON schema conversion failed:} and names the keyword and path
     */
    public static String toGbnf(String schemaJson) {
        return convert(schemaJson).grammar();
    }

    /**
     * Converts a schema.
     *
     * @param schema the schema, a JSON object (integers and floating-point numbers kept apart, as Jackson's default
     *               mapper keeps them)
     * @return the GBNF grammar
     * @throws IllegalArgumentException when the schema is malformed or outside the supported subset; the message
     *                                  starts with {@code JSON schema conversion failed:} and names the keyword
     *                                  and path
     */
    public static String toGbnf(JsonNode schema) {
        return convert(schema).grammar();
    }

    /**
     * A schema in the strict form of OpenAI's structured outputs, which framework schemas (LangChain4j's, Spring AI's)
     * are written for: every object that names no {@code required} list requires each property it declares, and one
     * that does not say otherwise takes no other properties. Without it, {@code {}} is a valid answer for any object.
     *
     * @param schema the schema; not changed
     * @return a strict copy
     */
    public static JsonNode strict(JsonNode schema) {
        JsonNode copy = Objects.requireNonNull(schema, "schema").deepCopy();
        tighten(copy);
        return copy;
    }

    private static void tighten(JsonNode schema) {
        if (!(schema instanceof ObjectNode o)) return;
        if (o.get("properties") instanceof ObjectNode props) {
            if (!o.has("required")) {
                ArrayNode req = o.putArray("required");
                props.fieldNames().forEachRemaining(req::add);
            }
            if (!o.has("additionalProperties")) o.put("additionalProperties", false);
            props.forEach(JsonSchemaGrammar::tighten);
        }
        for (String k : List.of("items", "additionalProperties")) tighten(o.get(k));
        for (String k : List.of("anyOf", "oneOf", "allOf")) if (o.get(k) instanceof ArrayNode a) a.forEach(JsonSchemaGrammar::tighten);
        for (String k : List.of("$defs", "definitions")) if (o.get(k) instanceof ObjectNode d) d.forEach(JsonSchemaGrammar::tighten);
    }

    /**
     * Converts schema JSON text, keeping the warnings.
     *
     * @param schemaJson the schema, JSON text
     * @return the grammar and the warnings
     * @throws IllegalArgumentException when the text is not JSON, or the schema is malformed or outside the
     *                                  supported subset; the message starts with
     *                                  {@code JSON schema conversion failed:} and names the keyword and path
     */
    public static Result convert(String schemaJson) {
        Objects.requireNonNull(schemaJson, "schemaJson");
        JsonNode schema;
        try {
            schema = NlohmannJson.parse(schemaJson);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(FAILED + e.getMessage(), e);
        }
        return convert(schema);
    }

    /**
     * Converts a schema, keeping the warnings.
     *
     * @param schema the schema, a JSON object
     * @return the grammar and the warnings
     * @throws IllegalArgumentException when the schema is malformed or outside the supported subset; the message
     *                                  starts with {@code JSON schema conversion failed:} and names the keyword
     *                                  and path
     */
    public static Result convert(JsonNode schema) {
        Objects.requireNonNull(schema, "schema");
        SchemaDocument document;
        try {
            document = SchemaBuilder.build(schema);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(FAILED + e.getMessage(), e);
        }
        GrammarConverter converter = GrammarConverter.convert(document);
        String grammar = converter.grammar();
        return new Result(grammar, converter.warnings());
    }
}
