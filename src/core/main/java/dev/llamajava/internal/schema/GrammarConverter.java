package dev.llamajava.internal.schema;

import com.fasterxml.jackson.databind.JsonNode;

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

import java.lang.System.Logger;
import java.lang.System.Logger.Level;
import java.util.AbstractMap.SimpleImmutableEntry;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;

/**
 * Turns a {@link Schema} tree into GBNF text: a port of llama.cpp's {@code common_chat_schema_converter}
 * ({@code common/json-schema-to-grammar.cpp}) that produces the same grammar, rule for rule and byte for byte.
 *
 * <p>Rules are named after the schema path ({@code a-kv}, {@code item}, {@code ref-defs-node}); a name taken by a
 * different rule gets a number ({@code root0}); the grammar lists them sorted by name. Problems that make the
 * grammar wrong are errors ({@link #grammar()} throws); a {@code pattern} with no grammar equivalent is a warning
 * and accepts any string instead.
 *
 * <p>One difference from llama.cpp: a {@code pattern} is read by Unicode code point here, by byte there, so a
 * quantifier after a non-ASCII character applies to the whole character here (to its last byte there). ASCII
 * patterns give the same rules. Where llama.cpp recurses without end (an {@code allOf} that contains itself
 * through {@code $ref}s it inlines), this converter stops: a chain of {@code $ref}s back to itself contributes
 * nothing, an {@code allOf} reached again inside itself is an error.
 *
 * <p>Not thread-safe; one instance per grammar.
 */
public final class GrammarConverter {

    private static final Logger LOG = System.getLogger("dev.llamajava");

    /** The whitespace rule every grammar has. */
    static final String SPACE_RULE = "| \" \" | \"\\n\"{1,2} [ \\t]{0,20}";

    private record BuiltinRule(String content, List<String> deps) { }

    private static final Map<String, BuiltinRule> PRIMITIVE_RULES = Map.ofEntries(
        Map.entry("boolean", new BuiltinRule("(\"true\" | \"false\")", List.of())),
        Map.entry("decimal-part", new BuiltinRule("[0-9]{1,16}", List.of())),
        Map.entry("integral-part", new BuiltinRule("[0] | [1-9] [0-9]{0,15}", List.of())),
        Map.entry("number", new BuiltinRule("(\"-\"? integral-part) (\".\" decimal-part)? ([eE] [-+]? integral-part)?",
                List.of("integral-part", "decimal-part"))),
        Map.entry("integer", new BuiltinRule("(\"-\"? integral-part)", List.of("integral-part"))),
        Map.entry("value", new BuiltinRule("object | array | string | number | boolean | null",
                List.of("object", "array", "string", "number", "boolean", "null"))),
        Map.entry("object", new BuiltinRule(
                "\"{\" space ( string \":\" space value (\",\" space string \":\" space value)* )? space \"}\"",
                List.of("string", "value"))),
        Map.entry("array", new BuiltinRule("\"[\" space ( value (\",\" space value)* )? space \"]\"", List.of("value"))),
        Map.entry("uuid", new BuiltinRule("\"\\\"\" [0-9a-fA-F]{8} \"-\" [0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{4} \"-\" "
                + "[0-9a-fA-F]{4} \"-\" [0-9a-fA-F]{12} \"\\\"\"", List.of())),
        Map.entry("char", new BuiltinRule("[^\"\\\\\\x7F\\x00-\\x1F] | [\\\\] ([\"\\\\bfnrt] | \"u\" [0-9a-fA-F]{4})",
                List.of())),
        Map.entry("string", new BuiltinRule("\"\\\"\" char* \"\\\"\"", List.of("char"))),
        Map.entry("null", new BuiltinRule("\"null\"", List.of())));

    private static final Map<String, BuiltinRule> STRING_FORMAT_RULES = Map.ofEntries(
        Map.entry("date", new BuiltinRule(
                "[0-9]{4} \"-\" ( \"0\" [1-9] | \"1\" [0-2] ) \"-\" ( \"0\" [1-9] | [1-2] [0-9] | \"3\" [0-1] )", List.of())),
        Map.entry("time", new BuiltinRule("([01] [0-9] | \"2\" [0-3]) \":\" [0-5] [0-9] \":\" [0-5] [0-9] "
                + "( \".\" [0-9]{3} )? ( \"Z\" | ( \"+\" | \"-\" ) ( [01] [0-9] | \"2\" [0-3] ) \":\" [0-5] [0-9] )",
                List.of())),
        Map.entry("date-time", new BuiltinRule("date \"T\" time", List.of("date", "time"))),
        Map.entry("date-string", new BuiltinRule("\"\\\"\" date \"\\\"\"", List.of("date"))),
        Map.entry("time-string", new BuiltinRule("\"\\\"\" time \"\\\"\"", List.of("time"))),
        Map.entry("date-time-string", new BuiltinRule("\"\\\"\" date-time \"\\\"\"", List.of("date-time"))));

    private static final Set<String> RESERVED_NAMES = reservedNames();

