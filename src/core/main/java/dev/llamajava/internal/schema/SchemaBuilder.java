package dev.llamajava.internal.schema;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.NullNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

import dev.llamajava.internal.schema.Schema.AllOfSchema;
import dev.llamajava.internal.schema.Schema.AnyOfSchema;
import dev.llamajava.internal.schema.Schema.AnySchema;
import dev.llamajava.internal.schema.Schema.ArraySchema;
import dev.llamajava.internal.schema.Schema.BooleanSchema;
import dev.llamajava.internal.schema.Schema.ConstSchema;
import dev.llamajava.internal.schema.Schema.EnumSchema;
import dev.llamajava.internal.schema.Schema.IntegerSchema;
import dev.llamajava.internal.schema.Schema.NullSchema;
import dev.llamajava.internal.schema.Schema.NumberSchema;
import dev.llamajava.internal.schema.Schema.ObjectSchema;
import dev.llamajava.internal.schema.Schema.Property;
import dev.llamajava.internal.schema.Schema.RefSchema;
import dev.llamajava.internal.schema.Schema.StringFormat;
import dev.llamajava.internal.schema.Schema.StringSchema;
import dev.llamajava.internal.schema.Schema.TupleSchema;

import java.math.BigInteger;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Builds a {@link SchemaDocument} from schema JSON: a port of llama.cpp's {@code common_chat_schema_from_json}
 * ({@code common/json-schema.cpp}), same structure, same precedence of keywords, same error messages
 * ({@code JSON schema error at <path>: <message>}, the path a JSON-pointer-like {@code #/properties/a}).
 */
public final class SchemaBuilder {

    private final JsonNode root;

    // the $ref targets built so far; a key mapped to null is being built (a cycle back to it stops there)
    private final Map<String, Schema> refs = new HashMap<>();

    // ref nodes get their target once every $ref is built, a cycle would otherwise need it too early
    private final List<RefSchema> pending = new ArrayList<>();

    private SchemaBuilder(JsonNode root) {
        this.root = root;
    }

    /**
     * Builds the node tree of a schema.
     *
     * @param schema the schema JSON
     * @return the document: root node and {@code $ref} targets
     * @throws IllegalArgumentException when the schema falls outside the supported subset, with a message
     *                                  {@code JSON schema error at <path>: <what>}
     */
    public static SchemaDocument build(JsonNode schema) {
        SchemaBuilder builder = new SchemaBuilder(schema);
        Schema node = builder.buildNode(schema, "#");
        for (RefSchema ref : builder.pending) ref.resolve(builder.refs.get(ref.ref()));
        return new SchemaDocument(node, new TreeMap<>(builder.refs));
    }

    private static IllegalArgumentException fail(String path, String msg) {
        return new IllegalArgumentException("JSON schema error at " + path + ": " + msg);
    }

    private static int count(JsonNode schema, String key, String path, int def) {
        if (!schema.has(key)) return def;
        JsonNode value = schema.get(key);
        if (!NlohmannJson.isInteger(value) || NlohmannJson.toInt(value) < 0) {
            throw fail(path, key + " must be a non-negative integer");
        }
        return NlohmannJson.toInt(value);
    }

    // a fractional bound is rounded inwards, towards the integers it still admits
    private static long bound(JsonNode schema, String key, String path, boolean roundUp) {
        JsonNode value = schema.get(key);
        if (NlohmannJson.isInteger(value)) return NlohmannJson.toLong(value);
        if (!value.isNumber()) throw fail(path, key + " must be a number");
        double d = NlohmannJson.toDouble(value);
        return (long) (roundUp ? Math.ceil(d) : Math.floor(d));
    }

    private static StringFormat format(JsonNode schema, String path) {
        if (!schema.has("format")) return StringFormat.NONE;
        JsonNode value = schema.get("format");
        if (!value.isTextual()) throw fail(path, "format must be a string");
        String format = value.textValue();
        return switch (format) {
            case "date" -> StringFormat.DATE;
            case "time" -> StringFormat.TIME;
            case "date-time" -> StringFormat.DATE_TIME;
            case "uuid", "uuid1", "uuid2", "uuid3", "uuid4", "uuid5" -> StringFormat.UUID;
            default -> StringFormat.NONE;
        };
    }

    private JsonNode resolveRef(String ref, String path) {
        JsonNode target = root;
        String[] tokens = ref.substring(1).split("/", -1);
        for (int i = 1; i < tokens.length; i++) {
            String sel = tokens[i];
            if (target.isObject() && target.has(sel)) {
                target = target.get(sel);
            } else if (target.isArray()) {
                long idx = arrayIndex(sel, target.size());
                if (idx < 0) throw fail(path, "cannot resolve $ref " + ref + ", " + sel + " is out of range");
                target = target.get((int) idx);
            } else {
                throw fail(path, "cannot resolve $ref " + ref + ", " + sel + " not found");
            }
        }
        return target;
    }

    /** {@code std::stoull(sel)} checked against the size: the index, or -1 when it is out of range or no number. */
    private static long arrayIndex(String sel, int size) {
        int i = 0;
        while (i < sel.length() && " \t\n\u000B\f\r".indexOf(sel.charAt(i)) >= 0) i++;
        boolean negative = false;
        if (i < sel.length() && (sel.charAt(i) == '+' || sel.charAt(i) == '-')) negative = sel.charAt(i++) == '-';
        int start = i;
        while (i < sel.length() && sel.charAt(i) >= '0' && sel.charAt(i) <= '9') i++;
        if (i == start) return -1;
        BigInteger v = new BigInteger(sel.substring(start, i));
        // stoull negates a negative number in unsigned arithmetic: anything but -0 is huge
        if (negative && v.signum() != 0) return -1;
        return v.compareTo(BigInteger.valueOf(size)) < 0 ? v.longValue() : -1;
    }

    private Schema buildRef(JsonNode value, String path) {
        if (!value.isTextual()) throw fail(path, "$ref must be a string");
        String ref = value.textValue();
        if (!ref.startsWith("#/")) {
            throw fail(path, "unsupported $ref " + ref + ", only references into the same document are supported");
        }
        if (!refs.containsKey(ref)) {
            // reserve the key first, so that a cycle back to this $ref stops here
            refs.put(ref, null);
            refs.put(ref, buildNode(resolveRef(ref, path), ref));
        }
        RefSchema node = new RefSchema(ref);
        pending.add(node);
        return node;
    }

    private List<Schema> alternatives(JsonNode alts, String path) {
        if (!alts.isArray()) throw fail(path, "must be an array of schemas");
        if (alts.isEmpty()) throw fail(path, "must not be empty");
        List<Schema> children = new ArrayList<>();
        for (int i = 0; i < alts.size(); i++) children.add(buildNode(alts.get(i), path + "/" + i));
        return children;
    }

    private Schema buildObject(JsonNode schema, String path) {
        Set<String> required = new HashSet<>();
        if (schema.has("required") && schema.get("required").isArray()) {
            for (JsonNode name : schema.get("required")) {
                if (name.isTextual()) required.add(name.textValue());
            }
        }

        List<Property> properties = new ArrayList<>();
        if (schema.has("properties")) {
            JsonNode props = schema.get("properties");
            if (!props.isObject()) throw fail(path, "properties must be an object");
            for (Map.Entry<String, JsonNode> e : props.properties()) {
                String name = e.getKey();
                properties.add(new Property(name, buildNode(e.getValue(), path + "/properties/" + name), required.contains(name)));
            }
        }

        Schema additional = null;
        if (schema.has("additionalProperties")) {
            JsonNode value = schema.get("additionalProperties");
            if (value.isBoolean()) {
                if (value.booleanValue()) additional = new AnySchema();
            } else if (value.isObject()) {
                additional = buildNode(value, path + "/additionalProperties");
            } else {
                throw fail(path, "additionalProperties must be a boolean or a schema");
            }
        } else if (!schema.has("properties")) {
            // {"type": "object"} on its own accepts any object
            additional = new AnySchema();
        }
        return new ObjectSchema(properties, additional);
    }

    private Schema buildArray(JsonNode schema, String path) {
        Schema items;
        if (schema.has("items") || schema.has("prefixItems")) {
            // "items" wins when both are present; as in the converter, a schema instead of an array is the item schema
            String key = schema.has("items") ? "items" : "prefixItems";
            JsonNode value = schema.get(key);
            if (value.isArray()) {
                List<Schema> tuple = new ArrayList<>();
                for (int i = 0; i < value.size(); i++) tuple.add(buildNode(value.get(i), path + "/" + key + "/" + i));
                return new TupleSchema(tuple);
            }
            items = buildNode(value, path + "/" + key);
        } else {
            items = new AnySchema();
        }
        int minItems = count(schema, "minItems", path, 0);
        int maxItems = count(schema, "maxItems", path, -1);
        return new ArraySchema(items, minItems, maxItems);
    }

    private static Schema buildString(JsonNode schema, String path) {
        String pattern = "";
        if (schema.has("pattern")) {
            JsonNode value = schema.get("pattern");
            if (!value.isTextual()) throw fail(path, "pattern must be a string");
            pattern = value.textValue();
        }
        StringFormat format = format(schema, path);
        int minLength = count(schema, "minLength", path, 0);
        int maxLength = count(schema, "maxLength", path, -1);
        return new StringSchema(pattern, format, minLength, maxLength);
    }

    private static Schema buildInteger(JsonNode schema, String path) {
        long minimum = Long.MIN_VALUE;
        long maximum = Long.MAX_VALUE;
        if (schema.has("minimum")) {
            minimum = bound(schema, "minimum", path, true);
        } else if (schema.has("exclusiveMinimum")) {
            minimum = bound(schema, "exclusiveMinimum", path, false) + 1;
        }
        if (schema.has("maximum")) {
            maximum = bound(schema, "maximum", path, false);
        } else if (schema.has("exclusiveMaximum")) {
            maximum = bound(schema, "exclusiveMaximum", path, true) - 1;
        }
        return new IntegerSchema(minimum, maximum);
    }

    private Schema buildNode(JsonNode schema, String path) {
        if (!schema.isObject()) throw fail(path, "schema must be an object");
        if (schema.has("$ref")) return buildRef(schema.get("$ref"), path);
        if (schema.has("oneOf") || schema.has("anyOf")) {
            String key = schema.has("oneOf") ? "oneOf" : "anyOf";
            return new AnyOfSchema(alternatives(schema.get(key), path + "/" + key));
        }

        JsonNode type = schema.has("type") ? schema.get("type") : NullNode.getInstance();
        if (type.isArray()) {
            // {"type": ["a", "b"], ...} is {"anyOf": [{"type": "a", ...}, {"type": "b", ...}]}
            if (type.isEmpty()) throw fail(path, "type must not be empty");
            List<Schema> children = new ArrayList<>();
            for (int i = 0; i < type.size(); i++) {
                ObjectNode alt = ((ObjectNode) schema).deepCopy();
                alt.set("type", type.get(i));
                children.add(buildNode(alt, path + "/type/" + i));
            }
            return new AnyOfSchema(children);
        }
        if (schema.has("const")) return new ConstSchema(schema.get("const").deepCopy());
        if (schema.has("enum")) {
            JsonNode values = schema.get("enum");
            if (!values.isArray() || values.isEmpty()) throw fail(path, "enum must be a non-empty array");
            List<JsonNode> list = new ArrayList<>();
            for (JsonNode v : values) list.add(v.deepCopy());
            return new EnumSchema(list);
        }
        if (!type.isNull() && !type.isTextual()) throw fail(path, "type must be a string or an array of strings");

        String typeName = type.isTextual() ? type.textValue() : "";
        JsonNode additional = schema.get("additionalProperties");
        boolean hasProperties = schema.has("properties")
                || (additional != null && !(additional.isBoolean() && additional.booleanValue()));

        if (typeName.isEmpty()) {
            // without a type the structural keywords decide, in the same order as the converter
            if (hasProperties) return buildObject(schema, path);
            if (schema.has("allOf")) return new AllOfSchema(alternatives(schema.get("allOf"), path + "/allOf"));
            if (schema.has("items") || schema.has("prefixItems")) return buildArray(schema, path);
            if (schema.has("pattern") || schema.has("minLength") || schema.has("maxLength")
                    || format(schema, path) != StringFormat.NONE) {
                return buildString(schema, path);
            }
            return new AnySchema();
        }
        return switch (typeName) {
            case "object" -> !hasProperties && schema.has("allOf")
                    ? new AllOfSchema(alternatives(schema.get("allOf"), path + "/allOf"))
                    : buildObject(schema, path);
            case "string" -> schema.has("allOf")
                    ? new AllOfSchema(alternatives(schema.get("allOf"), path + "/allOf"))
                    : buildString(schema, path);
            case "array" -> buildArray(schema, path);
            case "integer" -> buildInteger(schema, path);
            case "number" -> new NumberSchema();
            case "boolean" -> new BooleanSchema();
            case "null" -> new NullSchema();
            default -> throw fail(path, "unrecognized type " + typeName);
        };
    }
}
