package dev.llamajava.spring;

import dev.llamajava.ChatMessage;
import dev.llamajava.Engine;
import dev.llamajava.EngineParams;
import dev.llamajava.GenerationParams;
import dev.llamajava.LlamaModel;
import dev.llamajava.TestSupport;
import dev.llamajava.TextEmbedder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.springframework.ai.chat.client.AdvisorParams;
import org.springframework.ai.chat.client.ChatClient;
import org.springframework.ai.chat.model.ChatModel;
import org.springframework.ai.chat.model.ChatResponse;
import org.springframework.ai.embedding.EmbeddingModel;
import org.springframework.ai.embedding.EmbeddingResponse;
import org.springframework.boot.autoconfigure.AutoConfigurations;
import org.springframework.boot.test.context.runner.ApplicationContextRunner;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The Spring AI models driven through Spring AI's own entry points: {@code ChatClient} call, stream and
 * {@code entity} (native structured output, bound by Spring AI's converter), {@code EmbeddingModel.embed} (against
 * llama.cpp's {@code llama-embedding}), and the Boot auto-configuration in an application context.
 */
class SpringAiTest {

    enum Priority { LOW, MEDIUM, HIGH, URGENT }

    enum Team { BILLING, SHIPPING, TECHNICAL, ACCOUNT }

    record Ticket(Priority priority, Team team, boolean escalate, double confidence) { }

    static Path tinyFile;
    static LlamaModel tiny;
    static Engine engine;
    /**
     * One slot, no prefix reuse: every prompt decoded whole, the same way each time, for answers compared token for
     * token. (Reusing another request's KV prefix computes it in other batch shapes; on a random-weight model, whose
     * logits are nearly tied, greedy picks can then differ, as in llama.cpp's own server.)
     */
    static Engine exact;

    @BeforeAll
    static void load() throws Exception {
        tinyFile = TestSupport.writeTinyModel(TestSupport.workDir("spring").resolve("tiny-spring.gguf"), 23);
        tiny = LlamaModel.load(tinyFile);
        engine = Engine.create(tiny, EngineParams.builder().slots(4).slotContext(1024).queueCapacity(64).build());
        exact = Engine.create(tiny, EngineParams.builder().slots(1).slotContext(1024).queueCapacity(8).prefixReuse(false).build());
    }

    @AfterAll
    static void close() {
        engine.close();
        exact.close();
        tiny.close();
    }

    @Test
    void chatClientCallMapsOptionsUsageAndFinishReason() {
        ChatClient chat = ChatClient.create(new LlamaChatModel(exact, "tiny", null));
        ChatResponse r = chat.prompt().system("Be brief.").user("Say something.")
                .options(LlamaChatOptions.builder().temperature(0.0).maxTokens(12)).call().chatResponse();
        int[] prompt = tiny.chatPrompt(List.of(ChatMessage.system("Be brief."), ChatMessage.user("Say something.")));
        String direct;
        try (var s = exact.generate(prompt, GenerationParams.builder().greedy().maxTokens(12).build())) {
            direct = s.collect(t -> { }).text();
        }
        assertEquals(direct, r.getResult().getOutput().getText());
        assertEquals("LENGTH", r.getResult().getMetadata().getFinishReason());
        assertEquals(prompt.length, r.getMetadata().getUsage().getPromptTokens());
        assertEquals(12, r.getMetadata().getUsage().getCompletionTokens());
        assertEquals("tiny", r.getMetadata().getModel());
        // a stop sequence from inside the answer cuts it there
        String stop = direct.substring(direct.length() / 2, direct.length() / 2 + 2);
        ChatResponse cut = chat.prompt().system("Be brief.").user("Say something.")
                .options(LlamaChatOptions.builder().temperature(0.0).maxTokens(12).stopSequences(List.of(stop))).call().chatResponse();
        assertEquals(direct.substring(0, direct.indexOf(stop)), cut.getResult().getOutput().getText());
        assertEquals("STOP", cut.getResult().getMetadata().getFinishReason());
        // seeded sampling repeats itself
        var seeded = LlamaChatOptions.builder().temperature(1.0).seed(11L).maxTokens(16);
        assertEquals(chat.prompt().user("Go.").options(seeded).call().content(), chat.prompt().user("Go.").options(seeded).call().content());
        // defaults given to the model apply when the prompt says nothing
        ChatClient greedy = ChatClient.create(new LlamaChatModel(exact, "tiny", LlamaChatOptions.builder().temperature(0.0).maxTokens(12).build()));
        assertEquals(direct, greedy.prompt().system("Be brief.").user("Say something.").call().content());
        assertThrows(IllegalArgumentException.class, () -> chat.prompt().user("x").options(LlamaChatOptions.builder().model("gpt-4o")).call().content());
        assertThrows(IllegalArgumentException.class, () -> chat.prompt().user("x").options(LlamaChatOptions.builder().topP(1.5)).call().content());
    }

    @Test
    void chatClientStreamEqualsTheCallAndCancels() {
        ChatClient chat = ChatClient.create(new LlamaChatModel(exact));
        var greedy = LlamaChatOptions.builder().temperature(0.0).maxTokens(40);
        String whole = chat.prompt().user("Tell me a story.").options(greedy).call().content();
        List<String> pieces = chat.prompt().user("Tell me a story.").options(greedy).stream().content().collectList()
                .block(Duration.ofMinutes(2));
        assertNotNull(pieces);
        assertTrue(pieces.size() > 2);
        assertEquals(whole, String.join("", pieces));
        List<ChatResponse> responses = chat.prompt().user("Tell me a story.").options(greedy).stream().chatResponse().collectList()
                .block(Duration.ofMinutes(2));
        ChatResponse last = responses.getLast();
        assertEquals("LENGTH", last.getResult().getMetadata().getFinishReason());
        assertEquals(40, last.getMetadata().getUsage().getCompletionTokens());

        // taking 3 pieces cancels the rest: the slot is freed
        List<String> three = chat.prompt().user("Go on forever.").options(LlamaChatOptions.builder().maxTokens(100_000))
                .stream().content().take(3).collectList().block(Duration.ofMinutes(2));
        assertEquals(3, three.size());
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (exact.stats().activeSlots() > 0 && System.nanoTime() < deadline) Thread.onSpinWait();
        assertEquals(0, exact.stats().activeSlots());
        // errors reach the subscriber
        assertThrows(IllegalArgumentException.class, () -> chat.prompt().user("x").options(LlamaChatOptions.builder().topP(1.5))
                .stream().content().blockLast(Duration.ofMinutes(1)));
    }

    /** {@code entity(Ticket.class)} with native structured output: Spring AI's schema, our grammar, Spring AI's parser. */
    @Test
    void chatClientEntityWithNativeStructuredOutput() {
        ChatClient chat = ChatClient.create(new LlamaChatModel(engine, null, LlamaChatOptions.builder().temperature(1.0).build()));
        int calls = Integer.getInteger("llama.spring.calls", 30);
        List<Ticket> got = new ArrayList<>();
        for (int i = 0; i < calls; i++) {
            Ticket t = chat.prompt().system("Route the customer's support ticket to a team.").user("My card was charged twice (#" + i + ").")
                    .advisors(AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT).call().entity(Ticket.class);
            assertNotNull(t);
            assertNotNull(t.priority(), t.toString());
            assertNotNull(t.team(), t.toString());
            got.add(t);
        }
        assertTrue(got.stream().distinct().count() > 1, "sampled answers were all " + got.getFirst());
    }

    @Test
    void embeddingModelEmbedsAsLlamaEmbedding() throws Exception {
        Path stories = TestSupport.stories260K();
        List<String> texts = List.of("Once upon a time there was a little girl.", "The dog ran to the park.");
        try (LlamaModel m = LlamaModel.load(stories); TextEmbedder embedder = TextEmbedder.create(m)) {
            EmbeddingModel model = new LlamaEmbeddingModel(embedder);
            assertEquals(m.embeddingSize(), model.dimensions());
            List<float[]> reference = TestSupport.llamaEmbedding(stories, texts, "mean", 2);
            List<float[]> ours = model.embed(texts);
            float[] one = model.embed(texts.getFirst());
            for (int i = 0; i < texts.size(); i++) {
                for (int k = 0; k < reference.get(i).length; k++) {
                    assertEquals(reference.get(i)[k], ours.get(i)[k], 1e-5, "text " + i + " component " + k);
                }
            }
            for (int k = 0; k < one.length; k++) assertEquals(reference.getFirst()[k], one[k], 1e-5);
            EmbeddingResponse r = model.embedForResponse(texts);
            assertEquals(2, r.getResults().size());
            assertEquals(1, r.getResults().get(1).getIndex());
            int tokens = 0;
            for (String t : texts) tokens += m.tokenize(t).length;
            assertEquals(tokens, r.getMetadata().getUsage().getPromptTokens());
            assertThrows(IllegalArgumentException.class, () -> model.embed(" x".repeat(3000)));
        }
    }

    @Test
    void bootAutoConfiguration() {
        ApplicationContextRunner runner = new ApplicationContextRunner()
                .withConfiguration(AutoConfigurations.of(LlamaAutoConfiguration.class));
        runner.run(ctx -> assertFalse(ctx.containsBean("llamaChatModel"), "configured without llama.model"));
        LlamaModel[] seen = new LlamaModel[1];
        runner.withPropertyValues("llama.model=" + tinyFile, "llama.slots=2", "llama.slot-context=512").run(ctx -> {
            ChatModel chat = ctx.getBean(ChatModel.class);
            EmbeddingModel emb = ctx.getBean(EmbeddingModel.class);
            assertEquals(2, ctx.getBean(Engine.class).params().slots());
            assertEquals(512, ctx.getBean(Engine.class).params().slotContext());
            assertFalse(ChatClient.create(chat).prompt().user("Hi.").options(LlamaChatOptions.builder().maxTokens(4)).call().content().isEmpty());
            assertEquals(tiny.embeddingSize(), emb.dimensions());
            seen[0] = ctx.getBean(LlamaModel.class);
        });
        // the context closed what it made
        assertThrows(IllegalStateException.class, () -> seen[0].vocabSize());
        runner.withPropertyValues("llama.model=" + tinyFile, "llama.embeddings=false")
                .run(ctx -> assertFalse(ctx.containsBean("llamaEmbeddingModel")));
        runner.withPropertyValues("llama.model=/nonexistent/model.gguf")
                .run(ctx -> assertNotNull(ctx.getStartupFailure(), "a missing model file fails the context"));
    }
}