    private static final Pattern INVALID_RULE_CHARS = Pattern.compile("[^a-zA-Z0-9-]+");

    private static final int MAX_PATTERN_DEPTH = 100;

    private static final String NON_LITERAL_SET = "|.()[]{}*+?^$";
    private static final String ESCAPED_IN_REGEXPS_BUT_NOT_IN_LITERALS = "^$.[]()|{}*+?";

    private final boolean dotall;
    private final TreeMap<String, String> rules = new TreeMap<>();
    private final Set<String> refsBeingResolved = new HashSet<>();
    // the allOf nodes being expanded, each with the $ref resolution depth when it started
    private final Map<AllOfSchema, Integer> allOfsBeingExpanded = new IdentityHashMap<>();
    private int resolveDepth;
    private final List<String> errors = new ArrayList<>();
    private final List<String> warnings = new ArrayList<>();

    /**
     * A converter with only the {@code space} rule.
     *
     * @param dotall whether {@code .} in a pattern matches line breaks too
     */
    public GrammarConverter(boolean dotall) {
        this.dotall = dotall;
        rules.put("space", SPACE_RULE);
    }

    /**
     * Converts a whole document, as llama.cpp's {@code json_schema_to_grammar(document)}: its root becomes
     * {@code root}. Call {@link #grammar()} for the text.
     *
     * @param document the schema
     * @return the converter holding the rules
     */
    public static GrammarConverter convert(SchemaDocument document) {
        GrammarConverter converter = new GrammarConverter(false);
        converter.visit(document.root(), "");
        return converter;
    }

    private static Set<String> reservedNames() {
        Set<String> s = new HashSet<>();
        s.add("root");
        s.addAll(PRIMITIVE_RULES.keySet());
        s.addAll(STRING_FORMAT_RULES.keySet());
        return Set.copyOf(s);
    }

    /**
     * Adds a rule under a name made of {@code [a-zA-Z0-9-]} (other runs become {@code -}); a name that already
     * holds a different rule gets the first free number appended.
     *
     * @param name the wanted name
     * @param rule the rule body
     * @return the name the rule got
     */
    public String addRule(String name, String rule) {
        String escName = INVALID_RULE_CHARS.matcher(name).replaceAll("-");
        String existing = rules.get(escName);
        if (existing == null || existing.equals(rule)) {
            rules.put(escName, rule);
            return escName;
        }
        int i = 0;
        while (rules.containsKey(escName + i) && !rules.get(escName + i).equals(rule)) i++;
        String key = escName + i;
        rules.put(key, rule);
        return key;
    }

    /**
     * Adds the rules of a schema node, as llama.cpp's {@code common_grammar_builder::add_schema}: the name
     * {@code root} (or an empty one) makes the node the grammar's root.
     *
     * @param name   the rule name to build on
     * @param schema the node
     * @return the name of the node's rule
     */
    public String addSchema(String name, Schema schema) {
        return visit(Objects.requireNonNull(schema), "root".equals(name) ? "" : name);
    }

    /** @return the warnings so far: parts of the schema the grammar does not enforce; unmodifiable */
    public List<String> warnings() {
        return Collections.unmodifiableList(warnings);
    }

    /**
     * The grammar: every rule as {@code name ::= body}, one a line, sorted by name. Logs the warnings, if any.
     *
     * @return the GBNF text
     * @throws IllegalArgumentException when the conversion had errors, with a message
     *                                  {@code JSON schema conversion failed:\n<error>\n<error>...}
     */
    public String grammar() {
        if (!errors.isEmpty()) {
            throw new IllegalArgumentException("JSON schema conversion failed:\n" + String.join("\n", errors));
        }
        if (!warnings.isEmpty()) {
            LOG.log(Level.WARNING, "JSON schema conversion was incomplete: " + String.join("; ", warnings));
        }
        StringBuilder out = new StringBuilder();
        rules.forEach((name, rule) -> out.append(name).append(" ::= ").append(rule).append('\n'));
        return out.toString();
    }

    // ---- literals and repetitions ----

    /**
     * A GBNF string literal: {@code \r \n " \} escaped, quotes around.
     *
     * @param literal the text
     * @return the literal
     */
    public static String formatLiteral(String literal) {
        StringBuilder out = new StringBuilder(literal.length() + 2).append('"');
        for (int i = 0; i < literal.length(); i++) {
            char c = literal.charAt(i);
            switch (c) {
                case '\r' -> out.append("\\r");
                case '\n' -> out.append("\\n");
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                default -> out.append(c);
            }
        }
        return out.append('"').toString();
    }

    private static String constantRule(JsonNode value) {
        return formatLiteral(NlohmannJson.dump(value));
    }

    static String buildRepetition(String itemRule, int minItems, int maxItems, String separatorRule) {
        boolean hasMax = maxItems != Integer.MAX_VALUE;
        if (maxItems == 0) return "";
        if (minItems == 0 && maxItems == 1) return itemRule + "?";
        if (separatorRule.isEmpty()) {
            if (minItems == 1 && !hasMax) return itemRule + "+";
            if (minItems == 0 && !hasMax) return itemRule + "*";
            return itemRule + "{" + minItems + "," + (hasMax ? Integer.toString(maxItems) : "") + "}";
        }
        String result = itemRule + " " + buildRepetition("(" + separatorRule + " " + itemRule + ")",
                minItems == 0 ? 0 : minItems - 1, hasMax ? maxItems - 1 : maxItems, "");
        return minItems == 0 ? "(" + result + ")?" : result;
    }

