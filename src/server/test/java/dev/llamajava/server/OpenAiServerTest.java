package dev.llamajava.server;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.openai.client.OpenAIClient;
import com.openai.client.okhttp.OpenAIOkHttpClient;
import com.openai.core.JsonValue;
import com.openai.core.http.StreamResponse;
import com.openai.errors.BadRequestException;
import com.openai.errors.NotFoundException;
import com.openai.errors.RateLimitException;
import com.openai.errors.UnauthorizedException;
import com.openai.models.ResponseFormatJsonSchema;
import com.openai.models.chat.completions.ChatCompletion;
import com.openai.models.chat.completions.ChatCompletionChunk;
import com.openai.models.chat.completions.ChatCompletionCreateParams;
import com.openai.models.chat.completions.StructuredChatCompletion;
import com.openai.models.completions.Completion;
import com.openai.models.completions.CompletionCreateParams;
import com.openai.models.embeddings.CreateEmbeddingResponse;
import com.openai.models.embeddings.EmbeddingCreateParams;
import dev.llamajava.ChatMessage;
import dev.llamajava.ChatTemplates;
import dev.llamajava.ContextParams;
import dev.llamajava.Engine;
import dev.llamajava.EngineParams;
import dev.llamajava.GenerationParams;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaModel;
import dev.llamajava.TestSupport;
import dev.llamajava.TokenStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The server driven by the official OpenAI Java client (com.openai:openai-java) and by raw HTTP: the tiny synthetic
 * model (Llama 3 vocabulary and chat template) for chat and JSON, stories260K for completions.
 */
class OpenAiServerTest {

    static final ObjectMapper JSON = new ObjectMapper();
    static LlamaModel tiny;
    static LlamaModel stories;
    static Engine engine;
    static Engine storiesEngine;
    static OpenAiServer server;
    static OpenAiServer storiesServer;
    static OpenAIClient client;
    static HttpClient http;

