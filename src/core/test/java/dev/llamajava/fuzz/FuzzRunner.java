package dev.llamajava.fuzz;

import dev.llamajava.fuzz.GgufMutator.Variant;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * Runs variants through {@link FuzzChild} JVMs, a batch per JVM, a few JVMs at a time. A JVM that dies is
 * restarted from the variant after the one it was running (that one is recorded as {@code DIED}); one that
 * prints nothing for {@code perFileTimeout} seconds is killed and its variant recorded as {@code HUNG}.
 */
final class FuzzRunner {

    /** One variant's outcome: PRECHECK, LLAMA, FAILED, JAVA, RAN, DIED or HUNG. */
    record Result(Variant variant, String outcome, String detail) { }

    private static final String EOF = "\u0000EOF";
    private final Map<String, Path> bases;
    private final Path work;
    private final int parallel;
    private final int batchSize;
    private final long perFileTimeout;
    private final Set<Process> running = ConcurrentHashMap.newKeySet();
    private String classPath;

    FuzzRunner(Map<String, Path> bases, Path work, int parallel, int batchSize, long perFileTimeout) {
        this.bases = bases;
        this.work = work;
        this.parallel = parallel;
        this.batchSize = batchSize;
        this.perFileTimeout = perFileTimeout;
    }

    Map<String, Result> run(List<Variant> variants) throws Exception {
        Files.createDirectories(work);
        classPath = snapshotClassPath();
        Map<String, Result> results = new ConcurrentHashMap<>();
        ExecutorService pool = Executors.newFixedThreadPool(parallel);
        try {
            List<Future<?>> done = new ArrayList<>();
            for (int from = 0, b = 0; from < variants.size(); from += batchSize, b++) {
                List<Variant> batch = variants.subList(from, Math.min(variants.size(), from + batchSize));
                int n = b;
                done.add(pool.submit(() -> {
                    runBatch(n, batch, results);
                    return null;
                }));
            }
            for (Future<?> f : done) f.get();
        } finally {
            pool.shutdownNow();
            for (Process p : running) p.destroyForcibly();
        }
        return results;
    }

