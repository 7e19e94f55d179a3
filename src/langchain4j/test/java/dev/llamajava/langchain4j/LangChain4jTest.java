package dev.llamajava.langchain4j;

import dev.langchain4j.agent.tool.ToolSpecification;
import dev.langchain4j.data.embedding.Embedding;
import dev.langchain4j.data.message.SystemMessage;
import dev.langchain4j.data.message.UserMessage;
import dev.langchain4j.data.segment.TextSegment;
import dev.langchain4j.exception.InvalidRequestException;
import dev.langchain4j.exception.RateLimitException;
import dev.langchain4j.exception.UnsupportedFeatureException;
import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.ChatResponse;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.model.output.FinishReason;
import dev.langchain4j.service.AiServices;
import dev.langchain4j.service.TokenStream;
import dev.langchain4j.store.embedding.EmbeddingMatch;
import dev.langchain4j.store.embedding.EmbeddingSearchRequest;
import dev.langchain4j.store.embedding.inmemory.InMemoryEmbeddingStore;
import dev.llamajava.ChatMessage;
import dev.llamajava.Engine;
import dev.llamajava.EngineParams;
import dev.llamajava.GenerationParams;
import dev.llamajava.LlamaModel;
import dev.llamajava.SyntheticModels;
import dev.llamajava.gguf.SyntheticModel;
import dev.llamajava.TestSupport;
import dev.llamajava.TextEmbedder;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The LangChain4j models driven through LangChain4j's own entry points: {@code AiServices} returning a record (parsed
 * by LangChain4j's JSON codec, every time, on a random-weight model), {@code StreamingChatResponseHandler} and
 * {@code AiServices}' {@code TokenStream}, the in-memory embedding store; the vectors against llama.cpp's
 * {@code llama-embedding}.
 */
class LangChain4jTest {

    enum Priority { LOW, MEDIUM, HIGH, URGENT }

    enum Team { BILLING, SHIPPING, TECHNICAL, ACCOUNT }

    record Ticket(Priority priority, Team team, boolean escalate, double confidence) { }

    interface Router {
        @dev.langchain4j.service.SystemMessage("Route the customer's support ticket to a team.")
        Ticket route(@dev.langchain4j.service.UserMessage String ticket);
    }

    interface Assistant {
        TokenStream chat(String message);
    }

