package dev.llamajava.bench;

import dev.llamajava.SyntheticModels;
import dev.llamajava.gguf.SyntheticModel;

/** Prints the path of the cached synthetic Llama-3.2-1B model of a quantization (writing it first if needed), for scripts. */
public final class SyntheticPath {
    private SyntheticPath() { }

    /** @param args the quantization (default Q4_K_M) */
    public static void main(String[] args) {
        System.out.println(SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, args.length > 0 ? args[0] : "Q4_K_M", null));
    }
}
