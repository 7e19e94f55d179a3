package dev.llamajava.spring;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.llamajava.ChatMessage;
import dev.llamajava.Engine;
import dev.llamajava.GenerationParams;
import dev.llamajava.GenerationResult;
import dev.llamajava.JsonSchemaGrammar;
import dev.llamajava.SamplerParams;
import dev.llamajava.Token;
import dev.llamajava.TokenStream;
import org.springframework.ai.chat.messages.AssistantMessage;
import org.springframework.ai.chat.messages.Message;
import org.springframework.ai.chat.messages.UserMessage;
import org.springframework.ai.chat.metadata.ChatGenerationMetadata;
import org.springframework.ai.chat.metadata.ChatResponseMetadata;
import org.springframework.ai.chat.metadata.DefaultUsage;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.chat.model.Generation;
import org.springframework.ai.chat.prompt.ChatOptions;
import org.springframework.ai.chat.prompt.Prompt;
import org.springframework.ai.model.tool.StructuredOutputChatOptions;
import org.springframework.ai.model.tool.ToolCallingChatOptions;
import reactor.core.publisher.Flux;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;

/**
 * Spring AI's {@link ChatModel} over an {@link Engine}: every call is one of the engine's parallel sequences, so any
 * number of threads share one model. The conversation is formatted with the model's own chat template.
 *
 * <p>Mapped from the prompt's options, else the defaults: temperature (0 is greedy), top-p, top-k, frequency and
 * presence penalties, max tokens (default 512), stop sequences, the output schema of native structured output (a
 * grammar in OpenAI's strict form, so {@code entity(Record.class)} always parses), and through {@link LlamaChatOptions}
 * seed and min-p. The generation's metadata carries the finish reason ({@code STOP}, {@code LENGTH},
 * {@code CANCELLED}); the response's, token usage. {@link #stream} starts when subscribed, emits one response per
 * piece of text on a virtual thread, then a last one with empty text, the finish reason and usage; cancelling the
 * subscription stops the generation and frees its slot. Not supported: tool callbacks and media
 * ({@code UnsupportedOperationException}); values out of range give an {@code IllegalArgumentException}, a full engine
 * an {@link dev.llamajava.EngineBusyException}.
 *
 * <pre>{@code
 * ChatClient chat = ChatClient.create(new LlamaChatModel(engine));
 * String answer = chat.prompt().user("Name three colours.").call().content();
 * }</pre>
 */
public final class LlamaChatModel implements ChatModel {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final AtomicLong IDS = new AtomicLong();

    private final Engine engine;
    private final String modelName;
    private final LlamaChatOptions defaults;

    /** @param engine the engine; it stays the caller's to close */
    public LlamaChatModel(Engine engine) {
        this(engine, null, null);
    }

    /**
     * @param engine    the engine; it stays the caller's to close
     * @param modelName the name responses carry (default: the GGUF file's name)
     * @param defaults  the options every prompt starts from, or null
     */
    public LlamaChatModel(Engine engine, String modelName, ChatOptions defaults) {
        this.engine = Objects.requireNonNull(engine, "engine");
        this.modelName = modelName != null ? modelName : engine.model().path().getFileName().toString();
        LlamaChatOptions.Builder b = LlamaChatOptions.builder().model(this.modelName).maxTokens(512);
        if (defaults != null) b.combineWith(defaults.mutate());
        this.defaults = b.build();
    }

    /** @return the engine it generates with */
    public Engine engine() {
        return engine;
    }

    /** @return the defaults: {@code ChatClient} starts every prompt's options from these ({@link LlamaChatOptions}) */
    @Override
    public ChatOptions getOptions() {
        return defaults;
    }

    @Override
    public ChatOptions getDefaultOptions() {
        return defaults;
    }

    private record Started(TokenStream stream, int promptTokens) { }

    private Started start(Prompt prompt) {
        ChatOptions o = prompt.getOptions();
        if (o instanceof ToolCallingChatOptions t && t.getToolCallbacks() != null && !t.getToolCallbacks().isEmpty()) {
            throw new UnsupportedOperationException("tool callbacks are not supported by llama-java's Spring AI model");
        }
        String model = pick(o, ChatOptions::getModel);
        if (model != null && !model.equals(modelName)) {
            throw new IllegalArgumentException("this model is '" + modelName + "'; the prompt asks for '" + model + "'");
        }
        int[] tokens = engine.model().chatPrompt(messages(prompt.getInstructions()));
        return new Started(engine.generate(tokens, generation(o)), tokens.length);
    }

    private <T> T pick(ChatOptions o, Function<ChatOptions, T> f) {
        T v = o == null ? null : f.apply(o);
        return v != null ? v : f.apply(defaults);
    }