    // ---- integer ranges ----

    private static void digitRange(char from, char to, StringBuilder out) {
        out.append('[').append(from);
        if (from != to) out.append('-').append(to);
        out.append(']');
    }

    private static void moreDigits(int minDigits, int maxDigits, StringBuilder out) {
        out.append("[0-9]");
        if (minDigits == maxDigits && minDigits == 1) return;
        out.append('{').append(minDigits);
        if (maxDigits != minDigits) {
            out.append(',');
            if (maxDigits != Integer.MAX_VALUE) out.append(maxDigits);
        }
        out.append('}');
    }

    private static void uniformRange(String from, String to, StringBuilder out) {
        int i = 0;
        while (i < from.length() && i < to.length() && from.charAt(i) == to.charAt(i)) i++;
        if (i > 0) out.append('"').append(from, 0, i).append('"');
        if (i < from.length() && i < to.length()) {
            if (i > 0) out.append(' ');
            int subLen = from.length() - i - 1;
            char f = from.charAt(i);
            char t = to.charAt(i);
            if (subLen > 0) {
                String fromSub = from.substring(i + 1);
                String toSub = to.substring(i + 1);
                String subZeros = "0".repeat(subLen);
                String subNines = "9".repeat(subLen);
                boolean toReached = false;
                out.append('(');
                if (fromSub.equals(subZeros)) {
                    digitRange(f, (char) (t - 1), out);
                    out.append(' ');
                    moreDigits(subLen, subLen, out);
                } else {
                    out.append('[').append(f).append("] (");
                    uniformRange(fromSub, subNines, out);
                    out.append(')');
                    if (f < t - 1) {
                        out.append(" | ");
                        if (toSub.equals(subNines)) {
                            digitRange((char) (f + 1), t, out);
                            toReached = true;
                        } else {
                            digitRange((char) (f + 1), (char) (t - 1), out);
                        }
                        out.append(' ');
                        moreDigits(subLen, subLen, out);
                    }
                }
                if (!toReached) {
                    out.append(" | ");
                    digitRange(t, t, out);
                    out.append(' ');
                    uniformRange(subZeros, toSub, out);
                }
                out.append(')');
            } else {
                out.append('[').append(f).append('-').append(t).append(']');
            }
        }
    }

    /** llama.cpp's {@code build_min_max_int}: the alternatives of the decimal integers in [min, max]. */
    static void buildMinMaxInt(long minValue, long maxValue, StringBuilder out, int decimalsLeft, boolean topLevel) {
        boolean hasMin = minValue != Long.MIN_VALUE;
        boolean hasMax = maxValue != Long.MAX_VALUE;

        if (hasMin && hasMax) {
            if (minValue < 0 && maxValue < 0) {
                out.append("\"-\" (");
                buildMinMaxInt(-maxValue, -minValue, out, decimalsLeft, true);
                out.append(')');
                return;
            }
            if (minValue < 0) {
                out.append("\"-\" (");
                buildMinMaxInt(0, -minValue, out, decimalsLeft, true);
                out.append(") | ");
                minValue = 0;
            }
            String minS = Long.toString(minValue);
            String maxS = Long.toString(maxValue);
            for (int digits = minS.length(); digits < maxS.length(); digits++) {
                uniformRange(minS, "9".repeat(digits), out);
                minS = "1" + "0".repeat(digits);
                out.append(" | ");
            }
            uniformRange(minS, maxS, out);
            return;
        }

        int lessDecimals = Math.max(decimalsLeft - 1, 1);

        if (hasMin) {
            if (minValue < 0) {
                out.append("\"-\" (");
                buildMinMaxInt(Long.MIN_VALUE, -minValue, out, decimalsLeft, false);
                out.append(") | [0] | [1-9] ");
                moreDigits(0, decimalsLeft - 1, out);
            } else if (minValue == 0) {
                if (topLevel) {
                    out.append("[0] | [1-9] ");
                    moreDigits(0, lessDecimals, out);
                } else {
                    moreDigits(1, decimalsLeft, out);
                }
            } else if (minValue <= 9) {
                char c = (char) ('0' + minValue);
                char rangeStart = topLevel ? '1' : '0';
                if (c > rangeStart) {
                    digitRange(rangeStart, (char) (c - 1), out);
                    out.append(' ');
                    moreDigits(1, lessDecimals, out);
                    out.append(" | ");
                }
                digitRange(c, '9', out);
                out.append(' ');
                moreDigits(0, lessDecimals, out);
            } else {
                String minS = Long.toString(minValue);
                int len = minS.length();
                char c = minS.charAt(0);
                if (c > '1') {
                    digitRange(topLevel ? '1' : '0', (char) (c - 1), out);
                    out.append(' ');
                    moreDigits(len, lessDecimals, out);
                    out.append(" | ");
                }
                digitRange(c, c, out);
                out.append(" (");
                buildMinMaxInt(Long.parseLong(minS.substring(1)), Long.MAX_VALUE, out, lessDecimals, false);
                out.append(')');
                if (c < '9') {
                    out.append(" | ");
                    digitRange((char) (c + 1), '9', out);
                    out.append(' ');
                    moreDigits(len - 1, lessDecimals, out);
                }
            }
            return;
        }

        if (hasMax) {
            if (maxValue >= 0) {
                if (topLevel) {
                    out.append("\"-\" [1-9] ");
                    moreDigits(0, lessDecimals, out);
                    out.append(" | ");
                }
                buildMinMaxInt(0, maxValue, out, decimalsLeft, true);
            } else {
                out.append("\"-\" (");
                buildMinMaxInt(-maxValue, Long.MAX_VALUE, out, decimalsLeft, false);
                out.append(')');
            }
            return;
        }

        throw new IllegalStateException("At least one of min_value or max_value must be set");
    }