    private void runBatch(int n, List<Variant> batch, Map<String, Result> results) throws IOException, InterruptedException {
        Map<String, Variant> byId = new HashMap<>();
        for (Variant v : batch) byId.put(v.id(), v);
        List<Variant> left = batch;
        int stalls = 0;
        while (!left.isEmpty()) {
            Path jobs = work.resolve("jobs-" + n + ".tsv");
            StringBuilder sb = new StringBuilder();
            for (Variant v : left) sb.append(v.id()).append('\t').append(v.base()).append('\t').append(v.recipe()).append('\n');
            Files.writeString(jobs, sb, StandardCharsets.UTF_8);
            Path err = work.resolve("child-" + n + ".err");
            Process p = new ProcessBuilder(command(jobs, work.resolve("files-" + n)))
                    .directory(work.toFile()).redirectErrorStream(false)
                    .redirectError(err.toFile()).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
            running.add(p);
            LinkedBlockingQueue<String> lines = new LinkedBlockingQueue<>();
            Thread reader = Thread.ofVirtual().start(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
                    for (String line; (line = r.readLine()) != null; ) lines.add(line);
                } catch (IOException ignored) {
                    // the process is gone
                } finally {
                    lines.add(EOF);
                }
            });
            String current = null, last = null, frame = "";
            boolean finished = false;
            while (true) {
                String line = lines.poll(perFileTimeout, TimeUnit.SECONDS);
                if (line == null) {
                    p.destroyForcibly().waitFor();
                    if (current != null) results.put(current, new Result(byId.get(current), "HUNG", "no result after " + perFileTimeout + " s"));
                    break;
                }
                if (line.equals(EOF)) break;
                if (line.equals("DONE")) { finished = true; continue; }
                if (line.startsWith("# C  [") || line.startsWith("# J ")) frame = line.substring(2).strip() + " | ";
                int sp = line.indexOf(' ');
                if (sp < 0) continue;
                String kind = line.substring(0, sp);
                String rest = line.substring(sp + 1);
                String id = rest.contains(" ") ? rest.substring(0, rest.indexOf(' ')) : rest;
                String detail = rest.length() > id.length() ? rest.substring(id.length() + 1) : "";
                if (kind.equals("START")) current = id;
                else if (byId.containsKey(id)) {
                    results.put(id, new Result(byId.get(id), kind, detail));
                    last = id;
                    current = null;
                }
            }
            p.waitFor(30, TimeUnit.SECONDS);
            reader.join(5000);
            running.remove(p);
            if (finished) break;
            if (current != null && !results.containsKey(current)) {
                results.put(current, new Result(byId.get(current), "DIED", "exit " + exit(p) + ": " + frame + tail(err)));
            } else if (current == null && last != null) {
                results.put(last, new Result(byId.get(last), "DIED", "after its result line, exit " + exit(p) + ": " + frame + tail(err)));
            }
            List<Variant> rest = new ArrayList<>();
            for (Variant v : left) if (!results.containsKey(v.id())) rest.add(v);
            if (rest.size() == left.size()) {
                // a child that cannot start (e.g. the class path was being rebuilt): retry a few times, then give up
                if (++stalls > 3) throw new IllegalStateException("fuzz child JVM made no progress (exit " + exit(p) + "): " + tail(err));
                Thread.sleep(10_000);
            }
            left = rest;
        }
        deleteTree(work.resolve("files-" + n));
    }

    private static String exit(Process p) {
        return p.isAlive() ? "?" : Integer.toString(p.exitValue());
    }

    private List<String> command(Path jobs, Path files) {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.add("-Xmx1g");
        cmd.add("-Xss4m");
        cmd.add("-XX:+UseSerialGC");
        cmd.add("-XX:TieredStopAtLevel=1");
        cmd.add("-XX:-CreateCoredumpOnCrash");
        cmd.add("-XX:ErrorFile=" + work.resolve("hs_err_%p.log"));
        for (String k : System.getProperties().stringPropertyNames()) {
            if (k.startsWith("llama.") && !k.startsWith("llama.fuzz")) cmd.add("-D" + k + "=" + System.getProperty(k));
        }
        cmd.add("-cp");
        cmd.add(classPath);
        cmd.add(FuzzChild.class.getName());
        cmd.add(jobs.toString());
        cmd.add(files.toString());
        for (Map.Entry<String, Path> e : bases.entrySet()) cmd.add(e.getKey() + "=" + e.getValue());
        return cmd;
    }

    /**
     * This JVM's class path, with the build's class folders copied first: a build running beside the fuzz
     * may rewrite them while child JVMs still start.
     */
    private String snapshotClassPath() throws IOException {
        List<String> out = new ArrayList<>();
        int i = 0;
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            Path p = Path.of(e);
            String name = p.getFileName() == null ? "" : p.getFileName().toString();
            if (Files.isDirectory(p) && (name.equals("classes") || name.equals("test-classes"))) {
                Path copy = work.resolve("cp-" + i++);
                try (var s = Files.walk(p)) {
                    for (Path f : s.toList()) {
                        Path t = copy.resolve(p.relativize(f).toString());
                        if (Files.isDirectory(f)) Files.createDirectories(t);
                        else Files.copy(f, t, StandardCopyOption.REPLACE_EXISTING);
                    }
                }
                out.add(copy.toString());
            } else {
                out.add(e);
            }
        }
        return String.join(File.pathSeparator, out);
    }

    private static String tail(Path err) {
        try {
            List<String> all = Files.readAllLines(err, StandardCharsets.ISO_8859_1);
            List<String> keep = new ArrayList<>(), telling = new ArrayList<>();
            for (String s : all) {
                if (s.isBlank() || s.startsWith("WARNING") || s.contains("NativeLog emit")) continue;
                keep.add(s.strip());
                if (s.matches("(?i).*(ggml_assert|abort|terminate|what\\(\\)|error|fatal).*")) telling.add(s.strip());
            }
            List<String> pick = telling.isEmpty() ? keep : telling;
            return String.join(" | ", pick.subList(Math.max(0, pick.size() - 3), pick.size()));
        } catch (IOException e) {
            return "(no stderr: " + e + ")";
        }
    }

    /** Best effort: deletes a folder and what it holds. */
    static void deleteTree(Path dir) {
        if (!Files.exists(dir)) return;
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        } catch (IOException e) {
            System.err.println("could not delete " + dir + ": " + e);
        }
    }
}