    private GenerationParams generation(ChatOptions o) {
        Long seed = o instanceof LlamaChatOptions l && l.getSeed() != null ? l.getSeed() : defaults.getSeed();
        Double minP = o instanceof LlamaChatOptions l && l.getMinP() != null ? l.getMinP() : defaults.getMinP();
        SamplerParams sampler = SamplerParams.of(pick(o, ChatOptions::getTemperature), pick(o, ChatOptions::getTopP),
                pick(o, ChatOptions::getTopK), pick(o, ChatOptions::getFrequencyPenalty), pick(o, ChatOptions::getPresencePenalty), seed);
        if (minP != null && !sampler.isGreedy()) sampler = sampler.toBuilder().minP(minP.floatValue()).build();
        GenerationParams.Builder g = GenerationParams.builder().sampler(sampler).addSpecial(true).parseSpecial(true)
                .maxTokens(pick(o, ChatOptions::getMaxTokens));
        List<String> stops = pick(o, ChatOptions::getStopSequences);
        if (stops != null && !stops.isEmpty()) g.stopStrings(stops);
        String schema = o instanceof StructuredOutputChatOptions s && s.getOutputSchema() != null ? s.getOutputSchema() : defaults.getOutputSchema();
        if (schema != null && !schema.isBlank()) {
            try {
                g.jsonSchema(JsonSchemaGrammar.strict(JSON.readTree(schema)));
            } catch (JsonProcessingException e) {
                throw new IllegalArgumentException("the output schema is not JSON: " + e.getOriginalMessage(), e);
            }
        }
        return g.build();
    }

    private static List<ChatMessage> messages(List<Message> in) {
        if (in == null || in.isEmpty()) throw new IllegalArgumentException("a prompt needs at least one message");
        List<ChatMessage> out = new ArrayList<>(in.size());
        for (Message m : in) {
            String text = m.getText() == null ? "" : m.getText();
            out.add(switch (m.getMessageType()) {
                case SYSTEM -> ChatMessage.system(text);
                case USER -> {
                    if (m instanceof UserMessage u && !u.getMedia().isEmpty()) throw new UnsupportedOperationException("media in user messages is not supported");
                    yield ChatMessage.user(text);
                }
                case ASSISTANT -> {
                    if (m instanceof AssistantMessage a && a.hasToolCalls()) throw new UnsupportedOperationException("tool calls are not supported");
                    yield ChatMessage.assistant(text);
                }
                case TOOL -> throw new UnsupportedOperationException("tool responses are not supported");
            });
        }
        return out;
    }

    private static String finishReason(GenerationResult r) {
        return switch (r.stopReason()) {
            case END_OF_GENERATION, STOP_STRING -> "STOP";
            case MAX_TOKENS, CONTEXT_FULL -> "LENGTH";
            case CANCELLED, CLOSED -> "CANCELLED";
        };
    }

    private ChatResponse response(String id, String text, GenerationResult r, int promptTokens) {
        ChatResponseMetadata.Builder meta = ChatResponseMetadata.builder().id(id).model(modelName);
        if (r == null) return new ChatResponse(List.of(new Generation(new AssistantMessage(text))), meta.build());
        Generation g = new Generation(new AssistantMessage(text), ChatGenerationMetadata.builder().finishReason(finishReason(r)).build());
        return new ChatResponse(List.of(g), meta.usage(new DefaultUsage(promptTokens, r.generatedTokens())).build());
    }

    @Override
    public ChatResponse call(Prompt prompt) {
        Started s = start(prompt);
        try (TokenStream stream = s.stream()) {
            GenerationResult r = stream.collect(t -> { });
            return response("llama-" + IDS.incrementAndGet(), r.text(), r, s.promptTokens());
        }
    }

    @Override
    public Flux<ChatResponse> stream(Prompt prompt) {
        return Flux.create(sink -> {
            Started s;
            try {
                s = start(prompt);
            } catch (RuntimeException e) {
                sink.error(e);
                return;
            }
            sink.onCancel(s.stream()::cancel);
            String id = "llama-" + IDS.incrementAndGet();
            Thread.ofVirtual().name("llama-spring-stream").start(() -> {
                try (TokenStream stream = s.stream()) {
                    while (stream.hasNext()) {
                        Token t = stream.next();
                        if (sink.isCancelled()) return;
                        if (!t.text().isEmpty()) sink.next(response(id, t.text(), null, 0));
                    }
                    if (sink.isCancelled()) return;
                    sink.next(response(id, "", stream.result(), s.promptTokens()));
                    sink.complete();
                } catch (Throwable e) { // a virtual thread's end: everything goes to the subscriber
                    sink.error(e);
                }
            });
        });
    }
}