    // ---- patterns ----

    /** The pattern is a valid regular expression with no grammar equivalent. */
    private static final class UnsupportedPatternException extends Exception {
        private static final long serialVersionUID = 1L;

        UnsupportedPatternException(String message) {
            super(message, null, false, false);
        }
    }

    /** The pattern is not a valid regular expression. */
    private static final class InvalidPatternException extends Exception {
        private static final long serialVersionUID = 1L;

        InvalidPatternException(String message) {
            super(message, null, false, false);
        }
    }

    private String visitPattern(String pattern, String name) {
        TreeMap<String, String> snapshot = new TreeMap<>(rules);
        try {
            return patternToRule(pattern, name);
        } catch (UnsupportedPatternException e) {
            // revert the rules of the partial conversion
            rules.clear();
            rules.putAll(snapshot);
            warnings.add("pattern " + pattern + " is not supported (" + e.getMessage() + "), accepting any string");
            return addRule(name, addPrimitive("string", PRIMITIVE_RULES.get("string")));
        } catch (InvalidPatternException e) {
            rules.clear();
            rules.putAll(snapshot);
            errors.add("Invalid pattern " + pattern + ": " + e.getMessage());
            return "";
        }
    }

    private String patternToRule(String pattern, String name) throws UnsupportedPatternException, InvalidPatternException {
        if (pattern.length() < 2 || pattern.charAt(0) != '^' || pattern.charAt(pattern.length() - 1) != '$') {
            throw new UnsupportedPatternException("not anchored with '^' and '$'");
        }
        PatternTranslator translator = new PatternTranslator(pattern.substring(1, pattern.length() - 1), name);
        String rule = translator.transform().rule();
        if (translator.parenDepth != 0) throw new InvalidPatternException("unbalanced parentheses");
        return addRule(name, "\"\\\"\" (" + rule + ") \"\\\"\"");
    }

    /** A literal (unquoted, GBNF-escaped text) or a rule. */
    private record Piece(String text, boolean literal) {
        String rule() {
            return literal ? "\"" + text + "\"" : text;
        }
    }

    private static int escapeLength(int[] p, int pos) {
        if (pos + 1 >= p.length || p[pos] != '\\') return 0;
        int nHex;
        switch (p[pos + 1]) {
            case 'x' -> nHex = 2;
            case 'u' -> nHex = 4;
            case 'U' -> nHex = 8;
            // keep in sync with parse_char() in llama.cpp's src/llama-grammar.cpp
            case 't', 'r', 'n', '\\', '"', '[', ']', '-' -> {
                return 2;
            }
            default -> {
                return 0;
            }
        }
        if (pos + 2 + nHex > p.length) return 0;
        for (int i = pos + 2; i < pos + 2 + nHex; i++) {
            int h = p[i];
            if (!((h >= '0' && h <= '9') || (h >= 'a' && h <= 'f') || (h >= 'A' && h <= 'F'))) return 0;
        }
        return 2 + nHex;
    }

    private static String text(int[] p, int from, int to) {
        return new String(p, from, Math.min(to, p.length) - from);
    }

    private static boolean isNonLiteral(int c) {
        return NON_LITERAL_SET.indexOf(c) >= 0;
    }

    /** One pattern's translation: the state llama.cpp's {@code _pattern_to_rule} keeps in its lambdas. */
    private final class PatternTranslator {
        private final int[] p;
        private final String name;
        private final Map<String, String> subRuleIds = new HashMap<>();
        private int i;
        private int parenDepth;

        PatternTranslator(String subPattern, String name) {
            this.p = subPattern.codePoints().toArray();
            this.name = name;
        }

        private String dot() {
            return addRule("dot", dotall ? "[\\U00000000-\\U0010FFFF]" : "[^\\x0A\\x0D]");
        }

