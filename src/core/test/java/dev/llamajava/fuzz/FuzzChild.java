package dev.llamajava.fuzz;

import dev.llamajava.ContextParams;
import dev.llamajava.GenerationParams;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaException;
import dev.llamajava.LlamaModel;
import dev.llamajava.ModelLoadException;
import dev.llamajava.TokenStream;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Runs in a child JVM: for each job (one line {@code id<TAB>base<TAB>recipe} of the jobs file) it writes the
 * variant, loads it through {@link LlamaModel#load}, and when it loads, generates 4 tokens greedily.
 * Prints {@code START id} before each and one result line after: {@code PRECHECK id reason} (refused in Java),
 * {@code LLAMA id message} (llama.cpp refused it), {@code FAILED id message} (loaded, then a context or the
 * generation failed with an exception), {@code JAVA id exception} (an unexpected Java exception), or
 * {@code RAN id}. A JVM that dies leaves a START without a result.
 *
 * <p>Arguments: {@code jobs-file work-dir name=base.gguf...}
 */
public final class FuzzChild {

    static final String PROMPT = "Once upon a time, Lily saw a llama 🦙 in the café.";

    private FuzzChild() { }

    public static void main(String[] args) throws Exception {
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        List<String> jobs = Files.readAllLines(Path.of(args[0]), StandardCharsets.UTF_8);
        Path work = Path.of(args[1]);
        Files.createDirectories(work);
        Map<String, byte[]> bases = new HashMap<>();
        Map<String, GgufLayout> layouts = new HashMap<>();
        for (int i = 2; i < args.length; i++) {
            String[] kv = args[i].split("=", 2);
            byte[] b = Files.readAllBytes(Path.of(kv[1]));
            bases.put(kv[0], b);
            layouts.put(kv[0], GgufLayout.of(b));
        }
        for (String job : jobs) {
            if (job.isBlank()) continue;
            String[] f = job.split("\t", 3);
            out.println("START " + f[0]);
            Path file = work.resolve(f[0] + ".gguf");
            try {
                Files.write(file, Recipe.apply(bases.get(f[1]), layouts.get(f[1]), f[2]));
            } catch (RuntimeException e) {
                out.println("JAVA " + f[0] + " recipe: " + oneLine(e.toString()));
                continue;
            }
            out.println(run(f[0], file));
            Files.deleteIfExists(file);
        }
        out.println("DONE");
    }

    /** Loads and runs one file; returns its result line. */
    static String run(String id, Path file) {
        LlamaModel model;
        try {
            model = LlamaModel.load(file);
        } catch (ModelLoadException e) {
            String m = oneLine(e.getMessage());
            String refused = "Refused " + file + " before llama.cpp saw it: ";
            if (m.startsWith(refused)) return "PRECHECK " + id + " " + m.substring(refused.length());
            String detail = m.replace(file.toString(), "<file>");
            // llama.cpp's refusal, or our check of the file's size and magic before it
            return (m.startsWith("llama.cpp could not load") ? "LLAMA " : "PRECHECK ") + id + " " + detail;
        } catch (RuntimeException | Error e) {
            return "JAVA " + id + " load: " + oneLine(e.toString());
        }
        try (model; LlamaContext ctx = LlamaContext.create(model, ContextParams.builder().contextSize(128).batchSize(128).microBatchSize(128).threads(1).threadsBatch(1).build());
             TokenStream ts = ctx.generate(PROMPT, GenerationParams.builder().greedy().maxTokens(4).build())) {
            int n = 0;
            while (ts.hasNext()) {
                ts.next();
                n++;
            }
            return "RAN " + id + " " + n;
        } catch (LlamaException e) {
            return "FAILED " + id + " " + oneLine(e.getMessage()).replace(file.toString(), "<file>");
        } catch (RuntimeException | Error e) {
            return "JAVA " + id + " run: " + oneLine(e.toString());
        }
    }

    private static String oneLine(String s) {
        String t = String.valueOf(s).replace('\n', ' ').replace('\r', ' ').replace('\t', ' ');
        return t.length() > 400 ? t.substring(0, 400) + "..." : t;
    }
}
