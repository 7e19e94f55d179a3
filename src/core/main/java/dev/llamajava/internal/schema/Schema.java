package dev.llamajava.internal.schema;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Collections;
import java.util.EnumSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * A JSON schema node, covering the subset that {@link GrammarConverter} can turn into a GBNF grammar: the Java form
 * of llama.cpp's {@code common_chat_schema} ({@code common/json-schema.h}). Built by {@link SchemaBuilder}.
 */
public sealed interface Schema {

    /** The kind of a node, named as llama.cpp's {@code common_chat_schema::kind_name} names it. */
    enum Kind {
        ANY("any"), REF("ref"), ANY_OF("anyOf"), ALL_OF("allOf"), CONST("const"), ENUM("enum"), NULL("null"),
        BOOLEAN("boolean"), NUMBER("number"), INTEGER("integer"), STRING("string"), ARRAY("array"), TUPLE("tuple"),
        OBJECT("object");

        private final String label;

        Kind(String label) {
            this.label = label;
        }

        /** @return the name llama.cpp gives this kind */
        public String label() {
            return label;
        }
    }

    /** A JSON value type, named as llama.cpp's {@code common_chat_schema::type_name} names it. */
    enum ValueType {
        NULL("null"), BOOLEAN("boolean"), NUMBER("number"), INTEGER("integer"), STRING("string"), ARRAY("array"),
        OBJECT("object");

        private final String label;

        ValueType(String label) {
            this.label = label;
        }

        /** @return the name llama.cpp gives this type */
        public String label() {
            return label;
        }

        /** @return the type of a JSON value, INTEGER for an integer, NUMBER for any other number */
        public static ValueType of(JsonNode value) {
            if (value.isNull()) return NULL;
            if (value.isBoolean()) return BOOLEAN;
            if (NlohmannJson.isInteger(value)) return INTEGER;
            if (value.isNumber()) return NUMBER;
            if (value.isTextual()) return STRING;
            if (value.isArray()) return ARRAY;
            return OBJECT;
        }
    }

    /** A string format the converter knows. */
    enum StringFormat {
        /** No format, or one the converter does not know. */
        NONE,
        /** {@code uuid}, {@code uuid1} .. {@code uuid5}. */
        UUID,
        /** {@code date}. */
        DATE,
        /** {@code time}. */
        TIME,
        /** {@code date-time}. */
        DATE_TIME
    }

    /** @return this node's kind */
    default Kind kind() {
        return switch (this) {
            case AnySchema _ -> Kind.ANY;
            case RefSchema _ -> Kind.REF;
            case AnyOfSchema _ -> Kind.ANY_OF;
            case AllOfSchema _ -> Kind.ALL_OF;
            case ConstSchema _ -> Kind.CONST;
            case EnumSchema _ -> Kind.ENUM;
            case NullSchema _ -> Kind.NULL;
            case BooleanSchema _ -> Kind.BOOLEAN;
            case NumberSchema _ -> Kind.NUMBER;
            case IntegerSchema _ -> Kind.INTEGER;
            case StringSchema _ -> Kind.STRING;
            case ArraySchema _ -> Kind.ARRAY;
            case TupleSchema _ -> Kind.TUPLE;
            case ObjectSchema _ -> Kind.OBJECT;
        };
    }

    /**
     * The JSON types a value matching this schema may have, through any branch of it. A {@code $ref} cycle
     * contributes no type.
     *
     * @return a new, modifiable set
     */
    default Set<ValueType> valueTypes() {
        return valueTypes(this, Collections.newSetFromMap(new IdentityHashMap<>()));
    }

    /** @return whether a value matching the schema may be a string, through any branch of it */
    default boolean mayBeString() {
        return mayBeString(this, Collections.newSetFromMap(new IdentityHashMap<>()));
    }

    private static Set<ValueType> valueTypes(Schema s, Set<Schema> visited) {
        return switch (s) {
            case AnySchema a -> EnumSet.allOf(ValueType.class);
            case NullSchema n -> EnumSet.of(ValueType.NULL);
            case BooleanSchema b -> EnumSet.of(ValueType.BOOLEAN);
            case NumberSchema n -> EnumSet.of(ValueType.NUMBER, ValueType.INTEGER);
            case IntegerSchema i -> EnumSet.of(ValueType.INTEGER);
            case StringSchema str -> EnumSet.of(ValueType.STRING);
            case ArraySchema a -> EnumSet.of(ValueType.ARRAY);
            case TupleSchema t -> EnumSet.of(ValueType.ARRAY);
            case ObjectSchema o -> EnumSet.of(ValueType.OBJECT);
            case ConstSchema c -> EnumSet.of(ValueType.of(c.value()));
            case EnumSchema e -> {
                Set<ValueType> types = EnumSet.noneOf(ValueType.class);
                for (JsonNode v : e.values()) types.add(ValueType.of(v));
                yield types;
            }
            case RefSchema r -> {
                Schema target = r.target();
                if (target == null || !visited.add(target)) yield EnumSet.noneOf(ValueType.class);
                Set<ValueType> types = valueTypes(target, visited);
                visited.remove(target);
                yield types;
            }
            case AnyOfSchema a -> {
                Set<ValueType> types = EnumSet.noneOf(ValueType.class);
                for (Schema child : a.children()) types.addAll(valueTypes(child, visited));
                yield types;
            }
            case AllOfSchema a -> {
                Set<ValueType> types = EnumSet.allOf(ValueType.class);
                for (Schema child : a.children()) types.retainAll(valueTypes(child, visited));
                yield types;
            }
        };
    }