        // joins the sequence, merging consecutive literals together
        private Piece joinSeq(List<Piece> seq) {
            List<String> results = new ArrayList<>();
            StringBuilder literal = new StringBuilder();
            for (Piece item : seq) {
                if (item.literal()) {
                    literal.append(item.text());
                } else {
                    if (!literal.isEmpty()) {
                        results.add(new Piece(literal.toString(), true).rule());
                        literal.setLength(0);
                    }
                    results.add(item.rule());
                }
            }
            if (!literal.isEmpty()) results.add(new Piece(literal.toString(), true).rule());
            return new Piece(String.join(" ", results), false);
        }

        Piece transform() throws UnsupportedPatternException, InvalidPatternException {
            List<Piece> seq = new ArrayList<>();
            int length = p.length;
            while (i < length) {
                int c = p[i];
                if (c == '.') {
                    seq.add(new Piece(dot(), false));
                    i++;
                } else if (c == '(') {
                    i++;
                    if (i < length && p[i] == '?') {
                        if (i + 1 < length && p[i + 1] == ':') {
                            i += 2; // a non-capturing group is a plain group
                        } else {
                            // lookaround, named group, inline flags, ...
                            throw new UnsupportedPatternException("unsupported group syntax");
                        }
                    }
                    parenDepth++;
                    if (parenDepth > MAX_PATTERN_DEPTH) throw new UnsupportedPatternException("pattern nesting too deep");
                    seq.add(new Piece("(" + transform().rule() + ")", false));
                } else if (c == ')') {
                    i++;
                    if (parenDepth == 0) throw new InvalidPatternException("unbalanced parentheses");
                    parenDepth--;
                    return joinSeq(seq);
                } else if (c == '^' || c == '$') {
                    throw new UnsupportedPatternException("anchor inside the pattern");
                } else if (c == '[') {
                    StringBuilder squareBrackets = new StringBuilder("[");
                    i++;
                    while (i < length && p[i] != ']') {
                        if (p[i] == '\\') {
                            int escape = escapeLength(p, i);
                            if (escape == 0) {
                                throw new UnsupportedPatternException("unsupported escape in character class: " + text(p, i, i + 2));
                            }
                            squareBrackets.append(text(p, i, i + escape));
                            i += escape;
                        } else {
                            squareBrackets.appendCodePoint(p[i]);
                            i++;
                        }
                    }
                    if (i >= length) throw new InvalidPatternException("unterminated character class");
                    squareBrackets.append(']');
                    i++;
                    seq.add(new Piece(squareBrackets.toString(), false));
                } else if (c == '|') {
                    seq.add(new Piece("|", false));
                    i++;
                } else if (c == '*' || c == '+' || c == '?') {
                    if (seq.isEmpty()) throw new InvalidPatternException("nothing to repeat");
                    seq.set(seq.size() - 1, new Piece(seq.getLast().rule() + (char) c, false));
                    i++;
                } else if (c == '{') {
                    curlyBrackets(seq);
                } else {
                    StringBuilder literal = new StringBuilder();
                    while (i < length) {
                        if (p[i] == '\\') {
                            if (i == length - 1) throw new InvalidPatternException("trailing backslash");
                            int next = p[i + 1];
                            if (ESCAPED_IN_REGEXPS_BUT_NOT_IN_LITERALS.indexOf(next) >= 0) {
                                i++;
                                literal.appendCodePoint(p[i]);
                                i++;
                            } else {
                                int escape = escapeLength(p, i);
                                if (escape == 0) throw new UnsupportedPatternException("unsupported escape: " + text(p, i, i + 2));
                                literal.append(text(p, i, i + escape));
                                i += escape;
                            }
                        } else if (p[i] == '"') {
                            literal.append("\\\"");
                            i++;
                        } else if (!isNonLiteral(p[i])
                                && (i == length - 1 || literal.isEmpty() || p[i + 1] == '.' || !isNonLiteral(p[i + 1]))) {
                            literal.appendCodePoint(p[i]);
                            i++;
                        } else {
                            break;
                        }
                    }
                    if (literal.isEmpty()) { // nothing was consumed, e.g. a stray ']' or '}'
                        throw new UnsupportedPatternException("unsupported character: " + Character.toString(c));
                    }
                    seq.add(new Piece(literal.toString(), true));
                }
            }
            return joinSeq(seq);
        }

        private void curlyBrackets(List<Piece> seq) throws UnsupportedPatternException, InvalidPatternException {
            int start = i;
            i++;
            while (i < p.length && p[i] != '}') i++;
            if (i >= p.length) throw new UnsupportedPatternException("unterminated curly brackets");
            String inside = text(p, start + 1, i);
            i++;
            String[] nums = inside.split(",", -1);
            int minTimes = 0;
            int maxTimes = Integer.MAX_VALUE;
            if (nums.length != 1 && nums.length != 2) {
                throw new UnsupportedPatternException("wrong number of values in curly brackets");
            }
            try {
                if (nums.length == 1) {
                    minTimes = stoi(nums[0]);
                    maxTimes = minTimes;
                } else {
                    if (!nums[0].isEmpty()) minTimes = stoi(nums[0]);
                    if (!nums[1].isEmpty()) maxTimes = stoi(nums[1]);
                }
            } catch (NumberFormatException e) {
                throw new UnsupportedPatternException("invalid number in curly brackets");
            }
            if (seq.isEmpty()) throw new InvalidPatternException("nothing to repeat");
            Piece last = seq.getLast();
            String sub = last.text();
            if (!last.literal()) {
                String id = subRuleIds.get(sub);
                if (id == null) {
                    // the map counts the new entry before the rule is named after its size
                    subRuleIds.put(sub, "");
                    id = addRule(name + "-" + subRuleIds.size(), sub);
                    subRuleIds.put(sub, id);
                }
                sub = id;
            }
            seq.set(seq.size() - 1, new Piece(buildRepetition(last.literal() ? "\"" + sub + "\"" : sub, minTimes, maxTimes, ""), false));
        }
    }

