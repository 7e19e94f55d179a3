package dev.llamajava.langchain4j;

import dev.langchain4j.model.ModelProvider;
import dev.langchain4j.model.chat.Capability;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.llamajava.Engine;

import java.util.Set;

/** What the blocking and the streaming chat model share: the engine, the defaults, the declared capabilities. */
abstract class LlamaModels {

    final Requests requests;

    LlamaModels(Requests requests) {
        this.requests = requests;
    }

    /** @return the defaults every request starts from */
    public ChatRequestParameters defaultRequestParameters() {
        return requests.defaults;
    }

    /** @return JSON schema response formats (as grammars) */
    public Set<Capability> supportedCapabilities() {
        return Set.of(Capability.RESPONSE_FORMAT_JSON_SCHEMA);
    }

    /** @return {@link ModelProvider#OTHER}: llama.cpp in this process */
    public ModelProvider provider() {
        return ModelProvider.OTHER;
    }

    /** @return the engine it generates with */
    public Engine engine() {
        return requests.engine;
    }
}
