package dev.llamajava;

import dev.llamajava.ffi.llama_h;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
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
     * Adds a user message and answers it. When the stream ends, the answer joins the conversation.
     *
     * @param user   the user's message
     * @param params generation settings ({@code keepCache} and {@code addSpecial} are managed here)
     * @return the answer's tokens
     * @throws IllegalStateException when the context is closed or in use
     */
    public TokenStream send(String user, GenerationParams params) {
        Objects.requireNonNull(user, "user");
        messages.add(ChatMessage.user(user));
        int[] full = fit(params);
        MemorySegment c = context.acquire();
        int common;
        try {
            int have = LlamaContext.cachedTokens(c);
            common = 0;
            int limit = Math.min(Math.min(have, cached.length), full.length - 1);
            while (common < limit && cached[common] == full[common]) common++;
            llama_h.llama_memory_seq_rm(llama_h.llama_get_memory(c), 0, common, -1);
        } finally {
            context.release();
        }
        int[] fresh = java.util.Arrays.copyOfRange(full, common, full.length);
        lastDecoded = fresh.length;
        GenerationParams gp = new GenerationParams(params.maxTokens(), params.stopStrings(), params.sampler(), params.logprobs(),
                false, true, true);
        TokenStream ts = context.generate(fresh, gp);
        final int[] base = full;
        ts.onFinish(stream -> {
            messages.add(ChatMessage.assistant(stream.resultText()));
            int[] gen = stream.decodedGenerated();
            int[] now = java.util.Arrays.copyOf(base, base.length + gen.length);
            System.arraycopy(gen, 0, now, base.length, gen.length);
            cached = now;
        });
        return ts;
    }

    /**
     * Saves the conversation (messages) and the KV cache: {@code file} holds llama.cpp's state,
     * {@code file + ".messages"} the messages.
     *
     * @param file where to save
     * @throws java.io.UncheckedIOException when the messages cannot be written
     */
    public void save(java.nio.file.Path file) {
        context.saveState(file, cached);
        StringBuilder sb = new StringBuilder();
        for (ChatMessage m : messages) {
            sb.append(m.role()).append('\t').append(m.content().replace("\\", "\\\\").replace("\n", "\\n")).append('\n');
        }
        try {
            java.nio.file.Files.writeString(java.nio.file.Path.of(file + ".messages"), sb);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /**
     * Restores a conversation saved by {@link #save}.
     *
     * @param file the state file
     * @throws LlamaException when it does not fit this context
     */
    public void load(java.nio.file.Path file) {
        List<String> lines;
        try {
            lines = java.nio.file.Files.readAllLines(java.nio.file.Path.of(file + ".messages"));
        } catch (java.io.IOException e) {
            throw new LlamaException("no saved conversation at " + file + ".messages");
        }
        cached = context.loadState(file);
        messages.clear();
        for (String l : lines) {
            int tab = l.indexOf('\t');
            if (tab < 0) continue;
            String content = l.substring(tab + 1).replace("\\n", "\n").replace("\\\\", "\\");
            messages.add(new ChatMessage(l.substring(0, tab), content));
        }
    }

    private int[] fit(GenerationParams params) {
        int reserve = params.maxTokens() > 0 ? Math.min(params.maxTokens(), context.contextSize() / 2) : context.contextSize() / 4;
        for (;;) {
            int[] full = context.model().tokenize(prompt(true), true, true);
            if (full.length + reserve <= context.contextSize()) return full;
            int first = messages.isEmpty() || !messages.getFirst().role().equals("system") ? 0 : 1;
            if (messages.size() - first <= 1) {
                messages.removeLast();
                throw new ContextOverflowException("the message needs " + full.length + " tokens plus " + reserve
                        + " for the answer but the context holds " + context.contextSize());
            }
            messages.remove(first);
            while (messages.size() > first + 1 && !messages.get(first).role().equals("user")) messages.remove(first);
        }
    }
}