    /** {@code std::stoi}: optional leading whitespace and sign, then digits; what follows them is ignored. */
    private static int stoi(String s) {
        int i = 0;
        while (i < s.length() && " \t\n\u000B\f\r".indexOf(s.charAt(i)) >= 0) i++;
        int start = i;
        if (i < s.length() && (s.charAt(i) == '+' || s.charAt(i) == '-')) i++;
        int digits = i;
        while (i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '9') i++;
        if (i == digits) throw new NumberFormatException("no digits: " + s);
        String number = s.substring(start, i);
        return Integer.parseInt(number.startsWith("+") ? number.substring(1) : number);
    }

    // ---- objects ----

    /**
     * A rule that matches a JSON string that is none of the given strings, e.g. for {@code a}:
     * {@code ["] ( [a] char+ | [^"a] char* )? ["]}.
     */
    private String notStrings(List<String> strings) {
        CodePointTrie trie = new CodePointTrie(strings);
        String charRule = addPrimitive("char", PRIMITIVE_RULES.get("char"));
        StringBuilder out = new StringBuilder("[\"] ( ");
        notStrings(trie.root(), charRule, out);
        out.append(" )");
        if (trie.root().pattern() < 0) out.append('?');
        out.append(" [\"]");
        return out.toString();
    }

    private static void notStrings(CodePointTrie.Node node, String charRule, StringBuilder out) {
        StringBuilder rejects = new StringBuilder();
        boolean first = true;
        for (Map.Entry<Integer, CodePointTrie.Node> e : node.children().entrySet()) {
            String c = Character.toString(e.getKey());
            rejects.append(c);
            if (!first) out.append(" | ");
            first = false;
            out.append('[').append(c).append(']');
            if (!e.getValue().children().isEmpty()) {
                out.append(" (");
                notStrings(e.getValue(), charRule, out);
                out.append(')');
            } else {
                out.append(' ').append(charRule).append('+');
            }
        }
        if (!node.children().isEmpty()) out.append(" | [^\"").append(rejects).append("] ").append(charRule).append('*');
    }

    private String resolveRef(RefSchema schema) {
        String ref = schema.ref();
        int hash = ref.indexOf('#');
        String fragment = hash >= 0 ? ref.substring(hash + 1) : ref;
        String refName = "ref" + INVALID_RULE_CHARS.matcher(fragment).replaceAll("-");
        if (!rules.containsKey(refName) && !refsBeingResolved.contains(ref)) {
            if (schema.target() == null) {
                errors.add("Unresolved $ref " + ref);
                return "";
            }
            refsBeingResolved.add(ref);
            resolveDepth++;
            refName = visit(schema.target(), refName);
            resolveDepth--;
            refsBeingResolved.remove(ref);
        }
        return refName;
    }

    private String buildObjectRule(List<Map.Entry<String, Schema>> properties, Set<String> required, String name,
                                   Schema additionalProperties) {
        List<String> requiredProps = new ArrayList<>();
        List<String> optionalProps = new ArrayList<>();
        Map<String, String> propKvRuleNames = new HashMap<>();
        List<String> propNames = new ArrayList<>();
        String prefix = name.isEmpty() ? "" : name + "-";
        for (Map.Entry<String, Schema> kv : properties) {
            String propName = kv.getKey();
            String propRuleName = visit(kv.getValue(), prefix + propName);
            StringBuilder key = new StringBuilder();
            NlohmannJson.escape(propName, key);
            propKvRuleNames.put(propName, addRule(prefix + propName + "-kv",
                    formatLiteral(key.toString()) + " space \":\" space " + propRuleName));
            if (required.contains(propName)) {
                requiredProps.add(propName);
            } else {
                optionalProps.add(propName);
            }
            propNames.add(propName);
        }
        if (additionalProperties != null) {
            String subName = prefix + "additional";
            String valueRule = additionalProperties instanceof AnySchema
                    ? addPrimitive("value", PRIMITIVE_RULES.get("value"))
                    : visit(additionalProperties, subName + "-value");
            String keyRule = propNames.isEmpty()
                    ? addPrimitive("string", PRIMITIVE_RULES.get("string"))
                    : addRule(subName + "-k", notStrings(propNames));
            propKvRuleNames.put("*", addRule(subName + "-kv", keyRule + " \":\" space " + valueRule));
            optionalProps.add("*");
        }

        if (requiredProps.isEmpty() && optionalProps.isEmpty()) return "\"{\" space \"}\"";

        StringBuilder rule = new StringBuilder("\"{\" space ");
        for (int i = 0; i < requiredProps.size(); i++) {
            if (i > 0) rule.append(" \",\" space ");
            rule.append(propKvRuleNames.get(requiredProps.get(i)));
        }
        if (!optionalProps.isEmpty()) {
            rule.append(" (");
            if (!requiredProps.isEmpty()) rule.append(" \",\" space ( ");
            for (int i = 0; i < optionalProps.size(); i++) {
                if (i > 0) rule.append(" | ");
                rule.append(recursiveRefs(optionalProps.subList(i, optionalProps.size()), false, name, propKvRuleNames));
            }
            if (!requiredProps.isEmpty()) rule.append(" )");
            rule.append(" )?");
        }
        rule.append(" space \"}\"");
        return rule.toString();
    }