    static final List<String> TICKETS = List.of("My card was charged twice for one order.",
            "The parcel has not arrived after two weeks.", "The app crashes when I open settings.",
            "Please delete my account and all my data.", "Can I change the delivery address?",
            "I was refunded the wrong amount.", "Password reset emails never arrive.", "Where is my invoice for March?");

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
        Path dir = TestSupport.workDir("langchain4j");
        tiny = LlamaModel.load(TestSupport.writeTinyModel(dir.resolve("tiny-lc4j.gguf"), 21));
        engine = Engine.create(tiny, EngineParams.builder().slots(4).slotContext(1024).queueCapacity(64).build());
        exact = Engine.create(tiny, EngineParams.builder().slots(1).slotContext(1024).queueCapacity(8).prefixReuse(false).build());
    }

    @AfterAll
    static void close() {
        engine.close();
        exact.close();
        tiny.close();
    }

    static LlamaChatModel.Builder models() {
        return LlamaChatModel.builder().engine(engine).modelName("tiny");
    }

    static LlamaChatModel.Builder exactModels() {
        return LlamaChatModel.builder().engine(exact).modelName("tiny");
    }

    /** 100 calls from 4 threads, sampled: each answer is JSON under the record's schema, bound by LangChain4j. */
    @Test
    void aiServicesReturnARecordEveryTime() throws Exception {
        Router router = AiServices.create(Router.class, models().defaultRequestParameters(
                LlamaChatRequestParameters.builder().temperature(1.0).build()).build());
        int calls = Integer.getInteger("llama.lc4j.calls", 100);
        List<Ticket> got = Collections.synchronizedList(new ArrayList<>());
        try (ExecutorService pool = Executors.newFixedThreadPool(4)) {
            List<Future<?>> fs = new ArrayList<>();
            for (int i = 0; i < calls; i++) {
                String text = TICKETS.get(i % TICKETS.size()) + " (#" + i + ")";
                fs.add(pool.submit(() -> got.add(router.route(text))));
            }
            for (Future<?> f : fs) f.get(5, TimeUnit.MINUTES);
        }
        assertEquals(calls, got.size());
        for (Ticket t : got) {
            assertNotNull(t.priority(), t.toString());
            assertNotNull(t.team(), t.toString());
        }
        // sampled: the answers are not all one
        assertTrue(got.stream().distinct().count() > 1, "100 sampled answers were all " + got.getFirst());
        assertEquals(0, engine.stats().activeSlots());
    }

    /** The same on the synthetic Llama-3.2-1B (exact shape, random weights, Q4_K_M): {@code -Dllama.lc4j.calls1b=N}, default 4. */
    @Test
    void aiServicesOnTheSynthetic1B() throws Exception {
        Path file = SyntheticModels.cached(SyntheticModel.LLAMA_3_2_1B, 42, "Q4_K_M", null);
        try (LlamaModel m = LlamaModel.load(file);
             Engine e = Engine.create(m, EngineParams.builder().slots(2).slotContext(1024).build())) {
            Router router = AiServices.create(Router.class, LlamaChatModel.builder().engine(e).build());
            int calls = Integer.getInteger("llama.lc4j.calls1b", 4);
            for (int i = 0; i < calls; i++) {
                Ticket t = router.route(TICKETS.get(i % TICKETS.size()));
                assertNotNull(t.priority(), t.toString());
                assertNotNull(t.team(), t.toString());
            }
        }
    }

    @Test
    void blockingChatMapsParametersUsageAndFinishReason() {
        ChatModel chat = exactModels().build();
        List<ChatMessage> convo = List.of(ChatMessage.system("Be brief."), ChatMessage.user("Say something."));
        ChatRequest req = ChatRequest.builder().messages(SystemMessage.from("Be brief."), UserMessage.from("Say something."))
                .parameters(LlamaChatRequestParameters.builder().temperature(0.0).maxOutputTokens(12).build()).build();
        ChatResponse r = chat.chat(req);
        // the same conversation and greedy settings straight on the engine: the mapping adds and loses nothing
        int[] prompt = tiny.chatPrompt(convo);
        String direct;
        try (var s = exact.generate(prompt, GenerationParams.builder().greedy().maxTokens(12).build())) {
            direct = s.collect(t -> { }).text();
        }
        assertEquals(direct, r.aiMessage().text());
        assertEquals(FinishReason.LENGTH, r.finishReason());
        assertEquals(prompt.length, r.tokenUsage().inputTokenCount());
        assertEquals(12, r.tokenUsage().outputTokenCount());
        assertEquals("tiny", r.modelName());
        // a stop sequence taken from inside that answer cuts it there, finish STOP
        String stop = direct.substring(direct.length() / 2, direct.length() / 2 + 2);
        ChatResponse cut = chat.chat(req.toBuilder().parameters(LlamaChatRequestParameters.builder().temperature(0.0)
                .maxOutputTokens(12).stopSequences(stop).build()).build());
        assertEquals(direct.substring(0, direct.indexOf(stop)), cut.aiMessage().text());
        assertEquals(FinishReason.STOP, cut.finishReason());
        // seeded sampling repeats itself; another seed (very likely) does not
        ChatRequest seeded = req.toBuilder().parameters(LlamaChatRequestParameters.builder().temperature(1.0).seed(7L)
                .maxOutputTokens(16).build()).build();
        assertEquals(chat.chat(seeded).aiMessage().text(), chat.chat(seeded).aiMessage().text());
    }

    @Test
    void streamingThroughTheHandlerEqualsTheBlockingAnswer() throws Exception {
        StreamingChatModel streaming = exactModels().buildStreaming();
        ChatRequest req = ChatRequest.builder().messages(UserMessage.from("Tell me a story."))
                .parameters(LlamaChatRequestParameters.builder().temperature(0.0).maxOutputTokens(40).build()).build();
        StringBuilder partial = new StringBuilder();
        CompletableFuture<ChatResponse> done = new CompletableFuture<>();
        String caller = Thread.currentThread().getName();
        AtomicInteger pieces = new AtomicInteger();
        streaming.chat(req, new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
                assertTrue(!Thread.currentThread().getName().equals(caller));
                pieces.incrementAndGet();
                partial.append(text);
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                done.complete(response);
            }

            @Override
            public void onError(Throwable error) {
                done.completeExceptionally(error);
            }
        });
        ChatResponse r = done.get(2, TimeUnit.MINUTES);
        assertEquals(r.aiMessage().text(), partial.toString());
        assertEquals(exactModels().build().chat(req).aiMessage().text(), r.aiMessage().text());
        assertTrue(pieces.get() > 1);
        assertEquals(FinishReason.LENGTH, r.finishReason());

        // AiServices' TokenStream over the same model
        Assistant assistant = AiServices.create(Assistant.class, exactModels().defaultRequestParameters(
                LlamaChatRequestParameters.builder().temperature(0.0).maxOutputTokens(40).build()).buildStreaming());
        CompletableFuture<ChatResponse> viaService = new CompletableFuture<>();
        StringBuilder serviceText = new StringBuilder();
        assistant.chat("Tell me a story.").onPartialResponse(serviceText::append)
                .onCompleteResponse(viaService::complete).onError(viaService::completeExceptionally).start();
        assertEquals(r.aiMessage().text(), viaService.get(2, TimeUnit.MINUTES).aiMessage().text());
        assertEquals(r.aiMessage().text(), serviceText.toString());
    }

    @Test
    void cancellingFromTheHandlerFreesTheSlot() throws Exception {
        StreamingChatModel streaming = exactModels().buildStreaming();
        ChatRequest req = ChatRequest.builder().messages(UserMessage.from("Go on forever."))
                .parameters(LlamaChatRequestParameters.builder().maxOutputTokens(100_000).build()).build();
        CountDownLatch cancelled = new CountDownLatch(1);
        AtomicInteger after = new AtomicInteger();
        AtomicInteger seen = new AtomicInteger();
        streaming.chat(req, new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(PartialResponse p, PartialResponseContext ctx) {
                if (ctx.streamingHandle().isCancelled()) after.incrementAndGet();
                if (seen.incrementAndGet() == 5) {
                    ctx.streamingHandle().cancel();
                    cancelled.countDown();
                }
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                after.incrementAndGet();
            }

            @Override
            public void onError(Throwable error) {
                after.incrementAndGet();
            }
        });
        assertTrue(cancelled.await(2, TimeUnit.MINUTES));
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (exact.stats().activeSlots() > 0 && System.nanoTime() < deadline) Thread.sleep(10);
        assertEquals(0, exact.stats().activeSlots());
        Thread.sleep(200);
        assertEquals(0, after.get(), "the handler heard from a cancelled stream");

        // a handler that throws: the generation stops and the error reaches onError
        CompletableFuture<Throwable> error = new CompletableFuture<>();
        streaming.chat(req, new StreamingChatResponseHandler() {
            @Override
            public void onPartialResponse(String text) {
                throw new IllegalStateException("the handler failed");
            }

            @Override
            public void onCompleteResponse(ChatResponse response) {
                error.complete(null);
            }

            @Override
            public void onError(Throwable e) {
                error.complete(e);
            }
        });
        assertEquals("the handler failed", error.get(2, TimeUnit.MINUTES).getMessage());
    }

    @Test
    void whatCannotBeDoneIsRefusedClearly() throws Exception {
        ChatModel chat = models().build();
        ToolSpecification tool = ToolSpecification.builder().name("weather").description("the weather").build();
        assertThrows(UnsupportedFeatureException.class, () -> chat.chat(ChatRequest.builder().messages(UserMessage.from("hi"))
                .toolSpecifications(tool).build()));
        assertThrows(InvalidRequestException.class, () -> chat.chat(ChatRequest.builder().messages(UserMessage.from("hi"))
                .modelName("gpt-4o").build()));
        assertThrows(InvalidRequestException.class, () -> chat.chat(ChatRequest.builder().messages(UserMessage.from("hi"))
                .topP(1.5).build()));
        // the stream reports request errors to the handler, not by throwing
        CompletableFuture<Throwable> error = new CompletableFuture<>();
        models().buildStreaming().chat(ChatRequest.builder().messages(UserMessage.from("hi")).toolSpecifications(tool).build(),
                new StreamingChatResponseHandler() {
                    @Override public void onPartialResponse(String t) { }
                    @Override public void onCompleteResponse(ChatResponse r) { error.complete(null); }
                    @Override public void onError(Throwable e) { error.complete(e); }
                });
        assertTrue(error.get(1, TimeUnit.MINUTES) instanceof UnsupportedFeatureException);
        // a full engine: retriable RateLimitException
        try (Engine small = Engine.create(tiny, EngineParams.builder().slots(1).slotContext(512).queueCapacity(0).build())) {
            ChatModel one = LlamaChatModel.builder().engine(small).build();
            try (var running = small.generate("x", GenerationParams.builder().maxTokens(100_000).build())) {
                running.next();
                assertThrows(RateLimitException.class, () -> one.chat("hello"));
                running.cancel();
            }
        }
        assertTrue(!engine.model().chatTemplate().isEmpty());
    }

    /** Stored and searched in LangChain4j's in-memory store; the vectors are llama-embedding's. */
    @Test
    void embeddingsInTheInMemoryStore() throws Exception {
        Path stories = TestSupport.stories260K();
        List<String> texts = List.of("Once upon a time there was a little girl.", "The dog ran to the park.",
                "Tom had a big red ball.", "The sun was hot and the sky was blue.");
        try (LlamaModel m = LlamaModel.load(stories); TextEmbedder embedder = TextEmbedder.create(m)) {
            EmbeddingModel model = new LlamaEmbeddingModel(embedder);
            assertEquals(m.embeddingSize(), model.dimension());
            List<TextSegment> segments = texts.stream().map(TextSegment::from).toList();
            var all = model.embedAll(segments);
            List<float[]> reference = TestSupport.llamaEmbedding(stories, texts, "mean", 2);
            assertEquals(texts.size(), reference.size());
            for (int i = 0; i < texts.size(); i++) {
                float[] ours = all.content().get(i).vector();
                for (int k = 0; k < ours.length; k++) {
                    assertEquals(reference.get(i)[k], ours[k], 1e-5, "text " + i + " component " + k);
                }
            }
            int tokens = 0;
            for (String t : texts) tokens += m.tokenize(t).length;
            assertEquals(tokens, all.tokenUsage().inputTokenCount());

            InMemoryEmbeddingStore<TextSegment> store = new InMemoryEmbeddingStore<>();
            store.addAll(all.content(), segments);
            for (int i = 0; i < texts.size(); i++) {
                Embedding q = model.embed(texts.get(i)).content();
                List<EmbeddingMatch<TextSegment>> hits = store.search(EmbeddingSearchRequest.builder().queryEmbedding(q)
                        .maxResults(2).build()).matches();
                assertEquals(texts.get(i), hits.getFirst().embedded().text());
                assertEquals(1.0, hits.getFirst().score(), 1e-5);
                assertTrue(hits.get(1).score() < hits.getFirst().score());
            }
            assertThrows(InvalidRequestException.class, () -> model.embed(" x".repeat(3000)));
        }
    }
}
