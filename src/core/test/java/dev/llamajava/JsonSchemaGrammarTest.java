package dev.llamajava;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;

import dev.llamajava.internal.schema.GrammarConverter;
import dev.llamajava.internal.schema.NlohmannJson;
import dev.llamajava.internal.schema.Schema;
import dev.llamajava.internal.schema.SchemaBuilder;
import dev.llamajava.internal.schema.SchemaDocument;

import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link JsonSchemaGrammar} against llama.cpp's own expectations: every case of the pinned
 * {@code tests/test-json-schema-to-grammar.cpp}, read from the source tree at test time, plus the two extra checks
 * of its {@code main()}.
 */
class JsonSchemaGrammarTest {

    private static final Pattern LEADING_BLANKS = Pattern.compile("(^|\n)[ \t]+");

    /** One {@code test({ STATUS, "name", schema, grammar });} block. */
    record Case(boolean success, String name, String schema, String grammar) { }

    static Path testSource() {
        return TestSupport.llamaSource().resolve("tests/test-json-schema-to-grammar.cpp");
    }

    static String readSource() {
        try {
            return Files.readString(testSource(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** @return every case of llama.cpp's test file, in order */
    static List<Case> cases() {
        return CppCases.parse(readSource());
    }

    /** @return {name, schema, expected grammar} for each SUCCESS case, for reuse by other tests */
    static List<String[]> successCases() {
        List<String[]> out = new ArrayList<>();
        for (Case c : cases()) {
            if (c.success()) out.add(new String[] {c.name(), c.schema(), c.grammar()});
        }
        return out;
    }

    /** llama.cpp's {@code trim}: outer whitespace off, then the blanks that start each line. */
    static String trim(String source) {
        int b = 0;
        int e = source.length();
        while (b < e && " \n\r\t".indexOf(source.charAt(b)) >= 0) b++;
        while (e > b && " \n\r\t".indexOf(source.charAt(e - 1)) >= 0) e--;
        return LEADING_BLANKS.matcher(source.substring(b, e)).replaceAll("$1");
    }

    private static int occurrences(String text, String needle) {
        int n = 0;
        for (int i = text.indexOf(needle); i >= 0; i = text.indexOf(needle, i + needle.length())) n++;
        return n;
    }

    @Test
    void parsesEveryCase() {
        String source = readSource();
        List<Case> cases = CppCases.parse(source);
        assertEquals(occurrences(source, "test({"), cases.size(), "cases parsed vs test({ blocks");
        assertEquals(81, cases.size(), "cases in the pinned llama.cpp test file");
        assertTrue(cases.stream().anyMatch(c -> !c.success()), "FAILURE cases parsed");
        assertEquals("{}", cases.stream().filter(c -> c.name().equals("empty schema (any value)")).findFirst()
                .orElseThrow().schema(), "a plain C string schema");
    }

    @TestFactory
    Stream<DynamicTest> llamaCppCases() {
        List<Case> cases = cases();
        assertEquals(occurrences(readSource(), "test({"), cases.size());
        return cases.stream().map(c -> DynamicTest.dynamicTest((c.success() ? "" : "FAILURE ") + c.name(), () -> {
            if (c.success()) {
                String actual = JsonSchemaGrammar.toGbnf(c.schema());
                assertEquals(trim(c.grammar()), trim(actual), "schema:\n" + c.schema());
            } else {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> JsonSchemaGrammar.toGbnf(c.schema()), "schema:\n" + c.schema());
                assertTrue(e.getMessage().startsWith("JSON schema conversion failed:\n"), e.getMessage());
            }
        }));
    }

    /** main()'s "parsed document": a document built up front gives the same grammar as the JSON, recursion too. */
    @Test
    void parsedDocument() {
        String text = """
                {
                    "$ref": "#/$defs/node",
                    "$defs": {
                        "node": {
                            "type": "object",
                            "properties": {"next": {"$ref": "#/$defs/node"}, "leaf": {}},
                            "additionalProperties": false
                        }
                    }
                }""";
        SchemaDocument doc = SchemaBuilder.build(NlohmannJson.parse(text));
        String fromDocument = GrammarConverter.convert(doc).grammar();
        assertEquals(JsonSchemaGrammar.toGbnf(text), fromDocument);
        assertTrue(fromDocument.contains("\nref-defs-node ::= \"{\" space  (ref-defs-node-next-kv "), fromDocument);
        assertTrue(fromDocument.contains("\nref-defs-node-next ::= ref-defs-node\n"), fromDocument);
    }

    /** main()'s "sub-schema $ref": a property node carries its $ref target, so its grammar names the ref rule. */
    @Test
    void subSchemaRef() {
        JsonNode parameters = NlohmannJson.parse("""
                {
                    "type": "object",
                    "properties": {"item": {"$ref": "#/$defs/item"}},
                    "$defs": {
                        "item": {
                            "type": "object",
                            "properties": {"a": {"type": "string"}},
                            "required": ["a"],
                            "additionalProperties": false
                        }
                    }
                }""");
        SchemaDocument doc = SchemaBuilder.build(parameters);
        Schema item = ((Schema.ObjectSchema) doc.root()).properties().getFirst().schema();
        GrammarConverter converter = new GrammarConverter(false);
        converter.addSchema("root", item);
        assertEquals(trim("""
                char ::= [^"\\\\\\x7F\\x00-\\x1F] | [\\\\] (["\\\\bfnrt] | "u" [0-9a-fA-F]{4})
                ref-defs-item ::= "{" space ref-defs-item-a-kv space "}"
                ref-defs-item-a-kv ::= "\\"a\\"" space ":" space string
                root ::= ref-defs-item
                space ::= | " " | "\\n"{1,2} [ \\t]{0,20}
                string ::= "\\"" char* "\\""
                """), trim(converter.grammar()));
    }

    @Test
    void anyObjectIsTheObjectTypeGrammar() {
        assertEquals(JsonSchemaGrammar.toGbnf("{\"type\": \"object\"}"), JsonSchemaGrammar.ANY_OBJECT);
        assertTrue(JsonSchemaGrammar.ANY_OBJECT.contains("\nroot ::= object\n"), JsonSchemaGrammar.ANY_OBJECT);
    }

    @Test
    void warningsAreReturned() {
        JsonSchemaGrammar.Result r = JsonSchemaGrammar.convert("{\"type\": \"string\", \"pattern\": \"[0-9]+\"}");
        assertEquals(List.of("pattern [0-9]+ is not supported (not anchored with '^' and '$'), accepting any string"),
                r.warnings());
        assertTrue(r.grammar().contains("\nroot ::= string\n"), r.grammar());
        assertEquals(List.of(), JsonSchemaGrammar.convert("{\"type\": \"string\"}").warnings());
    }

    @Test
    void errorsNameThePathAndKeyword() {
        assertEquals("JSON schema conversion failed:\nJSON schema error at #: unrecognized type kaboom",
                assertThrows(IllegalArgumentException.class, () -> JsonSchemaGrammar.toGbnf("{\"type\": \"kaboom\"}"))
                        .getMessage());
        assertEquals("JSON schema conversion failed:\nJSON schema error at #/properties/a: minLength must be a "
                        + "non-negative integer",
                assertThrows(IllegalArgumentException.class, () -> JsonSchemaGrammar.toGbnf(
                        "{\"properties\": {\"a\": {\"type\": \"string\", \"minLength\": 1.5}}}")).getMessage());
        assertEquals("JSON schema conversion failed:\nJSON schema error at #: unsupported $ref https://x/y, only "
                        + "references into the same document are supported",
                assertThrows(IllegalArgumentException.class, () -> JsonSchemaGrammar.toGbnf("{\"$ref\": \"https://x/y\"}"))
                        .getMessage());
        assertEquals("JSON schema conversion failed:\nJSON schema error at #/anyOf: must not be empty",
                assertThrows(IllegalArgumentException.class, () -> JsonSchemaGrammar.toGbnf("{\"anyOf\": []}"))
                        .getMessage());
        assertEquals("JSON schema conversion failed:\nInvalid pattern ^(a$: unbalanced parentheses",
                assertThrows(IllegalArgumentException.class,
                        () -> JsonSchemaGrammar.toGbnf("{\"type\": \"string\", \"pattern\": \"^(a$\"}")).getMessage());
        IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> JsonSchemaGrammar.toGbnf("{\"type\": "));
        assertTrue(bad.getMessage().startsWith("JSON schema conversion failed:\ninvalid JSON text: "), bad.getMessage());
        assertThrows(IllegalArgumentException.class, () -> JsonSchemaGrammar.toGbnf("{} {}"));
        assertThrows(IllegalArgumentException.class, () -> JsonSchemaGrammar.toGbnf(""));
    }

    /** Where llama.cpp overflows its stack, an allOf that inlines itself through $ref is an error here. */
    @Test
    void allOfContainingItselfIsAnError() {
        String schema = """
                {"$ref": "#/$defs/a", "$defs": {"a": {"properties": {"x": {"allOf": [{"$ref": "#/$defs/a"}]}}}}}""";
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> JsonSchemaGrammar.toGbnf(schema));
        assertTrue(e.getMessage().startsWith("JSON schema conversion failed:\nallOf at "), e.getMessage());
        // a chain of $refs back to itself inside an allOf contributes nothing
        assertEquals(JsonSchemaGrammar.toGbnf("{\"allOf\": [{\"properties\": {}, \"additionalProperties\": false}]}"),
                JsonSchemaGrammar.toGbnf("{\"allOf\": [{\"$ref\": \"#/$defs/a\"}], \"$defs\": {\"a\": {\"$ref\": \"#/$defs/a\"}}}"));
    }

    @Test
    void integerBoundsFoldAndRound() {
        assertEquals(JsonSchemaGrammar.toGbnf("{\"type\": \"integer\", \"minimum\": 3}"),
                JsonSchemaGrammar.toGbnf("{\"type\": \"integer\", \"exclusiveMinimum\": 2}"));
        assertEquals(JsonSchemaGrammar.toGbnf("{\"type\": \"integer\", \"minimum\": 3}"),
                JsonSchemaGrammar.toGbnf("{\"type\": \"integer\", \"minimum\": 2.5}"));
        assertEquals(JsonSchemaGrammar.toGbnf("{\"type\": \"integer\", \"maximum\": 30}"),
                JsonSchemaGrammar.toGbnf("{\"type\": \"integer\", \"exclusiveMaximum\": 30.5}"));
    }

    /** nlohmann's dump(), as the grammar shows constants. */
    @Test
    void constantsAreDumpedAsNlohmannDoes() {
        String[][] expected = {
            {"1", "1"}, {"-0", "0"}, {"1.0", "1.0"}, {"-0.0", "-0.0"}, {"0.5", "0.5"}, {"1e2", "100.0"},
            {"0.001", "0.001"}, {"0.0001", "0.0001"}, {"0.00001", "1e-05"}, {"1.5e-7", "1.5e-07"},
            {"1e15", "1e+15"}, {"1e14", "100000000000000.0"}, {"123456.789", "123456.789"}, {"1e100", "1e+100"},
            {"2.5e-300", "2.5e-300"}, {"0.1", "0.1"}, {"1.7976931348623157e308", "1.7976931348623157e+308"},
            {"18446744073709551615", "18446744073709551615"}, {"-9223372036854775808", "-9223372036854775808"},
            {"18446744073709551616", "1.8446744073709552e+19"}, {"5e-324", "5e-324"},
            // Grisu2 digits, not Double.toString's: longer, or a different last digit
            {"7.036870839547745e+177", "7.0368708395477454e+177"}, {"760776619738515.2", "760776619738515.3"},
            {"5.299064834871378e+16", "5.2990648348713776e+16"},
            {"\"a\\u0001\\u001f\\u007f\\b\\f\\n\\r\\t\\\"\\\\/\u00e9\"", "\"a\\u0001\\u001f\u007f\\b\\f\\n\\r\\t\\\"\\\\/\u00e9\""},
            {"{\"b\": [1, 2.0, true, null], \"a\": {}}", "{\"b\":[1,2.0,true,null],\"a\":{}}"},
        };
        for (String[] e : expected) {
            assertEquals(e[1], NlohmannJson.dump(NlohmannJson.parse(e[0])), e[0]);
        }
        assertEquals("[null,null]", NlohmannJson.dump(JsonNodeFactory.instance.arrayNode()
                .add(Double.POSITIVE_INFINITY).add(Double.NaN)));
        // nlohmann: "number overflow parsing '1e400'"
        assertThrows(IllegalArgumentException.class, () -> NlohmannJson.parse("[1e400]"));
        assertEquals("root ::= (\"0.5\" | \"1e-07\" | \"\\\"\u00e9\\\\u0001\\\"\")\n"
                        + "space ::= | \" \" | \"\\n\"{1,2} [ \\t]{0,20}\n",
                JsonSchemaGrammar.toGbnf("{\"enum\": [0.5, 1e-7, \"\u00e9\\u0001\"]}"));
    }

    /** Reads the {@code test({...});} blocks of a C++ source: C and raw string literals, comments skipped. */
    static final class CppCases {
        private final String src;
        private int pos;

        private CppCases(String src, int pos) {
            this.src = src;
            this.pos = pos;
        }

        static List<Case> parse(String src) {
            List<Case> out = new ArrayList<>();
            String opener = "test({";
            for (int at = src.indexOf(opener); at >= 0; at = src.indexOf(opener, at + opener.length())) {
                CppCases p = new CppCases(src, at + opener.length());
                String status = p.identifier();
                p.expect(',');
                String name = p.string();
                p.expect(',');
                String schema = p.string();
                p.expect(',');
                String grammar = p.string();
                p.skipBlank();
                if (p.peek() == ',') p.pos++;
                p.expect('}');
                p.expect(')');
                p.expect(';');
                if (!status.equals("SUCCESS") && !status.equals("FAILURE")) throw p.error("status " + status);
                out.add(new Case(status.equals("SUCCESS"), name, schema, grammar));
            }
            return out;
        }

        private IllegalStateException error(String what) {
            int line = 1;
            for (int i = 0; i < pos && i < src.length(); i++) if (src.charAt(i) == '\n') line++;
            return new IllegalStateException("cannot parse test case at line " + line + ": " + what);
        }

        private char peek() {
            return pos < src.length() ? src.charAt(pos) : '\0';
        }

        private void skipBlank() {
            while (pos < src.length()) {
                if (Character.isWhitespace(src.charAt(pos))) {
                    pos++;
                } else if (src.startsWith("//", pos)) {
                    int nl = src.indexOf('\n', pos);
                    pos = nl < 0 ? src.length() : nl + 1;
                } else if (src.startsWith("/*", pos)) {
                    int end = src.indexOf("*/", pos + 2);
                    if (end < 0) throw error("unterminated comment");
                    pos = end + 2;
                } else {
                    return;
                }
            }
        }

        private void expect(char c) {
            skipBlank();
            if (peek() != c) throw error("expected '" + c + "', found '" + peek() + "'");
            pos++;
        }

        private String identifier() {
            skipBlank();
            int start = pos;
            while (pos < src.length() && (Character.isLetterOrDigit(src.charAt(pos)) || src.charAt(pos) == '_')) pos++;
            if (start == pos) throw error("expected an identifier");
            return src.substring(start, pos);
        }

        /** One string, adjacent literals concatenated as C++ does. */
        private String string() {
            StringBuilder out = new StringBuilder();
            skipBlank();
            if (peek() != '"' && !src.startsWith("R\"", pos)) throw error("expected a string literal");
            while (true) {
                skipBlank();
                if (src.startsWith("R\"", pos)) {
                    rawString(out);
                } else if (peek() == '"') {
                    cString(out);
                } else {
                    return out.toString();
                }
            }
        }

        private void rawString(StringBuilder out) {
            pos += 2;
            int open = src.indexOf('(', pos);
            if (open < 0) throw error("raw string without '('");
            String delimiter = src.substring(pos, open);
            String close = ")" + delimiter + "\"";
            int end = src.indexOf(close, open + 1);
            if (end < 0) throw error("unterminated raw string");
            out.append(src, open + 1, end);
            pos = end + close.length();
        }

        private void cString(StringBuilder out) {
            pos++;
            while (true) {
                if (pos >= src.length()) throw error("unterminated string");
                char c = src.charAt(pos++);
                if (c == '"') return;
                if (c != '\\') {
                    out.append(c);
                    continue;
                }
                char e = src.charAt(pos++);
                switch (e) {
                    case 'n' -> out.append('\n');
                    case 't' -> out.append('\t');
                    case 'r' -> out.append('\r');
                    case 'a' -> out.append('\u0007');
                    case 'b' -> out.append('\b');
                    case 'f' -> out.append('\f');
                    case 'v' -> out.append('\u000B');
                    case '\\', '"', '\'', '?' -> out.append(e);
                    case 'x' -> {
                        int start = pos;
                        while (pos < src.length() && Character.digit(src.charAt(pos), 16) >= 0) pos++;
                        out.append((char) Integer.parseInt(src.substring(start, pos), 16));
                    }
                    case 'u' -> {
                        out.append((char) Integer.parseInt(src.substring(pos, pos + 4), 16));
                        pos += 4;
                    }
                    default -> {
                        if (e < '0' || e > '7') throw error("unknown escape \\" + e);
                        int start = pos - 1;
                        while (pos < src.length() && pos < start + 3 && src.charAt(pos) >= '0' && src.charAt(pos) <= '7') pos++;
                        out.append((char) Integer.parseInt(src.substring(start, pos), 8));
                    }
                }
            }
        }
    }
}
