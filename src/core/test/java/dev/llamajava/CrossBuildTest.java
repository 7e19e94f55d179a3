package dev.llamajava;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cross-built natives run: llama.cpp's {@code llama-simple} from the linux-aarch64 build under {@code qemu-aarch64}
 * (Debian's qemu-user) and from the windows-x86_64 build under Wine prints the same greedy text on stories260K as the
 * linux-x86_64 build's, for the same prompts. The cross trees come from {@code ci/build-native --target ...}
 * ({@code build/native-<target>}); {@code ci/test} builds both, so in CI (CI=true) a missing one fails the test, and
 * only a developer's partial build skips it, saying why.
 */
class CrossBuildTest {

    static final List<String> PROMPTS = List.of("Once upon a time", "The little dog", "Lily wanted to");

    static Path crossDir(String target) {
        return TestSupport.toolsDir().getParent().resolve("native-" + target);
    }

    /** What llama-simple prints after the prompt: the greedy continuation. */
    static String continuation(List<String> cmd, Map<String, String> env) throws Exception {
        var r = TestSupport.run(cmd, null, env, 600);
        assertEquals(0, r.exit(), String.join(" ", cmd) + "\n" + r.stderr());
        return r.stdout().replace("\r\n", "\n").strip();
    }

    @ParameterizedTest
    @ValueSource(strings = {"linux-aarch64", "windows-x86_64"})
    void crossBuiltLlamaSimplePrintsTheSameGreedyText(String target) throws Exception {
        Path dir = crossDir(target);
        boolean windows = target.startsWith("windows");
        Path exe = dir.resolve(windows ? "llama-simple.exe" : "llama-simple");
        if (!Files.isRegularFile(exe)) {
            String why = exe + " is missing: run ci/build-native --target " + target;
            if (System.getenv("CI") != null) throw new AssertionError(why + " (ci/test builds it)");
            Assumptions.abort("skipped: " + why);
        }
        Path stories = TestSupport.stories260K();
        // llama-simple takes no thread count: its 4 threads spin on 2 cores, which Wine makes ~0.6 s a token here
        String n = windows ? "32" : "48";
        for (String prompt : PROMPTS) {
            List<String> args = List.of("-m", stories.toString(), "-n", n, prompt);
            List<String> native64 = new ArrayList<>(List.of(TestSupport.tool("llama-simple").toString()));
            native64.addAll(args);
            String expected = continuation(native64, TestSupport.toolLogEnv());
            List<String> cross = new ArrayList<>();
            if (windows) {
                cross.addAll(List.of("wine", exe.toString()));
                cross.addAll(List.of("-m", "Z:" + stories.toRealPath().toString().replace('/', '\\'), "-n", n, prompt));
            } else {
                cross.addAll(List.of("qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", exe.toString()));
                cross.addAll(args);
            }
            String got = continuation(cross, windows ? Map.of("WINEDEBUG", "-all", "WINEPREFIX", winePrefix().toString()) : Map.of());
            assertTrue(expected.length() > prompt.length() + 20, "the x86-64 build printed too little: " + expected);
            assertEquals(expected, got, target + " vs linux-x86_64 for '" + prompt + "'");
        }
    }

    static Path winePrefix() throws Exception {
        return TestSupport.workDir("wine-prefix");
    }
}
