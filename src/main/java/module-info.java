/**
 * llama-java: GGUF language models in-process through llama.cpp, called with the Foreign Function &amp;
 * Memory API. Start with {@link dev.llamajava.LlamaModel}.
 */
module dev.llamajava {
    requires java.net.http;
    requires info.picocli;

    exports dev.llamajava;
    exports dev.llamajava.gguf;
    exports dev.llamajava.hub;

    opens dev.llamajava.cli to info.picocli;
}
