package dev.llamajava;

import java.nio.file.Path;
import java.util.Arrays;

/** Child-JVM probe for loader failure tests: loads the natives and prints the outcome. */
public final class LoaderProbe {
    private LoaderProbe() { }

    public static void main(String[] args) {
        try {
            Llama.load();
            System.out.println("LOADED " + Llama.libraryDirectory() + " variant=" + Llama.cpuVariant());
            if (args.length > 0) {
                try (LlamaModel m = LlamaModel.load(Path.of(args[0]))) {
                    System.out.println("TOKENS " + Arrays.toString(m.tokenize("Once upon a time")));
                }
            }
        } catch (LlamaException e) {
            System.out.println("EXCEPTION " + e.getClass().getName());
            System.out.println(e.getMessage());
            System.exit(3);
        }
    }
}
