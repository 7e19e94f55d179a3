package dev.llamajava.ffi;

import dev.llamajava.TestSupport;
import org.junit.jupiter.api.Test;

import java.lang.foreign.GroupLayout;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.PaddingLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every struct defined in llama.h (and ggml-backend.h, whose device structs we use) has a generated
 * class whose layout matches what gcc says: sizeof and offsetof of every member.
 */
class StructLayoutTest {

    private static final Pattern STRUCT_DEF = Pattern.compile("^\\s*(?:typedef\\s+)?struct\\s+(\\w+)\\s*\\{", Pattern.MULTILINE);

    /** Struct names defined in a header, found by text (independently of libclang). */
    static Set<String> structsDefinedIn(Path header) throws Exception {
        Set<String> out = new LinkedHashSet<>();
        String text = Files.readString(header).replaceAll("(?m)//.*$", "");
        Matcher m = STRUCT_DEF.matcher(text);
        while (m.find()) out.add(m.group(1));
        return out;
    }

    @Test
    void everyStructOfLlamaHMatchesGcc() throws Exception {
        Path src = TestSupport.llamaSource();
        Path llamaH = src.resolve("include/llama.h");
        Path backendH = src.resolve("ggml/include/ggml-backend.h");
        Set<String> structs = new LinkedHashSet<>(structsDefinedIn(llamaH));
        assertTrue(structs.size() >= 15, "expected the llama.h structs, found " + structs);
        Set<String> backendStructs = structsDefinedIn(backendH);
        structs.addAll(backendStructs);

        // member name -> C expression path, from the generated layouts
        Map<String, Map<String, String>> members = new LinkedHashMap<>();
        Map<String, Long> javaSizes = new LinkedHashMap<>();
        Map<String, Map<String, Long>> javaOffsets = new LinkedHashMap<>();
        for (String s : structs) {
            Class<?> c;
            try {
                c = Class.forName("dev.llamajava.ffi." + s);
            } catch (ClassNotFoundException e) {
                fail("no generated class for struct " + s);
                return;
            }
            GroupLayout layout = (GroupLayout) c.getMethod("layout").invoke(null);
            javaSizes.put(s, layout.byteSize());
            Map<String, Long> offs = new LinkedHashMap<>();
            Map<String, String> names = new LinkedHashMap<>();
            collect(layout, 0, "", offs, names);
            javaOffsets.put(s, offs);
            members.put(s, names);
        }

        StringBuilder prog = new StringBuilder("#include <stdio.h>\n#include <stddef.h>\n#include \"llama.h\"\n#include \"ggml-backend.h\"\nint main(void) {\n");
        for (String s : structs) {
            prog.append("  printf(\"").append(s).append(" sizeof %zu\\n\", sizeof(struct ").append(s).append("));\n");
            for (String m : members.get(s).keySet()) {
                prog.append("  printf(\"").append(s).append(" ").append(m).append(" %zu\\n\", offsetof(struct ")
                    .append(s).append(", ").append(members.get(s).get(m)).append("));\n");
            }
        }
        prog.append("  return 0;\n}\n");
        Path dir = TestSupport.workDir("layout");
        Path c = dir.resolve("layout.c");
        Files.writeString(c, prog);
        Path exe = dir.resolve("layout");
        var cc = TestSupport.run(List.of("gcc", "-std=c11", "-I", src.resolve("include").toString(), "-I",
                src.resolve("ggml/include").toString(), "-o", exe.toString(), c.toString()), dir, null, 120);
        assertEquals(0, cc.exit(), "gcc failed: " + cc.stderr());
        var run = TestSupport.run(List.of(exe.toString()), dir, null, 60);
        assertEquals(0, run.exit());

        int checked = 0;
        List<String> mismatches = new ArrayList<>();
        for (String line : run.stdout().split("\n")) {
            String[] p = line.split(" ");
            String s = p[0];
            long cValue = Long.parseLong(p[2]);
            long jValue = p[1].equals("sizeof") ? javaSizes.get(s) : javaOffsets.get(s).get(p[1]);
            if (cValue != jValue) mismatches.add(s + "." + p[1] + ": C " + cValue + ", Java " + jValue);
            checked++;
        }
        assertTrue(mismatches.isEmpty(), "layout mismatches: " + mismatches);
        assertTrue(checked > 150, "checked only " + checked + " values");
    }

    /** Members of a layout; anonymous members ($anon$N) are flattened as C11 lets offsetof reach them. */
    private static void collect(GroupLayout g, long base, String prefix, Map<String, Long> offs, Map<String, String> names) {
        for (MemoryLayout m : g.memberLayouts()) {
            if (m instanceof PaddingLayout || m.name().isEmpty()) continue;
            String n = m.name().get();
            long off = base + g.byteOffset(MemoryLayout.PathElement.groupElement(n));
            if (n.startsWith("$anon$") && m instanceof GroupLayout inner) {
                collect(inner, off, prefix, offs, names);
            } else {
                offs.put(prefix + n, off);
                names.put(prefix + n, prefix + n);
            }
        }
    }
}