    private String recursiveRefs(List<String> ks, boolean firstIsOptional, String name, Map<String, String> kvRuleNames) {
        if (ks.isEmpty()) return "";
        String k = ks.getFirst();
        String kvRuleName = kvRuleNames.get(k);
        String commaRef = "( \",\" space " + kvRuleName + " )";
        String res;
        if (firstIsOptional) {
            res = commaRef + ("*".equals(k) ? "*" : "?");
        } else {
            res = kvRuleName + ("*".equals(k) ? " " + commaRef + "*" : "");
        }
        if (ks.size() > 1) {
            res += " " + addRule((name.isEmpty() ? "" : name + "-") + k + "-rest",
                    recursiveRefs(ks.subList(1, ks.size()), true, name, kvRuleNames));
        }
        return res;
    }

    private String addPrimitive(String name, BuiltinRule rule) {
        String n = addRule(name, rule.content());
        for (String dep : rule.deps()) {
            BuiltinRule depRule = PRIMITIVE_RULES.get(dep);
            if (depRule == null) depRule = STRING_FORMAT_RULES.get(dep);
            if (depRule == null) {
                errors.add("Rule " + dep + " not known");
                continue;
            }
            if (!rules.containsKey(dep)) addPrimitive(dep, depRule);
        }
        return n;
    }

    // ---- the visit ----

    private String visitPrimitive(String ruleName, String type) {
        return addPrimitive("root".equals(ruleName) ? "root" : type, PRIMITIVE_RULES.get(type));
    }

    private String visitAllOf(AllOfSchema schema, String name, String ruleName) {
        // an allOf inlines its $refs, so reaching it again with no $ref resolved on the way would repeat forever
        Integer depth = allOfsBeingExpanded.get(schema);
        if (depth != null && depth == resolveDepth) {
            errors.add("allOf at " + ruleName + " contains itself through $ref");
            return "";
        }
        allOfsBeingExpanded.put(schema, resolveDepth);
        try {
            return expandAllOf(schema, name, ruleName);
        } finally {
            if (depth == null) {
                allOfsBeingExpanded.remove(schema);
            } else {
                allOfsBeingExpanded.put(schema, depth);
            }
        }
    }

    /** What an allOf's components add up to: their properties and how often each enum value occurs. */
    private static final class AllOfParts {
        private final Set<String> required = new HashSet<>();
        private final List<Map.Entry<String, Schema>> properties = new ArrayList<>();
        // sorted as std::map sorts the UTF-8 bytes: by code point
        private final Map<String, Integer> enumValues = new TreeMap<>(GrammarConverter::compareCodePoints);
        private final Set<RefSchema> expanding = Collections.newSetFromMap(new IdentityHashMap<>());

        void add(Schema component, boolean isRequired) {
            switch (component) {
                case RefSchema ref -> {
                    if (ref.target() != null && expanding.add(ref)) {
                        add(ref.target(), isRequired);
                        expanding.remove(ref);
                    }
                }
                case ObjectSchema obj -> {
                    for (Property prop : obj.properties()) {
                        properties.add(new SimpleImmutableEntry<>(prop.name(), prop.schema()));
                        if (isRequired) required.add(prop.name());
                    }
                }
                case EnumSchema e -> {
                    for (JsonNode v : e.values()) enumValues.merge(constantRule(v), 1, Integer::sum);
                }
                default -> { }
            }
        }
    }

    private String expandAllOf(AllOfSchema schema, String name, String ruleName) {
        AllOfParts parts = new AllOfParts();
        for (Schema child : schema.children()) {
            if (child instanceof AnyOfSchema anyOf) {
                for (Schema alt : anyOf.children()) parts.add(alt, false);
            } else {
                parts.add(child, true);
            }
        }
        if (!parts.enumValues.isEmpty()) {
            List<String> intersection = new ArrayList<>();
            parts.enumValues.forEach((value, count) -> {
                if (count == schema.children().size()) intersection.add(value);
            });
            if (!intersection.isEmpty()) return addRule(ruleName, "(" + String.join(" | ", intersection) + ")");
        }
        return addRule(ruleName, buildObjectRule(parts.properties, parts.required, name, null));
    }

