package dev.llamajava;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import dev.llamajava.ffi.llama_h;
import dev.llamajava.internal.Json;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * A multi-turn chat over one context. It formats the conversation with the model's own template
 * (or a named built-in one), keeps the KV cache between turns so a turn decodes only the tokens that
 * changed, and when the conversation no longer fits drops the oldest turns after the system prompt.
 * Not thread-safe (like its context).
 */
public final class ChatSession {

    private final LlamaContext context;
    private final String template;
    private final List<ChatMessage> messages = new ArrayList<>();
    private int[] cached = new int[0];
    private int lastDecoded;

    /**
     * @param context  the context (its cache belongs to this session while the session is used)
     * @param template a template text or built-in name; null takes the model's own
     * @param system   a system prompt, or null
     * @throws UnsupportedChatTemplateException when the model has no template and none is given
     */
    public ChatSession(LlamaContext context, String template, String system) {
        this.context = Objects.requireNonNull(context, "context");
        this.template = template != null ? template : context.model().chatTemplate().orElseThrow(() ->
                new UnsupportedChatTemplateException("the model has no chat template (tokenizer.chat_template); pass one, e.g. \"llama3\""));
        if (system != null) messages.add(ChatMessage.system(system));
    }

    /** @return the conversation so far */
    public List<ChatMessage> messages() {
        return Collections.unmodifiableList(messages);
    }

    /** @return tokens the last {@link #send} decoded for its prompt (the part not already cached) */
    public int lastPromptDecodedTokens() {
        return lastDecoded;
    }

    /** Forgets the conversation (keeps the system prompt) and empties the cache. */
    public void reset() {
        messages.removeIf(m -> !m.role().equals("system"));
        cached = new int[0];
        context.clearCache();
    }

    /**
     * @param addAssistant end with the assistant header
     * @return the formatted prompt of the conversation so far
     */
    public String prompt(boolean addAssistant) {
        return ChatTemplates.apply(template, messages, addAssistant);
    }

    /**
     * Adds a user message and answers it. When the stream ends, the answer joins the conversation. When this throws,
     * the conversation and the cache bookkeeping are as they were before the call.
     *
     * @param user   the user's message
     * @param params generation settings ({@code keepCache} and {@code addSpecial} are managed here)
     * @return the answer's tokens
     * @throws IllegalStateException    when the context is closed or in use
     * @throws ContextOverflowException when the message does not fit the context even alone
     */
    public TokenStream send(String user, GenerationParams params) {
        Objects.requireNonNull(user, "user");
        Objects.requireNonNull(params, "params");
        List<ChatMessage> next = new ArrayList<>(messages);
        next.add(ChatMessage.user(user));
        int[] full = fit(next, params);
        int common;
        try (NativeResource.Borrow c = context.use()) {
            int have = LlamaContext.cachedTokens(c.ptr());
            common = 0;
            int limit = Math.min(Math.min(have, cached.length), full.length - 1);
            while (common < limit && cached[common] == full[common]) common++;
            llama_h.llama_memory_seq_rm(llama_h.llama_get_memory(c.ptr()), 0, common, -1);
        }
        int[] fresh = Arrays.copyOfRange(full, common, full.length);
        GenerationParams gp = params.toBuilder().addSpecial(false).parseSpecial(true).keepCache(true).build();
        // the cache now holds full[0, common): what it holds is known even if generate throws
        cached = Arrays.copyOf(full, common);
        ContextStream ts = context.start(fresh, gp);
        messages.clear();
        messages.addAll(next);
        lastDecoded = fresh.length;
        ts.onFinish(stream -> {
            messages.add(ChatMessage.assistant(stream.resultText()));
            int[] gen = stream.decodedGenerated();
            int[] now = Arrays.copyOf(full, full.length + gen.length);
            System.arraycopy(gen, 0, now, full.length, gen.length);
            cached = now;
        });
        return ts;
    }

    /**
     * Saves the conversation and the KV cache: {@code file} holds llama.cpp's state, {@code file + ".messages"} the
     * messages as JSON (any text round-trips exactly).
     *
     * @param file where to save
     * @throws IllegalStateException when the context is closed or in use
     * @throws LlamaException        when the state or the messages cannot be written
     */
    public void save(Path file) {
        Objects.requireNonNull(file, "file");
        context.saveState(file, cached);
        ArrayNode arr = Json.MAPPER.createArrayNode();
        for (ChatMessage m : messages) arr.addObject().put("role", m.role()).put("content", m.content());
        try {
            Files.writeString(messagesFile(file), Json.write(arr), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new LlamaException("cannot write the conversation to " + messagesFile(file) + ": " + e.getMessage(), e);
        }
    }

    /**
     * Restores a conversation saved by {@link #save}.
     *
     * @param file the state file
     * @throws IllegalStateException when the context is closed or in use
     * @throws LlamaException        when the files are missing, unreadable, or do not fit this context
     */
    public void load(Path file) {
        Objects.requireNonNull(file, "file");
        List<ChatMessage> loaded = new ArrayList<>();
        try {
            JsonNode arr = Json.MAPPER.readTree(Files.readString(messagesFile(file), StandardCharsets.UTF_8));
            if (arr == null || !arr.isArray()) throw new IOException("not a JSON array");
            for (JsonNode m : arr) {
                if (!m.path("role").isTextual() || !m.path("content").isTextual()) throw new IOException("a message lacks role or content");
                loaded.add(new ChatMessage(m.get("role").asText(), m.get("content").asText()));
            }
        } catch (IOException e) {
            throw new LlamaException("no readable saved conversation at " + messagesFile(file) + ": " + e.getMessage(), e);
        }
        int[] tokens = context.loadState(file);
        cached = tokens;
        messages.clear();
        messages.addAll(loaded);
    }

    private static Path messagesFile(Path file) {
        return Path.of(file + ".messages");
    }

    /** Drops the oldest turns of {@code msgs} (after the system prompt) until prompt and answer fit; returns the prompt's tokens. */
    private int[] fit(List<ChatMessage> msgs, GenerationParams params) {
        int reserve = params.maxTokens() > 0 ? Math.min(params.maxTokens(), context.contextSize() / 2) : context.contextSize() / 4;
        for (;;) {
            int[] full = context.model().chatPrompt(template, msgs);
            if (full.length + reserve <= context.contextSize()) return full;
            int first = msgs.isEmpty() || !msgs.getFirst().role().equals("system") ? 0 : 1;
            if (msgs.size() - first <= 1) {
                throw new ContextOverflowException("the message needs " + full.length + " tokens plus " + reserve
                        + " for the answer but the context holds " + context.contextSize());
            }
            msgs.remove(first);
            while (msgs.size() > first + 1 && !msgs.get(first).role().equals("user")) msgs.remove(first);
        }
    }
}
