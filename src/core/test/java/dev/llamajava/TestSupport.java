package dev.llamajava;

import dev.llamajava.gguf.SyntheticModel;

import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/** Paths and process helpers shared by the tests. */
public final class TestSupport {

    private TestSupport() { }

    static String prop(String name) {
        String v = System.getProperty(name);
        if (v == null || v.isBlank()) fail("system property " + name + " is not set (run the tests through Maven)");
        return v;
    }

    /** ../shared (read-only data for tests). */
    public static Path sharedDir() {
        return Path.of(prop("llama.shared.dir")).toAbsolutePath().normalize();
    }

    /** The real small model every test that needs meaningful text uses. */
    public static Path stories260K() {
        Path p = sharedDir().resolve("models/stories260K.gguf");
        assertTrue(Files.isRegularFile(p), "missing " + p);
        return p;
    }

    /** llama.cpp's build tree bin/ (reference tools: llama-simple, llama-tokenize, ...). */
    public static Path toolsDir() {
        return Path.of(prop("llama.tools.dir")).toAbsolutePath();
    }

    public static Path tool(String name) {
        Path p = toolsDir().resolve(name);
        assertTrue(Files.isExecutable(p), "reference tool missing: " + p + " (run ci/build-native)");
        return p;
    }

    /**
     * The environment for a reference tool that prints its results through llama.cpp's asynchronous log
     * ({@code llama-embedding}, {@code llama-batched-bench}): preloads our log flush, without which the pinned
     * llama.cpp loses the last lines whenever the process exits first (native/tools/logflush.c).
     */
    public static Map<String, String> toolLogEnv() {
        Path flush = toolsDir().resolve("libllamajava_logflush.so");
        assertTrue(Files.isRegularFile(flush), "missing " + flush + " (run ci/build-native)");
        return Map.of("LD_PRELOAD", flush.toString());
    }

    /** The pinned llama.cpp source tree. */
    public static Path llamaSource() {
        return Path.of(prop("llama.cpp.source"));
    }

    /** Writes the tiny synthetic model (Llama 3 vocabulary, random weights, F16) to {@code out}. */
    public static Path writeTinyModel(Path out, long seed) throws IOException {
        SyntheticModel.writeF16(out, SyntheticModel.TINY, seed,
                llamaSource().resolve("models/ggml-vocab-llama-bpe.gguf"), null);
        return out;
    }

    /** @return a loopback port nothing listens on (just now) */
    public static int freePort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    public static Path workDir(String name) throws IOException {
        Path d = Path.of(prop("llama.test.workdir")).resolve(name);
        Files.createDirectories(d);
        return d;
    }

    /** Result of a child process. */
    public record Proc(int exit, String stdout, String stderr) { }

    public static Proc run(List<String> cmd, Path dir, Map<String, String> env, long timeoutSeconds)
            throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        if (dir != null) pb.directory(dir.toFile());
        if (env != null) pb.environment().putAll(env);
        pb.environment().remove("LLAMA_LIBRARY_PATH");
        Path out = Files.createTempFile("proc", ".out");
        Path err = Files.createTempFile("proc", ".err");
        try {
            pb.redirectOutput(out.toFile()).redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            Process p = pb.start();
            if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail("timed out after " + timeoutSeconds + " s: " + cmd);
            }
            return new Proc(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    /** A java command line for a child JVM with this JVM's class path (or the given one). */
    public static List<String> javaCommand(String classPath, List<String> jvmArgs, String mainClass, String... args) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(jvmArgs);
        cmd.add("-cp");
        cmd.add(classPath);
        cmd.add(mainClass);
        cmd.addAll(List.of(args));
        return cmd;
    }

    /** {@code llama-embedding ... --embd-output-format json}: the vectors it prints (%1.7f each). */
    public static List<float[]> llamaEmbedding(Path model, List<String> prompts, String pooling, int normalize) throws Exception {
        var r = run(List.of(tool("llama-embedding").toString(), "-m", model.toString(),
                "-p", String.join("\n", prompts), "--pooling", pooling, "--embd-normalize", Integer.toString(normalize),
                "--embd-output-format", "json", "-t", "2", "-c", "512", "--no-warmup"), null, toolLogEnv(), 300);
        if (r.exit() != 0) throw new AssertionError("llama-embedding exited " + r.exit() + ": " + r.stderr());
        String out = r.stdout();
        if (out.indexOf('{') < 0) throw new AssertionError("llama-embedding printed no JSON; stdout: " + out + "\nstderr: " + r.stderr());
        // each "embedding": [...] array, read as text: past a reranker's outputs the tool prints whatever lies after
        // them in memory (it reads n_embd floats of a vector that holds n_cls_out), sometimes -nan
        List<float[]> vectors = new ArrayList<>();
        Matcher m = Pattern.compile("\"embedding\": \\[([^\\]]*)\\]").matcher(out);
        while (m.find()) {
            String[] parts = m.group(1).split(",");
            float[] v = new float[parts.length];
            for (int i = 0; i < v.length; i++) {
                String p = parts[i].trim();
                v[i] = p.contains("nan") ? Float.NaN : Float.parseFloat(p);
            }
            vectors.add(v);
        }
        return vectors;
    }
}
