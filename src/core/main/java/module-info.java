/**
 * llama-java: GGUF language models in-process through llama.cpp, called with the Foreign Function &amp;
 * Memory API. Start with {@link dev.llamajava.LlamaModel}.
 */
module dev.llamajava {
    requires java.net.http;
    requires com.fasterxml.jackson.databind;

    exports dev.llamajava;
    exports dev.llamajava.gguf;
    exports dev.llamajava.hub;

    // For llama-java's own command line, never for applications.
    exports dev.llamajava.internal to dev.llamajava.cli;
    exports dev.llamajava.internal.loader to dev.llamajava.cli;
}
