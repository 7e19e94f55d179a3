package dev.llamajava;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamajava.internal.Json;

import java.lang.reflect.GenericArrayType;
import java.lang.reflect.ParameterizedType;
import java.lang.reflect.RecordComponent;
import java.lang.reflect.Type;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.Collection;
import java.util.HashSet;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * Typed JSON output: a JSON Schema derived from a Java type, generation constrained to it, and the result parsed
 * back into that type (with Jackson).
 *
 * <p>Types: records (an object with every component required, in declaration order, no other properties), enums
 * (their constant names), {@code String}/{@code char}, {@code boolean}, integer types ({@code byte}, {@code short}
 * and {@code int} with their ranges; {@code long}, {@code BigInteger}), {@code float}/{@code double}/{@code BigDecimal},
 * arrays and collections (JSON arrays), and {@code Map<String, V>} (an object of V). A record that contains itself is
 * refused. Under JPMS the record's package must be open to {@code com.fasterxml.jackson.databind}.
 *
 * <pre>{@code
 * record Person(String name, int age, List<String> hobbies) { }
 * Person p = StructuredOutput.generate(ctx, prompt, Person.class, GenerationParams.builder().maxTokens(200).build());
 * }</pre>
 */
public final class StructuredOutput {

    private StructuredOutput() { }

    /**
     * @param type a record, enum or one of the supported value types
     * @return its JSON Schema
     * @throws IllegalArgumentException when a component's type has no schema here (the message names it)
     */
    public static ObjectNode schemaOf(Class<?> type) {
        return schema(Objects.requireNonNull(type, "type"), new HashSet<>(), type.getSimpleName());
    }

    /**
     * Generates JSON valid under {@code type}'s schema and parses it.
     *
     * @param ctx    the context
     * @param prompt the prompt
     * @param type   the result type
     * @param params generation settings (any grammar in them is replaced by the schema's)
     * @param <T>    the result type
     * @return the parsed value
     * @throws IllegalArgumentException when the type has no schema here
     * @throws LlamaException           when the generation ended before the JSON did (raise {@code maxTokens}) or
     *                                  the JSON does not bind to the type
     */
    public static <T> T generate(LlamaContext ctx, String prompt, Class<T> type, GenerationParams params) {
        return read(ctx.generate(prompt, constrained(params, type)), type);
    }

    /**
     * Sends a user message and parses the assistant's JSON answer, constrained to {@code type}'s schema.
     *
     * @param chat   the chat session
     * @param user   the user's message
     * @param type   the result type
     * @param params generation settings (any grammar in them is replaced by the schema's)
     * @param <T>    the result type
     * @return the parsed value
     * @throws IllegalArgumentException when the type has no schema here
     * @throws LlamaException           when the generation ended before the JSON did, or it does not bind
     */
    public static <T> T send(ChatSession chat, String user, Class<T> type, GenerationParams params) {
        return read(chat.send(user, constrained(params, type)), type);
    }

    private static GenerationParams constrained(GenerationParams params, Class<?> type) {
        return params.toBuilder().jsonSchema(schemaOf(type)).build();
    }

    /** Runs the stream to its end and binds its text to the type. */
    private static <T> T read(TokenStream stream, Class<T> type) {
        GenerationResult r;
        String text;
        try (TokenStream ts = stream) {
            r = ts.collect(t -> { });
            text = ts.text();
        }
        try {
            return Json.MAPPER.readValue(text, type);
        } catch (JsonProcessingException e) {
            throw new LlamaException("the output does not parse as " + type.getSimpleName() + " (generation stopped: "
                    + r.stopReason() + " after " + r.generatedTokens() + " tokens" + (r.stopReason() == StopReason.MAX_TOKENS
                    ? "; raise maxTokens" : "") + "): " + e.getOriginalMessage() + "; output: " + text);
        }
    }

    private static ObjectNode schema(Type t, Set<Class<?>> visiting, String where) {
        ObjectNode s = Json.object();
        if (t instanceof ParameterizedType p && p.getRawType() instanceof Class<?> raw) {
            Type[] args = p.getActualTypeArguments();
            if (Collection.class.isAssignableFrom(raw)) {
                s.put("type", "array").set("items", schema(args[0], visiting, where + "[]"));
                return s;
            }
            if (Map.class.isAssignableFrom(raw)) {
                if (args[0] != String.class) throw new IllegalArgumentException(where + ": map keys must be String, was " + args[0].getTypeName());
                s.put("type", "object").set("additionalProperties", schema(args[1], visiting, where + "{}"));
                return s;
            }
            throw new IllegalArgumentException(where + ": no JSON schema for " + t.getTypeName());
        }
        if (t instanceof GenericArrayType g) {
            s.put("type", "array").set("items", schema(g.getGenericComponentType(), visiting, where + "[]"));
            return s;
        }
        if (!(t instanceof Class<?> c)) throw new IllegalArgumentException(where + ": no JSON schema for " + t.getTypeName());
        if (c == String.class || c == char.class || c == Character.class) return s.put("type", "string");
        if (c == boolean.class || c == Boolean.class) return s.put("type", "boolean");
        if (c == byte.class || c == Byte.class) return s.put("type", "integer").put("minimum", Byte.MIN_VALUE).put("maximum", Byte.MAX_VALUE);
        if (c == short.class || c == Short.class) return s.put("type", "integer").put("minimum", Short.MIN_VALUE).put("maximum", Short.MAX_VALUE);
        if (c == int.class || c == Integer.class) return s.put("type", "integer").put("minimum", Integer.MIN_VALUE).put("maximum", Integer.MAX_VALUE);
        if (c == long.class || c == Long.class || c == BigInteger.class) return s.put("type", "integer");
        if (c == float.class || c == Float.class || c == double.class || c == Double.class || c == BigDecimal.class) return s.put("type", "number");
        if (c.isArray()) {
            s.put("type", "array").set("items", schema(c.getComponentType(), visiting, where + "[]"));
            return s;
        }
        if (c.isEnum()) {
            ArrayNode values = s.put("type", "string").putArray("enum");
            for (Object e : c.getEnumConstants()) values.add(((Enum<?>) e).name());
            return s;
        }
        if (c.isRecord()) {
            if (!visiting.add(c)) throw new IllegalArgumentException(where + ": " + c.getName() + " contains itself; recursive types have no schema here");
            ObjectNode props = s.put("type", "object").putObject("properties");
            ArrayNode required = s.putArray("required");
            for (RecordComponent rc : c.getRecordComponents()) {
                props.set(rc.getName(), schema(rc.getGenericType(), visiting, where + "." + rc.getName()));
                required.add(rc.getName());
            }
            s.put("additionalProperties", false);
            visiting.remove(c);
            return s;
        }
        throw new IllegalArgumentException(where + ": no JSON schema for " + c.getName() + " (use records, enums, strings, numbers, booleans, lists, arrays or maps)");
    }
}
