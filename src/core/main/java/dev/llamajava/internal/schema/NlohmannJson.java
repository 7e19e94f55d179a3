package dev.llamajava.internal.schema;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;

import java.math.BigInteger;
import java.util.Map;

/**
 * JSON the way llama.cpp's {@code common_json} (nlohmann::ordered_json) sees it, for Jackson trees: which numbers
 * are integers, how integers convert, and the exact text of {@code dump()} (compact, object keys in insertion order).
 */
public final class NlohmannJson {

    private static final BigInteger UINT64_MAX = BigInteger.ONE.shiftLeft(64).subtract(BigInteger.ONE);

    /** Keeps 1 and 1.0 apart (int, long, BigInteger vs double nodes) and object keys in order; rejects trailing text. */
    private static final ObjectMapper MAPPER = JsonMapper.builder()
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private NlohmannJson() { }

    /**
     * Parses JSON text.
     *
     * @param text the JSON text
     * @return the tree
     * @throws IllegalArgumentException when the text is not one JSON value
     */
    public static JsonNode parse(String text) {
        JsonNode node;
        try {
            node = MAPPER.readTree(text);
        } catch (JsonProcessingException e) {
            throw new IllegalArgumentException("invalid JSON text: " + e.getOriginalMessage()
                    + (e.getLocation() == null ? "" : " at line " + e.getLocation().getLineNr()
                    + ", column " + e.getLocation().getColumnNr()), e);
        }
        if (node == null || node.isMissingNode()) throw new IllegalArgumentException("invalid JSON text: no value");
        checkRange(node);
        return node;
    }

    /** nlohmann rejects a number too large for a double ("number overflow"), Jackson reads it as an infinity. */
    private static void checkRange(JsonNode node) {
        if (node.isNumber() && !isInteger(node) && !Double.isFinite(node.doubleValue())) {
            throw new IllegalArgumentException("invalid JSON text: number overflow (beyond the range of a double)");
        }
        if (node.isContainerNode()) {
            for (JsonNode child : node) checkRange(child);
        }
    }

    /**
     * nlohmann's {@code is_number_integer()}: an integral number that fits int64 or uint64 (a longer one is read as
     * a double there).
     *
     * @param node a JSON value
     * @return whether it is an integer
     */
    public static boolean isInteger(JsonNode node) {
        if (!node.isIntegralNumber()) return false;
        if (node.canConvertToLong()) return true;
        BigInteger v = node.bigIntegerValue();
        return v.signum() > 0 && v.compareTo(UINT64_MAX) <= 0;
    }

    /**
     * nlohmann's {@code get<int64_t>()} of an integer: a uint64 above int64's range wraps.
     *
     * @param node an integer (see {@link #isInteger})
     * @return its value
     */
    public static long toLong(JsonNode node) {
        return node.canConvertToLong() ? node.longValue() : node.bigIntegerValue().longValue();
    }

    /**
     * nlohmann's {@code get<int>()} of an integer: the value truncated to 32 bits, as {@code static_cast<int>}.
     *
     * @param node an integer (see {@link #isInteger})
     * @return its value
     */
    public static int toInt(JsonNode node) {
        return (int) toLong(node);
    }

    /**
     * nlohmann's {@code get<double>()} of a number.
     *
     * @param node a number
     * @return its value as a double
     */
    public static double toDouble(JsonNode node) {
        return node.doubleValue();
    }

    /**
     * nlohmann's compact {@code dump()}: no whitespace, object keys in insertion order, strings escaped as nlohmann
     * escapes them ({@code \" \\ \b \f \n \r \t}, other control characters as {@code &#92;u00xx}, the rest raw), integers
     * as they are, doubles as nlohmann's {@code to_chars} writes them, NaN and infinities as {@code null}.
     *
     * @param node a JSON value
     * @return its text
     * @throws IllegalArgumentException for a node that is not JSON (binary, POJO, missing)
     */
    public static String dump(JsonNode node) {
        StringBuilder out = new StringBuilder();
        dump(node, out);
        return out.toString();
    }

    private static void dump(JsonNode node, StringBuilder out) {
        switch (node.getNodeType()) {
            case NULL -> out.append("null");
            case BOOLEAN -> out.append(node.booleanValue());
            case STRING -> escape(node.textValue(), out);
            case NUMBER -> {
                if (isInteger(node)) {
                    out.append(node.canConvertToLong() ? Long.toString(node.longValue()) : node.bigIntegerValue().toString());
                } else {
                    formatDouble(toDouble(node), out);
                }
            }
            case ARRAY -> {
                out.append('[');
                for (int i = 0; i < node.size(); i++) {
                    if (i > 0) out.append(',');
                    dump(node.get(i), out);
                }
                out.append(']');
            }
            case OBJECT -> {
                out.append('{');
                boolean first = true;
                for (Map.Entry<String, JsonNode> e : node.properties()) {
                    if (!first) out.append(',');
                    first = false;
                    escape(e.getKey(), out);
                    out.append(':');
                    dump(e.getValue(), out);
                }
                out.append('}');
            }
            default -> throw new IllegalArgumentException("not a JSON value: " + node.getNodeType() + " node");
        }
    }

    /**
     * nlohmann's string escaping, quotes included.
     *
     * @param s   the string
     * @param out where to write
     */
    static void escape(String s, StringBuilder out) {
        out.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '\b' -> out.append("\\b");
                case '\t' -> out.append("\\t");
                case '\n' -> out.append("\\n");
                case '\f' -> out.append("\\f");
                case '\r' -> out.append("\\r");
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                default -> {
                    if (c <= 0x1F) {
                        out.append("\\u00").append(Character.forDigit(c >> 4, 16)).append(Character.forDigit(c & 0xF, 16));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        out.append('"');
    }

    /**
     * nlohmann's {@code to_chars} for a double (its Grisu2 digits, see {@link Grisu2}), written fixed-point when the
     * decimal point falls within [10^-4, 10^15), e.g. {@code 1.0}, {@code 0.001}, {@code 123.45}, else as
     * {@code 1e+100}, {@code 1.5e-05} (two exponent digits at least); NaN and infinities as {@code null}.
     *
     * @param value the number
     * @param out   where to write
     */
    static void formatDouble(double value, StringBuilder out) {
        if (Double.isFinite(value)) {
            Grisu2.toChars(value, out);
        } else {
            out.append("null");
        }
    }
}