    @BeforeAll
    static void start() throws Exception {
        tiny = LlamaModel.load(TestSupport.writeTinyModel(TestSupport.workDir("server").resolve("tiny-server.gguf"), 21));
        stories = LlamaModel.load(TestSupport.stories260K());
        ContextParams cp = ContextParams.builder().threads(2).threadsBatch(2).build();
        engine = Engine.create(tiny, EngineParams.builder().slots(4).slotContext(1024).context(cp).build());
        storiesEngine = Engine.create(stories, EngineParams.builder().slots(2).slotContext(256).context(cp).queueCapacity(0).build());
        server = OpenAiServer.start(engine, ServerParams.builder().port(0).modelName("tiny").apiKey("secret")
                .maxBodyBytes(64 * 1024).idleTimeout(Duration.ofSeconds(3)).build());
        storiesServer = OpenAiServer.start(storiesEngine, ServerParams.builder().port(0).modelName("stories").embeddings(false).build());
        // the client's default retries: they cover a pooled connection the server closed after its 3 s idle timeout
        client = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.port() + "/v1").apiKey("secret").build();
        http = HttpClient.newHttpClient();
    }

    @AfterAll
    static void stop() {
        server.close();
        storiesServer.close();
        engine.close();
        storiesEngine.close();
        tiny.close();
        stories.close();
    }

    static ChatCompletionCreateParams.Builder chat(String user, int max) {
        return ChatCompletionCreateParams.builder().model("tiny").addUserMessage(user).maxCompletionTokens(max).temperature(0.0);
    }

    /** What the same greedy request yields on a plain context (itself checked against llama.cpp's tools). */
    static String plainGreedy(LlamaModel m, String prompt, int max) {
        try (LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(1024).threads(2).threadsBatch(2).build());
             TokenStream ts = ctx.generate(prompt, GenerationParams.builder().greedy().maxTokens(max).build())) {
            return ts.text();
        }
    }

    @Test
    void chatCompletionEqualsTheGreedyGenerationAndReportsUsage() {
        ChatCompletion c = client.chat().completions().create(chat("Hello there", 24).build());
        String rendered = ChatTemplates.apply(tiny.chatTemplate().orElseThrow(), List.of(ChatMessage.user("Hello there")), true);
        int[] ids = tiny.tokenize(rendered, true, true);
        assertEquals(tiny.bosToken(), ids[0]); // BOS once: llama.cpp's llama3 template does not write it, the tokenizer adds it
        assertTrue(ids[1] != tiny.bosToken());
        String expected;
        try (LlamaContext ctx = LlamaContext.create(tiny, ContextParams.builder().contextSize(1024).threads(2).threadsBatch(2).build());
             TokenStream ts = ctx.generate(ids, GenerationParams.builder().greedy().maxTokens(24).build())) {
            expected = ts.text();
        }
        assertEquals(expected, c.choices().getFirst().message().content().orElseThrow());
        assertEquals("tiny", c.model());
        var usage = c.usage().orElseThrow();
        assertEquals(ids.length, usage.promptTokens(), usage.toString());
        assertEquals(usage.promptTokens() + usage.completionTokens(), usage.totalTokens());
        assertTrue(c.id().startsWith("chatcmpl-"));
    }

    @Test
    void streamingChatGivesTheSameTextAsOneResponse() {
        ChatCompletionCreateParams p = chat("Tell me a story", 32)
                .streamOptions(com.openai.models.chat.completions.ChatCompletionStreamOptions.builder().includeUsage(true).build()).build();
        StringBuilder sb = new StringBuilder();
        String[] finish = new String[1];
        long[] usage = new long[1];
        try (StreamResponse<ChatCompletionChunk> s = client.chat().completions().createStreaming(p)) {
            s.stream().forEach(ch -> {
                for (var choice : ch.choices()) {
                    choice.delta().content().ifPresent(sb::append);
                    choice.finishReason().ifPresent(f -> finish[0] = f.asString());
                }
                ch.usage().ifPresent(u -> usage[0] = u.completionTokens());
            });
        }
        String whole = client.chat().completions().create(chat("Tell me a story", 32).build()).choices().getFirst().message().content().orElseThrow();
        assertEquals(whole, sb.toString());
        assertNotNull(finish[0]);
        assertTrue(usage[0] > 0, "the usage chunk came");
    }

    /** The client's own structured output: it derives a JSON schema from the class and parses the answer into it. */
    public static class Weather {
        public boolean sunny;
        public Sky sky;
    }

    /** An enum field. */
    public enum Sky { CLEAR, CLOUDY, RAIN }

    @Test
    void jsonSchemaOutputParsesIntoTheClientsClassEveryTime() {
        for (int i = 0; i < 6; i++) {
            var p = ChatCompletionCreateParams.builder().model("tiny").addUserMessage("Weather today? " + i).maxCompletionTokens(200)
                    .temperature(0.8).seed(i).responseFormat(Weather.class).build();
            StructuredChatCompletion<Weather> c = client.chat().completions().create(p);
            Weather w = c.choices().getFirst().message().content().orElseThrow();
            assertNotNull(w.sky, "request " + i);
        }
        // json_object: any object; a random-weight model may still be writing one at max_tokens, so some must finish
        int finished = 0;
        for (int i = 0; i < 6; i++) {
            ChatCompletion c = client.chat().completions().create(chat("An object", 200).temperature(0.8).seed(i)
                    .responseFormat(com.openai.models.ResponseFormatJsonObject.builder().build()).build());
            String text = c.choices().getFirst().message().content().orElseThrow();
            if (!c.choices().getFirst().finishReason().asString().equals("stop")) continue;
            assertTrue(parse(text).isObject(), text);
            finished++;
        }
        assertTrue(finished > 0, "no json_object output finished within 200 tokens");
        // an explicit schema through the generic builder
        ResponseFormatJsonSchema rf = ResponseFormatJsonSchema.builder().jsonSchema(ResponseFormatJsonSchema.JsonSchema.builder().name("n")
                .schema(ResponseFormatJsonSchema.JsonSchema.Schema.builder()
                        .putAdditionalProperty("type", JsonValue.from("object"))
                        .putAdditionalProperty("properties", JsonValue.from(java.util.Map.of("n", java.util.Map.of("type", "integer", "minimum", 0, "maximum", 9))))
                        .putAdditionalProperty("required", JsonValue.from(List.of("n")))
                        .putAdditionalProperty("additionalProperties", JsonValue.from(false)).build()).build()).build();
        String n = client.chat().completions().create(chat("A number", 100).responseFormat(rf).build()).choices().getFirst().message().content().orElseThrow();
        int v = parse(n).path("n").asInt(-1);
        assertTrue(v >= 0 && v <= 9, n);
    }

    static JsonNode parse(String s) {
        try {
            return JSON.readTree(s);
        } catch (Exception e) {
            throw new AssertionError("not JSON: " + s, e);
        }
    }

    @Test
    void nChoicesLogprobsAndStop() {
        ChatCompletion c = client.chat().completions().create(chat("Hi", 12).n(3).temperature(0.9).seed(5).logprobs(true).topLogprobs(2).build());
        assertEquals(3, c.choices().size());
        for (var ch : c.choices()) {
            var lp = ch.logprobs().orElseThrow().content().orElseThrow();
            assertFalse(lp.isEmpty());
            for (var t : lp) {
                assertTrue(t.logprob() <= 0, t.toString());
                assertEquals(2, t.topLogprobs().size());
            }
        }
        // stop strings: the completion ends before the stop text, on stories260K's real text
        OpenAIClient sc = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + storiesServer.port() + "/v1").apiKey("x").maxRetries(0).build();
        Completion full = sc.completions().create(CompletionCreateParams.builder().model("stories").prompt("Once upon a time")
                .maxTokens(60).temperature(0.0).build());
        String text = full.choices().getFirst().text();
        assertEquals(plainGreedy(stories, "Once upon a time", 60), text);
        int dot = text.indexOf('.');
        assertTrue(dot > 0, text);
        Completion stopped = sc.completions().create(CompletionCreateParams.builder().model("stories").prompt("Once upon a time")
                .maxTokens(60).temperature(0.0).stop(".").build());
        assertEquals(text.substring(0, dot), stopped.choices().getFirst().text());
        assertEquals("stop", stopped.choices().getFirst().finishReason().asString());
    }

    @Test
    void embeddingsEqualTheLibrarysAndComeAsFloatsOrBase64() {
        CreateEmbeddingResponse r = client.embeddings().create(EmbeddingCreateParams.builder().model("tiny").input("a small test").build());
        List<Float> got = r.data().getFirst().embedding();
        float[] expected;
        try (LlamaContext c = LlamaContext.create(tiny, ContextParams.builder().contextSize(2048).batchSize(2048).microBatchSize(2048)
                .threads(2).threadsBatch(2).embeddings(true).pooling(ContextParams.Pooling.MEAN).build())) {
            expected = c.embed("a small test");
        }
        assertEquals(expected.length, got.size());
        for (int i = 0; i < expected.length; i++) assertEquals(expected[i], got.get(i), 1e-5, "dimension " + i);
        assertTrue(r.usage().promptTokens() > 0);
        CreateEmbeddingResponse b = client.embeddings().create(EmbeddingCreateParams.builder().model("tiny").input("a small test")
                .encodingFormat(EmbeddingCreateParams.EncodingFormat.BASE64).build());
        List<Float> decoded = b.data().getFirst().embedding();
        assertEquals(got, decoded);
    }

    @Test
    void errorsComeAsOpenAiErrorsWithTheRightStatus() throws Exception {
        NotFoundException nf = assertThrows(NotFoundException.class,
                () -> client.chat().completions().create(chat("x", 4).model("gpt-4o").build()));
        assertTrue(nf.getMessage().contains("does not exist"), nf.getMessage());
        OpenAIClient wrongKey = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + server.port() + "/v1").apiKey("nope").maxRetries(0).build();
        assertThrows(UnauthorizedException.class, () -> wrongKey.models().list());
        assertEquals("tiny", client.models().list().data().getFirst().id());
        BadRequestException tooLong = assertThrows(BadRequestException.class,
                () -> client.completions().create(CompletionCreateParams.builder().model("tiny").prompt("word ".repeat(3000)).maxTokens(4).build()));
        assertEquals(400, tooLong.statusCode());
        assertTrue(tooLong.getMessage().contains("slotContext"), tooLong.getMessage());
        // every slot busy and no queue: 429
        OpenAIClient sc = OpenAIOkHttpClient.builder().baseUrl("http://127.0.0.1:" + storiesServer.port() + "/v1").apiKey("x").maxRetries(0).build();
        TokenStream a = storiesEngine.generate("Once", GenerationParams.builder().greedy().ignoreEos(true).maxTokens(200).build());
        TokenStream b = storiesEngine.generate("Once", GenerationParams.builder().greedy().ignoreEos(true).maxTokens(200).build());
        try {
            assertTrue(a.hasNext() && b.hasNext());
            RateLimitException busy = assertThrows(RateLimitException.class, () -> sc.completions().create(
                    CompletionCreateParams.builder().model("stories").prompt("One day").maxTokens(4).build()));
            assertEquals(429, busy.statusCode());
        } finally {
            a.close();
            b.close();
        }
    }

    static HttpResponse<String> post(int port, String path, String body, String key) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).POST(HttpRequest.BodyPublishers.ofString(body))
                .header("Content-Type", "application/json");
        if (key != null) b.header("Authorization", "Bearer " + key);
        return http.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static void assertError(HttpResponse<String> r, int status, String field) {
        assertEquals(status, r.statusCode(), r.body());
        JsonNode e = parse(r.body()).path("error");
        assertTrue(e.path("message").isTextual(), r.statusCode() + " " + r.body());
        assertTrue(e.has("type") && e.has("code") && e.has("param"), r.body());
        if (field != null) assertEquals(field, e.path("param").asText(), r.body());
    }

    @Test
    void malformedRequestsGetErrorsAndTheServerKeepsServing() throws Exception {
        int port = server.port();
        assertError(post(port, "/v1/chat/completions", "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}", "secret"), 400, null);
        assertError(post(port, "/v1/chat/completions", "[1,2]", "secret"), 400, null);
        assertError(post(port, "/v1/chat/completions", "{\"model\":\"tiny\",\"messages\":\"hi\"}", "secret"), 400, "messages");
        assertError(post(port, "/v1/chat/completions", "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":\"ten\"}", "secret"), 400, "max_tokens");
        assertError(post(port, "/v1/chat/completions", "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":7}", "secret"), 400, "temperature");
        assertError(post(port, "/v1/chat/completions", "{\"model\":\"tiny\",\"messages\":[{\"role\":\"wizard\",\"content\":\"hi\"}]}", "secret"), 400, "messages");
        assertError(post(port, "/v1/chat/completions", "{\"model\":\"tiny\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"schema\":{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#/nowhere\"}}}}}}", "secret"), 400, "response_format");
        assertError(post(port, "/v1/embeddings", "{\"model\":\"tiny\",\"input\":[[1, -5]]}", "secret"), 400, "input");
        assertError(post(port, "/v1/chat/completions", "{}", null), 401, null);
        assertError(post(port, "/v1/nothing", "{}", "secret"), 404, null);
        // a body over the limit, announced or not
        String huge = "{\"model\":\"tiny\",\"prompt\":\"" + "x".repeat(200_000) + "\"}";
        assertError(post(port, "/v1/completions", huge, "secret"), 413, null);
        // still serving
        HttpResponse<String> ok = post(port, "/v1/completions", "{\"model\":\"tiny\",\"prompt\":\"hi\",\"max_tokens\":3,\"temperature\":0}", "secret");
        assertEquals(200, ok.statusCode(), ok.body());
        assertEquals("text_completion", parse(ok.body()).path("object").asText());
        assertEquals(200, http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).build(), HttpResponse.BodyHandlers.ofString()).statusCode());
    }

    /** Opens a connection, sends {@code partial}, and returns the seconds until the server closes it. */
    static double secondsUntilClosed(int port, String partial) throws Exception {
        try (Socket slow = new Socket("127.0.0.1", port)) {
            slow.getOutputStream().write(partial.getBytes(StandardCharsets.US_ASCII));
            slow.getOutputStream().flush();
            // meanwhile a normal request is answered
            HttpResponse<String> ok = post(port, "/v1/completions", "{\"model\":\"tiny\",\"prompt\":\"hi\",\"max_tokens\":2}", "secret");
            assertEquals(200, ok.statusCode());
            slow.setSoTimeout(30_000);
            long t0 = System.nanoTime();
            InputStream in = slow.getInputStream();
            byte[] buf = new byte[4096];
            while (in.read(buf) > 0) { } // until the server closes the connection
            return (System.nanoTime() - t0) / 1e9;
        }
    }

    @Test
    void slowClientsAreCutOffAndOthersAreServed() throws Exception {
        int port = server.port(); // idle timeout 3 s
        double line = secondsUntilClosed(port, "POST /v1/comp");
        assertTrue(line < 10, "a request line that never ends: closed after " + line + " s");
        double body = secondsUntilClosed(port, "POST /v1/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer secret\r\n"
                + "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"model\":");
        assertTrue(body < 10, "a body that never ends: closed after " + body + " s");
    }

    @Test
    void aStreamingClientThatGoesAwayCancelsItsGeneration() throws Exception {
        // its own server with the default idle timeout (10 minutes): only the disconnect can end this generation early
        try (Engine e = Engine.create(tiny, EngineParams.builder().slots(1).slotContext(8192)
                .context(ContextParams.builder().threads(2).threadsBatch(2).build()).build());
             OpenAiServer srv = OpenAiServer.start(e, ServerParams.builder().port(0).modelName("tiny").embeddings(false).build());
             Socket s = new Socket("127.0.0.1", srv.port())) {
            String body = "{\"model\":\"tiny\",\"prompt\":\"go\",\"max_tokens\":8000,\"stream\":true}";
            s.getOutputStream().write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "
                    + body.getBytes(StandardCharsets.UTF_8).length + "\r\n\r\n" + body).getBytes(StandardCharsets.UTF_8));
            s.getOutputStream().flush();
            InputStream in = s.getInputStream();
            byte[] buf = new byte[1024];
            int got = 0;
            while (got < 3000) got += in.read(buf); // some tokens arrived
            s.close();
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (e.stats().activeSlots() > 0 && System.nanoTime() < deadline) Thread.sleep(5);
            assertEquals(0, e.stats().activeSlots(), "the generation was cancelled");
            long generated = e.stats().generatedTokens();
            assertTrue(generated < 4000, "generated " + generated + " of 8000 tokens before the cancel");
            String metrics = "";
            for (int i = 0; i < 100 && !metrics.contains("llamajava_client_disconnects_total 1"); i++) {
                Thread.sleep(50); // the handler counts the disconnect just after it cancels
                metrics = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + srv.port() + "/metrics")).build(),
                        HttpResponse.BodyHandlers.ofString()).body();
            }
            assertTrue(metrics.contains("llamajava_client_disconnects_total 1"), metrics);
        }
    }

    @Test
    void metricsAreInPrometheusTextFormat() throws Exception {
        client.completions().create(CompletionCreateParams.builder().model("tiny").prompt("metrics").maxTokens(3).build());
        HttpResponse<String> m = http.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/metrics"))
                .header("Authorization", "Bearer secret").build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, m.statusCode());
        assertTrue(m.headers().firstValue("content-type").orElse("").startsWith("text/plain"));
        String t = m.body();
        for (String name : List.of("llamajava_requests_total{endpoint=\"/v1/completions\",status=\"200\"}", "llamajava_slots 4",
                "llamajava_queue_depth", "llamajava_generated_tokens_total", "llamajava_time_to_first_token_seconds_bucket{le=\"+Inf\"}",
                "llamajava_request_duration_seconds_count{endpoint=\"/v1/completions\"}")) {
            assertTrue(t.contains(name), name + " in\n" + t);
        }
        // every sample line is NAME{labels} VALUE with a number
        for (String line : t.lines().filter(l -> !l.startsWith("#")).collect(Collectors.toList())) {
            String v = line.substring(line.lastIndexOf(' ') + 1);
            Double.parseDouble(v);
        }
    }

    @Test
    void gracefulShutdownLetsRunningRequestsFinish() throws Exception {
        Engine e = Engine.create(tiny, EngineParams.builder().slots(2).slotContext(256).context(ContextParams.builder().threads(2).threadsBatch(2).build()).build());
        OpenAiServer s = OpenAiServer.start(e, ServerParams.builder().port(0).modelName("tiny").embeddings(false).build());
        try {
            var f = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return post(s.port(), "/v1/completions", "{\"prompt\":\"hi\",\"max_tokens\":40,\"temperature\":0}", null);
                } catch (Exception x) {
                    throw new RuntimeException(x);
                }
            });
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (e.stats().activeSlots() == 0 && !f.isDone() && System.nanoTime() < deadline) Thread.sleep(1);
            assertTrue(s.shutdown(Duration.ofSeconds(30)));
            HttpResponse<String> r = f.get();
            assertEquals(200, r.statusCode(), r.body());
            assertEquals(plainGreedy(tiny, "hi", 40), parse(r.body()).path("choices").get(0).path("text").asText());
        } finally {
            s.close();
            e.close();
        }
    }
}
