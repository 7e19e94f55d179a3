package dev.llamajava.langchain4j;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.llamajava.Engine;
import dev.llamajava.GenerationResult;
import dev.llamajava.TokenStream;


/**
 * LangChain4j's {@link ChatModel} over an {@link Engine}: every call is one of the engine's parallel sequences, so any
 * number of threads (and {@code AiServices} proxies) share one model. The conversation is formatted with the model's
 * own chat template.
 *
 * <p>Mapped: temperature (0 is greedy), top-p, top-k, frequency and presence penalties, max output tokens (default
 * 512), stop sequences, the response format (JSON, or JSON under a schema: a grammar, so the answer always parses, and
 * {@code AiServices} returning a record or enum works with any model), and through {@link LlamaChatRequestParameters}
 * seed and min-p. The response carries token usage and the finish reason (STOP, LENGTH, OTHER when cancelled).
 * Not supported: tools, and content other than text ({@code UnsupportedFeatureException}). A full engine gives a
 * {@code RateLimitException} (retriable); values out of range an {@code InvalidRequestException}.
 *
 * <pre>{@code
 * ChatModel chat = LlamaChatModel.builder().engine(engine).build();
 * String answer = chat.chat("Name three colours.");
 * }</pre>
 */
public final class LlamaChatModel extends LlamaModels implements ChatModel {

    private LlamaChatModel(Requests requests) {
        super(requests);
    }

    /** @return a builder */
    public static Builder builder() {
        return new Builder();
    }

    @Override
    public ChatResponse doChat(ChatRequest request) {
        Requests.Started s = requests.start(request);
        try (TokenStream stream = s.stream()) {
            GenerationResult r = stream.collect(t -> { });
            return requests.response(r, s.promptTokens());
        }
    }

    /** Builder for {@link LlamaChatModel} and {@link LlamaStreamingChatModel}. */
    public static final class Builder {
        private Engine engine;
        private String modelName;
        private ChatRequestParameters defaults;

        private Builder() { }

        /** @param engine the engine (required); it stays the caller's to close @return this */
        public Builder engine(Engine engine) {
            this.engine = engine;
            return this;
        }

        /** @param modelName the name responses carry and requests may ask for (default: the GGUF file's name) @return this */
        public Builder modelName(String modelName) {
            this.modelName = modelName;
            return this;
        }

        /** @param defaults request parameters every request starts from ({@link LlamaChatRequestParameters} for seed and min-p) @return this */
        public Builder defaultRequestParameters(ChatRequestParameters defaults) {
            this.defaults = defaults;
            return this;
        }

        Requests requests() {
            return new Requests(engine, modelName, defaults);
        }

        /** @return the model @throws NullPointerException without an engine */
        public LlamaChatModel build() {
            return new LlamaChatModel(requests());
        }

        /** @return a streaming model with the same settings @throws NullPointerException without an engine */
        public LlamaStreamingChatModel buildStreaming() {
            return new LlamaStreamingChatModel(requests());
        }
    }
}
