package dev.llamajava.server;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamajava.ChatMessage;
import dev.llamajava.ContextOverflowException;
import dev.llamajava.Engine;
import dev.llamajava.EngineBusyException;
import dev.llamajava.GenerationParams;
import dev.llamajava.GenerationResult;
import dev.llamajava.LlamaModel;
import dev.llamajava.SamplerParams;
import dev.llamajava.TextEmbedder;
import dev.llamajava.StopReason;
import dev.llamajava.Token;
import dev.llamajava.TokenStream;
import io.helidon.http.HeaderNames;
import io.helidon.http.PathMatchers;
import io.helidon.webserver.WebServer;
import io.helidon.webserver.http.HttpRouting;
import io.helidon.webserver.http.ServerRequest;
import io.helidon.webserver.http.ServerResponse;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.OptionalLong;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * An OpenAI-compatible HTTP server over an {@link Engine}: {@code /v1/chat/completions} and {@code /v1/completions}
 * (streamed as server-sent events or not; {@code response_format} {@code json_object} and {@code json_schema};
 * {@code stop}, {@code max_tokens}, {@code temperature}, {@code top_p}, {@code seed}, {@code logprobs}, {@code n},
 * penalties, and llama-server's {@code ignore_eos}), {@code /v1/embeddings}, {@code /v1/models}, {@code /health} and {@code /metrics} (Prometheus).
 * Errors are OpenAI's error JSON with the matching status: 400 for bad JSON, wrong types and prompts that do not fit,
 * 401 for a missing or wrong API key, 404 for an unknown model or path, 413 for a body over the limit, 429 when every
 * slot and queue place is taken, 503 while shutting down.
 *
 * <p>Each request runs on its own virtual thread (Helidon SE 4). A streaming client that goes away cancels its
 * generation at the next token. A slow client is cut off after {@link ServerParams#idleTimeout()}: Helidon closes a
 * connection whose request line has not arrived by then, and the server stops reading a body that has not (its
 * headers are bounded by Helidon's size limits, not by time). Binds to loopback unless told otherwise.
 * The engine is the caller's: closing the server leaves it open.
 *
 * <pre>{@code
 * try (Engine engine = Engine.create(model, EngineParams.builder().slots(4).build());
 *      OpenAiServer server = OpenAiServer.start(engine, ServerParams.builder().port(8080).build())) {
 *     server.awaitShutdown();
 * }
 * }</pre>
 */
public final class OpenAiServer implements AutoCloseable {

    private static final System.Logger LOG = System.getLogger("dev.llamajava.server");
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Set<String> ROLES = Set.of("system", "developer", "user", "assistant", "tool");

    private final Engine engine;
    private final LlamaModel model;
    private final ServerParams params;
    private final String template;
    private final TextEmbedder embedder;
    private final Metrics metrics = new Metrics();
    private final Set<TokenStream> open = ConcurrentHashMap.newKeySet();
    private final long created = System.currentTimeMillis() / 1000;
    private volatile boolean stopping;
    private WebServer web;
    private final Object stopped = new Object();
    /** Interrupts a handler whose request body does not arrive within the idle timeout (the read then fails, the connection closes). */
    private final ScheduledExecutorService watchdog = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "llama-java-server-watchdog");
        t.setDaemon(true);
        return t;
    });

    private OpenAiServer(Engine engine, ServerParams params, TextEmbedder embedder) {
        this.engine = engine;
        this.model = engine.model();
        this.params = params;
        this.template = model.chatTemplate().orElse(null);
        this.embedder = embedder;
    }

    /**
     * Starts a server.
     *
     * @param engine the engine that generates; it stays the caller's
     * @param params where to listen and what to accept
     * @return the running server
     * @throws UncheckedIOException when the port cannot be bound
     * @throws dev.llamajava.LlamaException when the embedding context cannot be created
     */
    public static OpenAiServer start(Engine engine, ServerParams params) {
        Objects.requireNonNull(engine, "engine");
        Objects.requireNonNull(params, "params");
        TextEmbedder embed = params.embeddings()
                ? TextEmbedder.create(engine.model(), engine.params().context().toBuilder().contextSize(2048).batchSize(2048)
                        .microBatchSize(2048).sequences(4).build())
                : null;
        OpenAiServer s = new OpenAiServer(engine, params, embed);
        try {
            s.web = WebServer.builder()
                    .host(params.host())
                    .port(params.port())
                    .maxPayloadSize(Math.max(params.maxBodyBytes() * 4, 64L << 20)) // a backstop: our own check answers 413 first, in OpenAI's format
                    .idleConnectionTimeout(params.idleTimeout())
                    .idleConnectionPeriod(params.idleTimeout().compareTo(Duration.ofSeconds(2)) < 0 ? Duration.ofMillis(250) : Duration.ofSeconds(1))
                    .shutdownHook(false)
                    .routing(s::routes)
                    .build()
                    .start();
        } catch (RuntimeException e) {
            if (embed != null) embed.close();
            throw e;
        }
        LOG.log(System.Logger.Level.INFO, "serving {0} on http://{1}:{2}", params.modelName(), params.host(), Integer.toString(s.port()));
        return s;
    }

    /** @return the port it listens on */
    public int port() {
        return web.port();
    }

    /** @return the engine it serves */
    public Engine engine() {
        return engine;
    }

    private void routes(HttpRouting.Builder r) {
        r.get("/health", (req, res) -> handle("/health", false, req, res, () -> {
            ObjectNode o = JSON.createObjectNode().put("status", stopping ? "shutting down" : "ok");
            json(res, stopping ? 503 : 200, o);
        }));
        r.get("/v1/models", (req, res) -> handle("/v1/models", true, req, res, () -> json(res, 200, models())));
        r.get("/v1/models/{id}", (req, res) -> handle("/v1/models", true, req, res, () -> {
            String id = req.path().pathParameters().get("id");
            if (!id.equals(params.modelName())) throw unknownModel(id);
            json(res, 200, models().path("data").get(0));
        }));
        r.get("/metrics", (req, res) -> handle("/metrics", true, req, res, () -> {
            res.status(200).header(HeaderNames.CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
            res.send(metrics.render(engine.stats()).getBytes(StandardCharsets.UTF_8));
        }));
        r.post("/v1/chat/completions", (req, res) -> handle("/v1/chat/completions", true, req, res, () -> completion(req, res, true)));
        r.post("/v1/completions", (req, res) -> handle("/v1/completions", true, req, res, () -> completion(req, res, false)));
        r.post("/v1/embeddings", (req, res) -> handle("/v1/embeddings", true, req, res, () -> embeddings(req, res)));
        r.route(m -> true, PathMatchers.any(), (req, res) -> handle("other", false, req, res, () -> {
            throw new ApiException(404, "invalid_request_error", "not_found", null,
                    "no route for " + req.prologue().method().text() + " " + req.path().path());
        }));
    }

    private interface Body {
        void run() throws IOException;
    }

    /** Runs a handler: the API key, errors as OpenAI's error JSON, metrics. Never lets an exception escape. */
    private void handle(String endpoint, boolean auth, ServerRequest req, ServerResponse res, Body body) {
        long t0 = System.nanoTime();
        try {
            if (auth && params.apiKey() != null) {
                String h = req.headers().first(HeaderNames.AUTHORIZATION).orElse("");
                if (!h.equals("Bearer " + params.apiKey())) {
                    throw new ApiException(401, "invalid_request_error", "invalid_api_key", null,
                            h.isEmpty() ? "missing API key: send Authorization: Bearer <key>" : "incorrect API key");
                }
            }
            if (stopping && !endpoint.equals("/health")) {
                throw new ApiException(503, "server_error", "shutting_down", null, "the server is shutting down");
            }
            body.run();
        } catch (ApiException e) {
            error(res, e);
        } catch (UncheckedIOException | IOException e) {
            LOG.log(System.Logger.Level.DEBUG, "connection failed on " + endpoint, e);
        } catch (RuntimeException | Error e) {
            LOG.log(System.Logger.Level.WARNING, "request to " + endpoint + " failed", e);
            error(res, new ApiException(500, "server_error", null, null, "internal error: " + e));
        } finally {
            metrics.request(endpoint, res.status().code(), System.nanoTime() - t0);
        }
    }

    private static void error(ServerResponse res, ApiException e) {
        if (res.isSent()) return;
        ObjectNode err = JSON.createObjectNode();
        ObjectNode o = err.putObject("error").put("message", e.getMessage()).put("type", e.type);
        if (e.param != null) o.put("param", e.param); else o.putNull("param");
        if (e.code != null) o.put("code", e.code); else o.putNull("code");
        try {
            json(res, e.status, err);
        } catch (RuntimeException ignored) {
            // the connection is gone
        }
    }

    private static void json(ServerResponse res, int status, JsonNode body) {
        res.status(status).header(HeaderNames.CONTENT_TYPE, "application/json");
        try {
            res.send(JSON.writeValueAsBytes(body));
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    private ObjectNode models() {
        ObjectNode o = JSON.createObjectNode().put("object", "list");
        o.putArray("data").addObject().put("id", params.modelName()).put("object", "model").put("created", created)
                .put("owned_by", "llama-java");
        return o;
    }

    private ApiException unknownModel(String name) {
        return new ApiException(404, "invalid_request_error", "model_not_found", "model",
                "the model '" + name + "' does not exist; this server serves '" + params.modelName() + "'");
    }

    /** Reads the body as a JSON object, within the size limit. */
    private JsonNode body(ServerRequest req) throws IOException {
        OptionalLong len = req.headers().contentLength();
        long max = params.maxBodyBytes();
        if (len.isPresent() && len.getAsLong() > max) throw tooLarge(len.getAsLong());
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        Thread reader = Thread.currentThread();
        ScheduledFuture<?> deadline = watchdog.schedule(reader::interrupt, params.idleTimeout().toMillis(), TimeUnit.MILLISECONDS);
        try (InputStream in = req.content().inputStream()) {
            byte[] chunk = new byte[16384];
            int n;
            while ((n = in.read(chunk)) > 0) {
                if (buf.size() + (long) n > max) throw tooLarge(buf.size() + (long) n);
                buf.write(chunk, 0, n);
            }
        } finally {
            deadline.cancel(false);
            if (Thread.interrupted() && deadline.isDone() && !deadline.isCancelled()) {
                throw new IOException("the request body did not arrive within " + params.idleTimeout());
            }
        }
        JsonNode node;
        try {
            node = JSON.readTree(buf.toByteArray());
        } catch (JsonProcessingException e) {
            throw ApiException.invalid(null, "the body is not valid JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject()) throw ApiException.invalid(null, "the body must be a JSON object");
        String m = node.path("model").isTextual() ? node.path("model").asText() : null;
        if (node.has("model") && !node.path("model").isTextual()) throw ApiException.invalid("model", "'model' must be a string");
        if (m != null && !m.equals(params.modelName())) throw unknownModel(m);
        return node;
    }

    private ApiException tooLarge(long n) {
        return new ApiException(413, "invalid_request_error", "request_too_large", null,
                "the body has " + n + " bytes or more; the limit is " + params.maxBodyBytes());
    }

    // ---- completions ----

    private record Request(int[] prompt, GenerationParams gen, int n, boolean stream, boolean usage, boolean logprobs) { }

    private Request parse(JsonNode b, boolean chat) {
        int[] promptTokens;
        if (chat) {
            JsonNode msgs = b.path("messages");
            if (!msgs.isArray() || msgs.isEmpty()) throw ApiException.invalid("messages", "'messages' must be a non-empty array");
            List<ChatMessage> list = new ArrayList<>();
            for (JsonNode m : msgs) {
                if (!m.isObject() || !m.path("role").isTextual()) throw ApiException.invalid("messages", "each message needs a string 'role'");
                String role = m.path("role").asText();
                if (!ROLES.contains(role)) throw ApiException.invalid("messages", "unknown role '" + role + "'");
                list.add(new ChatMessage(role.equals("developer") ? "system" : role, content(m.path("content"))));
            }
            if (template == null) throw ApiException.invalid("messages", "the model has no chat template; use /v1/completions");
            promptTokens = model.chatPrompt(template, list);
        } else {
            JsonNode p = b.path("prompt");
            if (p.isArray() && p.size() == 1 && p.get(0).isTextual()) p = p.get(0);
            if (!p.isTextual()) throw ApiException.invalid("prompt", "'prompt' must be a string");
            promptTokens = model.tokenizePrompt(p.asText());
        }
        int maxTokens = params.maxTokens();
        for (String f : List.of("max_tokens", "max_completion_tokens")) {
            JsonNode v = b.get(f);
            if (v != null && !v.isNull()) {
                if (!v.isIntegralNumber() || v.asLong() < 1 || v.asLong() > 1_000_000) throw ApiException.invalid(f, "'" + f + "' must be an integer >= 1");
                maxTokens = v.asInt();
            }
        }
        int n = intField(b, "n", 1, 1, params.maxChoices());
        boolean stream = boolField(b, "stream", false);
        boolean usage = b.path("stream_options").path("include_usage").asBoolean(false);
        Double temp = numField(b, "temperature", 0, 2);
        Double topP = numField(b, "top_p", 0, 1);
        JsonNode seed = b.get("seed");
        if (seed != null && !seed.isNull() && !seed.isIntegralNumber()) throw ApiException.invalid("seed", "'seed' must be an integer");
        Double freq = numField(b, "frequency_penalty", -2, 2);
        Double pres = numField(b, "presence_penalty", -2, 2);
        SamplerParams sampler;
        try {
            sampler = SamplerParams.of(temp, topP, null, freq, pres, seed == null || seed.isNull() ? null : seed.asLong());
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(null, e.getMessage());
        }
        GenerationParams.Builder g = GenerationParams.builder().maxTokens(maxTokens).sampler(sampler).addSpecial(true).parseSpecial(true)
                .ignoreEos(boolField(b, "ignore_eos", false)); // llama-server's extension, for load tests
        JsonNode stop = b.get("stop");
        if (stop != null && !stop.isNull()) {
            List<String> stops = new ArrayList<>();
            if (stop.isTextual() && !stop.asText().isEmpty()) stops.add(stop.asText());
            else if (stop.isArray() && stop.size() <= 4) for (JsonNode s : stop) {
                if (!s.isTextual() || s.asText().isEmpty()) throw ApiException.invalid("stop", "'stop' must hold non-empty strings");
                stops.add(s.asText());
            }
            else throw ApiException.invalid("stop", "'stop' must be a non-empty string or an array of up to 4 of them");
            g.stopStrings(stops);
        }
        boolean logprobs;
        if (chat) {
            logprobs = boolField(b, "logprobs", false);
            int top = intField(b, "top_logprobs", 0, 0, GenerationParams.MAX_TOP_LOGPROBS);
            if (top > 0 && !logprobs) throw ApiException.invalid("top_logprobs", "'top_logprobs' needs 'logprobs': true");
            g.logprobs(logprobs).topLogprobs(top);
        } else {
            JsonNode lp = b.get("logprobs");
            logprobs = lp != null && !lp.isNull();
            if (logprobs) {
                if (!lp.isIntegralNumber() || lp.asInt() < 0 || lp.asInt() > 5) throw ApiException.invalid("logprobs", "'logprobs' must be an integer in [0, 5]");
                g.logprobs(true).topLogprobs(lp.asInt());
            }
        }
        JsonNode rf = b.get("response_format");
        if (rf != null && !rf.isNull()) {
            String type = rf.path("type").asText("");
            try {
                switch (type) {
                    case "text" -> { }
                    case "json_object" -> g.json();
                    case "json_schema" -> {
                        JsonNode schema = rf.path("json_schema").path("schema");
                        if (!schema.isObject()) throw ApiException.invalid("response_format", "'response_format.json_schema.schema' must be an object");
                        g.jsonSchema(schema);
                    }
                    default -> throw ApiException.invalid("response_format", "'response_format.type' must be text, json_object or json_schema");
                }
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid("response_format", "the JSON schema is not supported: " + e.getMessage());
            }
        }
        try {
            return new Request(promptTokens, g.build(), n, stream, usage, logprobs);
        } catch (IllegalArgumentException e) {
            throw ApiException.invalid(null, e.getMessage());
        }
    }

    private static String content(JsonNode c) {
        if (c.isTextual()) return c.asText();
        if (c.isNull() || c.isMissingNode()) return "";
        if (c.isArray()) {
            StringBuilder sb = new StringBuilder();
            for (JsonNode part : c) {
                if (!part.path("type").asText().equals("text") || !part.path("text").isTextual()) {
                    throw ApiException.invalid("messages", "only text content parts are supported");
                }
                sb.append(part.path("text").asText());
            }
            return sb.toString();
        }
        throw ApiException.invalid("messages", "'content' must be a string or an array of text parts");
    }

    private static int intField(JsonNode b, String f, int def, int min, int max) {
        JsonNode v = b.get(f);
        if (v == null || v.isNull()) return def;
        if (!v.isIntegralNumber() || v.asLong() < min || v.asLong() > max) throw ApiException.invalid(f, "'" + f + "' must be an integer in [" + min + ", " + max + "]");
        return v.asInt();
    }

    private static boolean boolField(JsonNode b, String f, boolean def) {
        JsonNode v = b.get(f);
        if (v == null || v.isNull()) return def;
        if (!v.isBoolean()) throw ApiException.invalid(f, "'" + f + "' must be a boolean");
        return v.asBoolean();
    }

    private static Double numField(JsonNode b, String f, double min, double max) {
        JsonNode v = b.get(f);
        if (v == null || v.isNull()) return null;
        if (!v.isNumber() || v.asDouble() < min || v.asDouble() > max) throw ApiException.invalid(f, "'" + f + "' must be a number in [" + min + ", " + max + "]");
        return v.asDouble();
    }

    /** Starts the request's n generations; on a refusal, the ones started are cancelled. */
    private List<TokenStream> start(Request r) {
        List<TokenStream> streams = new ArrayList<>();
        try {
            for (int i = 0; i < r.n(); i++) {
                GenerationParams gp = r.gen();
                if (i > 0 && gp.sampler().seed() != -1) {
                    gp = gp.toBuilder().sampler(gp.sampler().toBuilder().seed(gp.sampler().seed() + i).build()).build();
                }
                TokenStream s = engine.generate(r.prompt(), gp);
                streams.add(s);
                open.add(s);
            }
            return streams;
        } catch (RuntimeException e) {
            for (TokenStream s : streams) close(s);
            if (e instanceof ContextOverflowException) {
                throw new ApiException(400, "invalid_request_error", "context_length_exceeded", "messages", e.getMessage());
            }
            if (e instanceof EngineBusyException) throw new ApiException(429, "rate_limit_error", "rate_limit_exceeded", null, e.getMessage());
            if (e instanceof IllegalArgumentException) throw ApiException.invalid(null, e.getMessage());
            if (e instanceof IllegalStateException) throw new ApiException(503, "server_error", "unavailable", null, e.getMessage());
            throw e;
        }
    }

    private void close(TokenStream s) {
        open.remove(s);
        s.close();
    }

    private static String finish(StopReason r) {
        return r == StopReason.MAX_TOKENS || r == StopReason.CONTEXT_FULL ? "length" : "stop";
    }

    private void completion(ServerRequest req, ServerResponse res, boolean chat) throws IOException {
        Request r = parse(body(req), chat);
        long t0 = System.nanoTime();
        List<TokenStream> streams = start(r);
        String id = (chat ? "chatcmpl-" : "cmpl-") + UUID.randomUUID().toString().replace("-", "");
        long now = System.currentTimeMillis() / 1000;
        try {
            if (r.stream()) stream(res, r, streams, id, now, chat, t0);
            else whole(res, r, streams, id, now, chat, t0);
        } finally {
            for (TokenStream s : streams) close(s);
        }
    }

    private ObjectNode head(String id, long now, boolean chat, boolean chunk) {
        return JSON.createObjectNode().put("id", id).put("object", chat ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion")
                .put("created", now).put("model", params.modelName());
    }

    private void whole(ServerResponse res, Request r, List<TokenStream> streams, String id, long now, boolean chat, long t0) {
        ObjectNode o = head(id, now, chat, false);
        ArrayNode choices = o.putArray("choices");
        int completionTokens = 0;
        for (int i = 0; i < streams.size(); i++) {
            TokenStream s = streams.get(i);
            List<Token> tokens = new ArrayList<>();
            while (s.hasNext()) {
                tokens.add(s.next());
                if (tokens.size() == 1 && i == 0) metrics.firstToken(System.nanoTime() - t0);
            }
            GenerationResult g = s.result();
            completionTokens += g.generatedTokens();
            ObjectNode c = choices.addObject().put("index", i);
            if (chat) c.putObject("message").put("role", "assistant").put("content", g.text());
            else c.put("text", g.text());
            if (r.logprobs()) c.set("logprobs", chat ? chatLogprobs(tokens) : completionLogprobs(tokens));
            else c.putNull("logprobs");
            c.put("finish_reason", finish(g.stopReason()));
        }
        int promptTokens = streams.getFirst().promptTokens().length;
        o.set("usage", usage(promptTokens, completionTokens));
        json(res, 200, o);
    }

    private static ObjectNode usage(int prompt, int completion) {
        return JSON.createObjectNode().put("prompt_tokens", prompt).put("completion_tokens", completion).put("total_tokens", prompt + completion);
    }

    private ArrayNode bytes(String text) {
        ArrayNode a = JSON.createArrayNode();
        for (byte x : text.getBytes(StandardCharsets.UTF_8)) a.add(x & 0xff);
        return a;
    }

    private ObjectNode chatLogprobs(List<Token> tokens) {
        ObjectNode lp = JSON.createObjectNode();
        ArrayNode content = lp.putArray("content");
        for (Token t : tokens) content.add(chatLogprob(t));
        return lp;
    }

    private ObjectNode chatLogprob(Token t) {
        ObjectNode e = JSON.createObjectNode().put("token", t.text()).put("logprob", Float.isNaN(t.logprob()) ? 0 : t.logprob());
        e.set("bytes", bytes(t.text()));
        ArrayNode top = e.putArray("top_logprobs");
        for (Token.Alternative a : t.topLogprobs()) {
            ObjectNode x = top.addObject().put("token", a.text()).put("logprob", a.logprob());
            x.set("bytes", bytes(a.text()));
        }
        return e;
    }

    private ObjectNode completionLogprobs(List<Token> tokens) {
        ObjectNode lp = JSON.createObjectNode();
        ArrayNode toks = lp.putArray("tokens"), lps = lp.putArray("token_logprobs"), top = lp.putArray("top_logprobs"), off = lp.putArray("text_offset");
        int offset = 0;
        for (Token t : tokens) {
            toks.add(t.text());
            lps.add(Float.isNaN(t.logprob()) ? 0 : t.logprob());
            ObjectNode m = top.addObject();
            for (Token.Alternative a : t.topLogprobs()) m.put(a.text(), a.logprob());
            off.add(offset);
            offset += t.text().length();
        }
        return lp;
    }

    /** Server-sent events: a chunk per token (per choice), the finish chunks, the usage chunk when asked, [DONE]. */
    private void stream(ServerResponse res, Request r, List<TokenStream> streams, String id, long now, boolean chat, long t0) throws IOException {
        res.status(200).header(HeaderNames.CONTENT_TYPE, "text/event-stream").header(HeaderNames.CACHE_CONTROL, "no-cache");
        int[] completion = new int[1];
        boolean[] broken = new boolean[1];
        try (OutputStream out = res.outputStream()) {
            Object lock = new Object();
            List<Thread> readers = new ArrayList<>();
            for (int i = 0; i < streams.size(); i++) {
                int index = i;
                TokenStream s = streams.get(i);
                Runnable read = () -> {
                    try {
                        if (chat) {
                            ObjectNode first = head(id, now, true, true);
                            first.putArray("choices").addObject().put("index", index).putNull("finish_reason").putObject("delta").put("role", "assistant").put("content", "");
                            send(out, lock, first);
                        }
                        boolean firstToken = true;
                        while (s.hasNext()) {
                            Token t = s.next();
                            if (firstToken && index == 0) metrics.firstToken(System.nanoTime() - t0);
                            firstToken = false;
                            if (t.text().isEmpty() && !r.logprobs()) continue;
                            ObjectNode c = head(id, now, chat, true);
                            ObjectNode ch = c.putArray("choices").addObject().put("index", index);
                            if (chat) ch.putObject("delta").put("content", t.text());
                            else ch.put("text", t.text());
                            if (r.logprobs()) {
                                if (chat) ch.putObject("logprobs").putArray("content").add(chatLogprob(t));
                                else ch.set("logprobs", completionLogprobs(List.of(t)));
                            } else {
                                ch.putNull("logprobs");
                            }
                            ch.putNull("finish_reason");
                            send(out, lock, c);
                        }
                        GenerationResult g = s.result();
                        synchronized (lock) {
                            completion[0] += g.generatedTokens();
                        }
                        ObjectNode end = head(id, now, chat, true);
                        ObjectNode ch = end.putArray("choices").addObject().put("index", index);
                        if (chat) ch.putObject("delta");
                        else ch.put("text", "");
                        ch.put("finish_reason", finish(g.stopReason()));
                        send(out, lock, end);
                    } catch (ClientGone e) {
                        synchronized (lock) {
                            broken[0] = true;
                        }
                        for (TokenStream x : streams) x.cancel(); // the client went away: stop every choice now
                    }
                };
                if (streams.size() == 1) read.run();
                else readers.add(Thread.ofVirtual().start(read));
            }
            for (Thread t : readers) {
                try {
                    t.join();
                } catch (InterruptedException e) {
                    for (TokenStream x : streams) x.cancel();
                    Thread.currentThread().interrupt();
                    return;
                }
            }
            if (broken[0]) {
                metrics.disconnect();
                return;
            }
            if (r.usage()) {
                ObjectNode u = head(id, now, chat, true);
                u.putArray("choices");
                u.set("usage", usage(streams.getFirst().promptTokens().length, completion[0]));
                send(out, lock, u);
            }
            write(out, lock, "data: [DONE]\n\n");
        } catch (ClientGone | UncheckedIOException e) {
            if (!broken[0]) metrics.disconnect();
        } catch (RuntimeException e) {
            if (!broken[0]) throw e; // closing the response of a client that went away
        }
    }

    private static void send(OutputStream out, Object lock, JsonNode chunk) {
        try {
            write(out, lock, "data: " + JSON.writeValueAsString(chunk) + "\n\n");
        } catch (JsonProcessingException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The client went away while a response streamed (whatever the web server threw for it). */
    private static final class ClientGone extends RuntimeException {
        private static final long serialVersionUID = 1L;

        ClientGone(Throwable cause) {
            super(cause);
        }
    }

    private static void write(OutputStream out, Object lock, String s) {
        synchronized (lock) {
            try {
                out.write(s.getBytes(StandardCharsets.UTF_8));
                out.flush();
            } catch (IOException | RuntimeException e) {
                throw new ClientGone(e);
            }
        }
    }

    // ---- embeddings ----

    private void embeddings(ServerRequest req, ServerResponse res) throws IOException {
        if (embedder == null) throw new ApiException(404, "invalid_request_error", "not_found", null, "embeddings are off on this server");
        JsonNode b = body(req);
        JsonNode input = b.path("input");
        List<Object> inputs = new ArrayList<>();
        if (input.isTextual()) inputs.add(input.asText());
        else if (input.isArray() && !input.isEmpty() && input.get(0).isIntegralNumber()) inputs.add(tokens(input));
        else if (input.isArray() && !input.isEmpty()) {
            for (JsonNode x : input) {
                if (x.isTextual()) inputs.add(x.asText());
                else if (x.isArray()) inputs.add(tokens(x));
                else throw ApiException.invalid("input", "'input' must be a string, an array of strings, or token arrays");
            }
        } else {
            throw ApiException.invalid("input", "'input' must be a non-empty string or array");
        }
        String format = b.path("encoding_format").asText("float");
        if (!format.equals("float") && !format.equals("base64")) throw ApiException.invalid("encoding_format", "'encoding_format' must be float or base64");
        ObjectNode o = JSON.createObjectNode().put("object", "list").put("model", params.modelName());
        ArrayNode data = o.putArray("data");
        int promptTokens = 0;
        for (int i = 0; i < inputs.size(); i++) {
            int[] toks = inputs.get(i) instanceof String s ? model.tokenize(s, true, true) : (int[]) inputs.get(i);
            if (toks.length == 0) throw ApiException.invalid("input", "input " + i + " has no tokens");
            if (toks.length > embedder.maxTokens()) {
                throw new ApiException(400, "invalid_request_error", "context_length_exceeded", "input",
                        "input " + i + " has " + toks.length + " tokens; the embedding context holds " + embedder.maxTokens());
            }
            promptTokens += toks.length;
            float[] v;
            try {
                v = embedder.embed(toks, true);
            } catch (IllegalArgumentException e) {
                throw ApiException.invalid("input", e.getMessage());
            }
            ObjectNode d = data.addObject().put("object", "embedding").put("index", i);
            if (format.equals("base64")) {
                ByteBuffer bb = ByteBuffer.allocate(v.length * 4).order(ByteOrder.LITTLE_ENDIAN);
                for (float f : v) bb.putFloat(f);
                d.put("embedding", Base64.getEncoder().encodeToString(bb.array()));
            } else {
                ArrayNode a = d.putArray("embedding");
                for (float f : v) a.add(f);
            }
        }
        o.putObject("usage").put("prompt_tokens", promptTokens).put("total_tokens", promptTokens);
        json(res, 200, o);
    }

    private int[] tokens(JsonNode arr) {
        int[] t = new int[arr.size()];
        int nVocab = model.vocabSize();
        for (int i = 0; i < t.length; i++) {
            JsonNode x = arr.get(i);
            if (!x.isIntegralNumber() || x.asLong() < 0 || x.asLong() >= nVocab) {
                throw ApiException.invalid("input", "token " + x + " is not in the vocabulary [0, " + nVocab + ")");
            }
            t[i] = x.asInt();
        }
        return t;
    }

    // ---- lifecycle ----

    /** Blocks until the server is shut down (by {@link #shutdown}, {@link #close}, or another thread). */
    public void awaitShutdown() throws InterruptedException {
        synchronized (stopped) {
            while (web.isRunning()) stopped.wait(1000);
        }
    }

    /**
     * Stops taking requests (new ones get 503), lets running ones finish for up to {@code grace}, then cancels the
     * generations left and stops listening. The engine stays open. Safe to call twice.
     *
     * @param grace how long running requests may take to finish
     * @return true when every request finished within it
     */
    public boolean shutdown(Duration grace) {
        stopping = true;
        long deadline = System.nanoTime() + grace.toNanos();
        boolean done;
        while (!(done = open.isEmpty()) && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        for (TokenStream s : open) s.cancel();
        web.stop();
        watchdog.shutdownNow();
        if (embedder != null) embedder.close();
        synchronized (stopped) {
            stopped.notifyAll();
        }
        return done;
    }

    /** Shuts down with no grace: running generations are cancelled. */
    @Override
    public void close() {
        shutdown(Duration.ZERO);
    }
}
