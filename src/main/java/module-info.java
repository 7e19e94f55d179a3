/**
 * llama-java: GGUF language models in-process through llama.cpp, called with the Foreign Function &amp;
 * Memory API. Start with {@link dev.llamajava.LlamaModel}.
 */
module dev.llamajava {
    exports dev.llamajava;
    exports dev.llamajava.gguf;
}
