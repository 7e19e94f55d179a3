package dev.llamajava.langchain4j;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.langchain4j.data.message.AiMessage;
import dev.langchain4j.data.message.ChatMessage;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.RateLimitException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.internal.JsonSchemaElementJsonUtils;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.ResponseFormat;
import dev.langchain4j.model.chat.request.ResponseFormatType;
import dev.langchain4j.model.chat.request.ToolChoice;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.model.output.TokenUsage;
import dev.llamajava.Engine;
import dev.llamajava.EngineBusyException;
import dev.llamajava.GenerationParams;
import dev.llamajava.GenerationResult;
import dev.llamajava.JsonSchemaGrammar;
import dev.llamajava.SamplerParams;
import dev.llamajava.TokenStream;
import dev.llamajava.UnsupportedChatTemplateException;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/** What the chat models share: one engine, their defaults, and the mapping of LangChain4j's requests and answers. */
final class Requests {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final AtomicLong IDS = new AtomicLong();

    final Engine engine;
    final String modelName;
    final LlamaChatRequestParameters defaults;

    Requests(Engine engine, String modelName, ChatRequestParameters defaults) {
        this.engine = Objects.requireNonNull(engine, "engine");
        this.modelName = modelName != null ? modelName : engine.model().path().getFileName().toString();
        this.defaults = LlamaChatRequestParameters.builder().modelName(this.modelName).maxOutputTokens(512)
                .overrideWith(defaults == null ? LlamaChatRequestParameters.builder().build() : defaults).build();
    }

    /** A started generation and the prompt's token count. */
    record Started(TokenStream stream, int promptTokens) { }

    /**
     * Starts the request's generation on the engine.
     *
     * @throws UnsupportedFeatureException for tools, images and other content a text model cannot take
     * @throws InvalidRequestException     for values out of range, an unknown model name, an unusable schema
     * @throws RateLimitException          when the engine's slots and queue are full
     */
    Started start(ChatRequest request) {
        ChatRequestParameters p = request.parameters();
        if (p.toolSpecifications() != null && !p.toolSpecifications().isEmpty() || p.toolChoice() == ToolChoice.REQUIRED) {
            throw new UnsupportedFeatureException("tools are not supported by llama-java's LangChain4j models");
        }
        if (p.modelName() != null && !p.modelName().equals(modelName)) {
            throw new InvalidRequestException("this model is '" + modelName + "'; the request asks for '" + p.modelName() + "'");
        }
        int[] prompt;
        try {
            prompt = engine.model().chatPrompt(messages(request.messages()));
        } catch (UnsupportedChatTemplateException e) {
            throw new InvalidRequestException(e.getMessage(), e);
        }
        GenerationParams gen;
        try {
            gen = generation(p);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(e.getMessage(), e);
        }
        try {
            return new Started(engine.generate(prompt, gen), prompt.length);
        } catch (EngineBusyException e) {
            throw new RateLimitException(e.getMessage(), e);
        } catch (IllegalArgumentException e) {
            throw new InvalidRequestException(e.getMessage(), e);
        }
    }

    static List<dev.llamajava.ChatMessage> messages(List<ChatMessage> in) {
        if (in == null || in.isEmpty()) throw new InvalidRequestException("a chat request needs at least one message");
        List<dev.llamajava.ChatMessage> out = new ArrayList<>(in.size());
        for (ChatMessage m : in) {
            out.add(switch (m) {
                case SystemMessage s -> dev.llamajava.ChatMessage.system(s.text());
                case UserMessage u when u.hasSingleText() -> dev.llamajava.ChatMessage.user(u.singleText());
                case UserMessage u -> throw new UnsupportedFeatureException("only text user messages are supported; this one holds "
                        + u.contents().stream().map(c -> c.type().toString()).toList());
                case AiMessage a when !a.hasToolExecutionRequests() -> dev.llamajava.ChatMessage.assistant(a.text() == null ? "" : a.text());
                default -> throw new UnsupportedFeatureException(m.type() + " messages are not supported (no tools)");
            });
        }
        return out;
    }

    static GenerationParams generation(ChatRequestParameters p) {
        Long seed = p instanceof LlamaChatRequestParameters l ? l.seed() : null;
        SamplerParams sampler = SamplerParams.of(p.temperature(), p.topP(), p.topK(), p.frequencyPenalty(), p.presencePenalty(), seed);
        if (p instanceof LlamaChatRequestParameters l && l.minP() != null && !sampler.isGreedy()) {
            sampler = sampler.toBuilder().minP(l.minP().floatValue()).build();
        }
        GenerationParams.Builder g = GenerationParams.builder().sampler(sampler).addSpecial(true).parseSpecial(true);
        if (p.maxOutputTokens() != null) g.maxTokens(p.maxOutputTokens());
        if (p.stopSequences() != null && !p.stopSequences().isEmpty()) g.stopStrings(p.stopSequences());
        ResponseFormat rf = p.responseFormat();
        if (rf != null && rf.type() == ResponseFormatType.JSON) {
            if (rf.jsonSchema() == null || rf.jsonSchema().rootElement() == null) g.json();
            else g.jsonSchema(JsonSchemaGrammar.strict(JSON.valueToTree(JsonSchemaElementJsonUtils.toMap(rf.jsonSchema().rootElement()))));
        }
        return g.build();
    }

    static FinishReason finishReason(GenerationResult r) {
        return switch (r.stopReason()) {
            case END_OF_GENERATION, STOP_STRING -> FinishReason.STOP;
            case MAX_TOKENS, CONTEXT_FULL -> FinishReason.LENGTH;
            case CANCELLED, CLOSED -> FinishReason.OTHER;
        };
    }

    ChatResponse response(GenerationResult r, int promptTokens) {
        return ChatResponse.builder()
                .aiMessage(AiMessage.from(r.text()))
                .id("llama-" + IDS.incrementAndGet())
                .modelName(modelName)
                .tokenUsage(new TokenUsage(promptTokens, r.generatedTokens()))
                .finishReason(finishReason(r))
                .build();
    }
}