    private static boolean mayBeString(Schema s, Set<Schema> visited) {
        return switch (s) {
            case StringSchema str -> true;
            case ConstSchema c -> c.value().isTextual();
            case EnumSchema e -> e.values().stream().anyMatch(JsonNode::isTextual);
            case RefSchema r -> {
                Schema target = r.target();
                if (target == null || !visited.add(target)) yield false;
                boolean result = mayBeString(target, visited);
                visited.remove(target);
                yield result;
            }
            case AnyOfSchema a -> {
                for (Schema child : a.children()) {
                    if (mayBeString(child, visited)) yield true;
                }
                yield false;
            }
            case AllOfSchema a -> {
                // every child must allow a string, an any child constrains nothing
                boolean anyString = false;
                for (Schema child : a.children()) {
                    if (child instanceof AnySchema) continue;
                    if (!mayBeString(child, visited)) yield false;
                    anyString = true;
                }
                yield anyString;
            }
            default -> false;
        };
    }

    /** Any JSON value. */
    record AnySchema() implements Schema { }

    /**
     * {@code {"$ref": "#/..."}}: only references into the same document. The target is set by the builder once
     * every {@code $ref} of the document is built (a cycle would otherwise need it too early); it is null only while
     * building.
     */
    final class RefSchema implements Schema {
        private final String ref;
        private Schema target;

        RefSchema(String ref) {
            this.ref = Objects.requireNonNull(ref);
        }

        /** @return the reference, e.g. {@code #/$defs/item} */
        public String ref() {
            return ref;
        }

        /** @return the node the reference points to, or null when unresolved */
        public Schema target() {
            return target;
        }

        void resolve(Schema node) {
            this.target = node;
        }

        @Override
        public String toString() {
            return "RefSchema[" + ref + "]";
        }
    }

    /**
     * {@code oneOf} / {@code anyOf}, or a {@code type} array expanded to one alternative per type.
     *
     * @param children the alternatives, at least one
     */
    record AnyOfSchema(List<Schema> children) implements Schema {
        /** Copies the list. */
        public AnyOfSchema {
            children = List.copyOf(children);
        }
    }

    /**
     * {@code allOf}.
     *
     * @param children the components, at least one
     */
    record AllOfSchema(List<Schema> children) implements Schema {
        /** Copies the list. */
        public AllOfSchema {
            children = List.copyOf(children);
        }
    }

    /**
     * {@code const}.
     *
     * @param value the one value allowed
     */
    record ConstSchema(JsonNode value) implements Schema {
        /** Checks the value. */
        public ConstSchema {
            Objects.requireNonNull(value);
        }
    }

    /**
     * {@code enum}.
     *
     * @param values the values allowed, at least one
     */
    record EnumSchema(List<JsonNode> values) implements Schema {
        /** Copies the list. */
        public EnumSchema {
            values = List.copyOf(values);
        }
    }

    /** {@code "type": "null"}. */
    record NullSchema() implements Schema { }

    /** {@code "type": "boolean"}. */
    record BooleanSchema() implements Schema { }

    /** {@code "type": "number"}. */
    record NumberSchema() implements Schema { }

    /**
     * {@code "type": "integer"}. The bounds are inclusive, {@code exclusiveMinimum} / {@code exclusiveMaximum} are
     * folded in and a fractional bound is rounded inwards.
     *
     * @param minimum {@link Long#MIN_VALUE} for unbounded
     * @param maximum {@link Long#MAX_VALUE} for unbounded
     */
    record IntegerSchema(long minimum, long maximum) implements Schema { }

    /**
     * {@code "type": "string"}.
     *
     * @param pattern   the regular expression, empty when absent
     * @param format    the known format, NONE when absent or unknown
     * @param minLength 0 when absent
     * @param maxLength -1 for unbounded
     */
    record StringSchema(String pattern, StringFormat format, int minLength, int maxLength) implements Schema {
        /** Checks the fields. */
        public StringSchema {
            Objects.requireNonNull(pattern);
            Objects.requireNonNull(format);
        }
    }

    /**
     * {@code "type": "array"} with one item schema.
     *
     * @param items    an {@link AnySchema} when {@code items} is absent
     * @param minItems 0 when absent
     * @param maxItems -1 for unbounded
     */
    record ArraySchema(Schema items, int minItems, int maxItems) implements Schema {
        /** Checks the fields. */
        public ArraySchema {
            Objects.requireNonNull(items);
        }
    }

    /**
     * An array of a fixed length, one schema per position ({@code items} or {@code prefixItems} as an array).
     *
     * @param items the schemas in order
     */
    record TupleSchema(List<Schema> items) implements Schema {
        /** Copies the list. */
        public TupleSchema {
            items = List.copyOf(items);
        }
    }

    /**
     * One property of an object.
     *
     * @param name     the key
     * @param schema   its value's schema
     * @param required whether {@code required} lists it
     */
    record Property(String name, Schema schema, boolean required) {
        /** Checks the fields. */
        public Property {
            Objects.requireNonNull(name);
            Objects.requireNonNull(schema);
        }
    }

    /**
     * {@code "type": "object"}.
     *
     * @param properties           in schema order
     * @param additionalProperties the schema of other properties, null when they are not allowed
     */
    record ObjectSchema(List<Property> properties, Schema additionalProperties) implements Schema {
        /** Copies the list. */
        public ObjectSchema {
            properties = List.copyOf(properties);
        }
    }
}