    private static int compareCodePoints(String a, String b) {
        int i = 0;
        int j = 0;
        while (i < a.length() && j < b.length()) {
            int ca = a.codePointAt(i);
            int cb = b.codePointAt(j);
            if (ca != cb) return Integer.compare(ca, cb);
            i += Character.charCount(ca);
            j += Character.charCount(cb);
        }
        return Boolean.compare(i < a.length(), j < b.length());
    }

    private String visit(Schema schema, String name) {
        String ruleName = RESERVED_NAMES.contains(name) ? name + "-" : name.isEmpty() ? "root" : name;
        String subName = name.isEmpty() ? "" : name + "-";

        return switch (schema) {
            case RefSchema ref -> addRule(ruleName, resolveRef(ref));
            case AnyOfSchema anyOf -> {
                List<String> alts = new ArrayList<>();
                for (int i = 0; i < anyOf.children().size(); i++) {
                    alts.add(visit(anyOf.children().get(i), name + (name.isEmpty() ? "alternative-" : "-") + i));
                }
                yield addRule(ruleName, String.join(" | ", alts));
            }
            case AllOfSchema allOf -> visitAllOf(allOf, name, ruleName);
            case ConstSchema c -> addRule(ruleName, constantRule(c.value()));
            case EnumSchema e -> {
                List<String> values = new ArrayList<>();
                for (JsonNode v : e.values()) values.add(constantRule(v));
                yield addRule(ruleName, "(" + String.join(" | ", values) + ")");
            }
            case ObjectSchema obj -> {
                if (obj.properties().isEmpty() && obj.additionalProperties() instanceof AnySchema) {
                    yield addRule(ruleName, addPrimitive("object", PRIMITIVE_RULES.get("object")));
                }
                List<Map.Entry<String, Schema>> properties = new ArrayList<>();
                Set<String> required = new HashSet<>();
                for (Property prop : obj.properties()) {
                    properties.add(new SimpleImmutableEntry<>(prop.name(), prop.schema()));
                    if (prop.required()) required.add(prop.name());
                }
                yield addRule(ruleName, buildObjectRule(properties, required, name, obj.additionalProperties()));
            }
            case TupleSchema tuple -> {
                StringBuilder rule = new StringBuilder("\"[\" space ");
                for (int i = 0; i < tuple.items().size(); i++) {
                    if (i > 0) rule.append(" \",\" space ");
                    rule.append(visit(tuple.items().get(i), subName + "tuple-" + i));
                }
                rule.append(" space \"]\"");
                yield addRule(ruleName, rule.toString());
            }
            case ArraySchema arr -> {
                if (arr.items() instanceof AnySchema && arr.minItems() == 0 && arr.maxItems() < 0) {
                    yield visitPrimitive(ruleName, "array");
                }
                String itemRuleName = visit(arr.items(), subName + "item");
                int maxItems = arr.maxItems() < 0 ? Integer.MAX_VALUE : arr.maxItems();
                yield addRule(ruleName, "\"[\" space " + buildRepetition(itemRuleName, arr.minItems(), maxItems, "\",\" space")
                        + " space \"]\"");
            }
            case StringSchema str -> visitString(str, ruleName);
            case IntegerSchema i -> {
                if (i.minimum() == Long.MIN_VALUE && i.maximum() == Long.MAX_VALUE) yield visitPrimitive(ruleName, "integer");
                StringBuilder out = new StringBuilder("(");
                buildMinMaxInt(i.minimum(), i.maximum(), out, 16, true);
                yield addRule(ruleName, out.append(')').toString());
            }
            case NumberSchema n -> visitPrimitive(ruleName, "number");
            case BooleanSchema b -> visitPrimitive(ruleName, "boolean");
            case NullSchema n -> visitPrimitive(ruleName, "null");
            case AnySchema a -> addRule(ruleName, addPrimitive("value", PRIMITIVE_RULES.get("value")));
        };
    }

    private String visitString(StringSchema str, String ruleName) {
        if (!str.pattern().isEmpty()) return visitPattern(str.pattern(), ruleName);
        if (str.format() == StringFormat.UUID) return visitPrimitive(ruleName, "uuid");
        if (str.format() != StringFormat.NONE) {
            String primName = switch (str.format()) {
                case DATE -> "date-string";
                case TIME -> "time-string";
                default -> "date-time-string";
            };
            return addRule(ruleName, addPrimitive(primName, STRING_FORMAT_RULES.get(primName)));
        }
        if (str.minLength() > 0 || str.maxLength() >= 0) {
            String charRule = addPrimitive("char", PRIMITIVE_RULES.get("char"));
            int maxLen = str.maxLength() < 0 ? Integer.MAX_VALUE : str.maxLength();
            return addRule(ruleName, "\"\\\"\" " + buildRepetition(charRule, str.minLength(), maxLen, "") + " \"\\\"\"");
        }
        return visitPrimitive(ruleName, "string");
    }
}
