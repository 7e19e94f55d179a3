package dev.llamajava;

import dev.llamajava.ffi.llama_h;
import dev.llamajava.gguf.FileType;
import dev.llamajava.internal.NativeMemory;
import dev.llamajava.internal.RpcBackend;
import dev.llamajava.internal.TokenTexts;

import java.lang.System.Logger;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.function.ToIntFunction;

/**
 * A loaded GGUF model: weights, vocabulary and metadata. Thread-safe: one model may be shared by
 * many threads and contexts. Closing it while a call is running defers the free to the end of that call.
 *
 * <pre>{@code
 * try (LlamaModel model = LlamaModel.load(Path.of("model.gguf"))) {
 *     int[] ids = model.tokenize("Hello");
 * }
 * }</pre>
 */
public final class LlamaModel extends NativeResource {

    private static final Logger LOG = System.getLogger("dev.llamajava");
    private final Path path;
    private final MemorySegment vocab;
    private final ModelParams params;
    private final Map<String, Long> buffers;
    /** The vocabulary size (fixed for the model's life). */
    final int nVocab;
    /** Token texts and end-of-generation flags, asked of llama.cpp once per token (the per-token path reads them). */
    final TokenTexts texts;

    /** Whether the output layer (and so the logits) lives on another device, a GPU or an RPC server: backend sampling's default follows it. */
    final boolean outputRemote;
    /** Whether it has a classification head (so rank pooling gives scores). */
    final boolean rankHead;

    LlamaModel(Path path, MemorySegment ptr, ModelParams params, Map<String, Long> buffers, boolean outputRemote, boolean rankHead) {
        super("LlamaModel", ptr, p -> {
            llama_h.llama_model_free(p);
            RpcBackend.release(params.rpcServers()); // its connections closed with its buffers
            NativeMemory.trim();
        }, false, null);
        this.path = path;
        this.params = params;
        this.buffers = buffers;
        this.vocab = llama_h.llama_model_get_vocab(ptr);
        this.nVocab = llama_h.llama_vocab_n_tokens(vocab);
        this.texts = new TokenTexts(vocab, nVocab);
        this.outputRemote = outputRemote;
        this.rankHead = rankHead;
    }

    /**
     * Loads a model with llama.cpp's default parameters.
     *
     * @param path a GGUF file
     * @return the model; close it when done
     * @throws ModelLoadException     when the file is missing, not GGUF, truncated or refused by llama.cpp
     * @throws NativeLibraryException when the native libraries cannot be loaded
     */
    public static LlamaModel load(Path path) {
        return load(path, ModelParams.defaults());
    }

    /**
     * Loads a model.
     *
     * @param path   a GGUF file
     * @param params how to load it
     * @return the model; close it when done
     * @throws ModelLoadException     when the file is missing, not GGUF, truncated, refused by llama.cpp,
     *                                or the progress listener cancelled the load
     * @throws NativeLibraryException when the native libraries cannot be loaded
     */
    public static LlamaModel load(Path path, ModelParams params) {
        return ModelLoader.load(path, params);
    }

    /**
     * @return the weight buffers llama.cpp allocated while loading (buffer name, e.g. {@code CPU_Mapped}, to bytes),
     *         as its log reports them
     */
    public Map<String, Long> weightBuffers() {
        return buffers;
    }

    /** @return the file this model was loaded from */
    public Path path() {
        return path;
    }

    /** @return the parameters it was loaded with */
    public ModelParams params() {
        return params;
    }

    /**
     * @return the model's facts in one record
     * @throws IllegalStateException when closed
     */
    public ModelInfo info() {
        Map<String, String> meta = metadata();
        String ftype = meta.containsKey("general.file_type")
                ? Objects.requireNonNullElse(FileType.name(Integer.parseInt(meta.get("general.file_type").trim())), "unknown")
                : "unknown";
        String[] vocabTypes = {"NONE", "SPM", "BPE", "WPM", "UGM", "RWKV", "PLAMO2"};
        int vt = vocabInt(llama_h::llama_vocab_type);
        return new ModelInfo(meta.getOrDefault("general.architecture", ""), meta.getOrDefault("general.name", ""), description(),
                parameterCount(), sizeBytes(), ftype, trainContextLength(), layerCount(), embeddingSize(), headCount(), kvHeadCount(),
                vocabSize(), vt >= 0 && vt < vocabTypes.length ? vocabTypes[vt] : "UNKNOWN", bosToken(), eosToken(), eotToken(),
                chatTemplate(), meta);
    }

    MemorySegment vocab() {
        return vocab;
    }

    /** @return number of parameters (weights) @throws IllegalStateException when closed */
    public long parameterCount() {
        try (Borrow b = use()) {
            return llama_h.llama_model_n_params(b.ptr());
        }
    }

    /** @return total size of the weights in bytes @throws IllegalStateException when closed */
    public long sizeBytes() {
        try (Borrow b = use()) {
            return llama_h.llama_model_size(b.ptr());
        }
    }

    /** @return the vocabulary size @throws IllegalStateException when closed */
    public int vocabSize() {
        return intProp(m -> nVocab);
    }

    /** @return the training context length @throws IllegalStateException when closed */
    public int trainContextLength() {
        return intProp(llama_h::llama_model_n_ctx_train);
    }

    /** @return the number of layers @throws IllegalStateException when closed */
    public int layerCount() {
        return intProp(llama_h::llama_model_n_layer);
    }

    /** @return the embedding width @throws IllegalStateException when closed */
    public int embeddingSize() {
        return intProp(llama_h::llama_model_n_embd);
    }

    /** @return attention heads @throws IllegalStateException when closed */
    public int headCount() {
        return intProp(llama_h::llama_model_n_head);
    }

    /** @return key/value heads @throws IllegalStateException when closed */
    public int kvHeadCount() {
        return intProp(llama_h::llama_model_n_head_kv);
    }

    private int vocabInt(ToIntFunction<MemorySegment> f) {
        return intProp(m -> f.applyAsInt(vocab));
    }

    private int intProp(ToIntFunction<MemorySegment> f) {
        try (Borrow b = use()) {
            return f.applyAsInt(b.ptr());
        }
    }

    /** @return llama.cpp's one-line description, e.g. {@code llama 1B Q4_K - Medium} @throws IllegalStateException when closed */
    public String description() {
        try (Borrow b = use(); Arena a = Arena.ofConfined()) {
            MemorySegment m = b.ptr();
            MemorySegment buf = a.allocate(512);
            int n = llama_h.llama_model_desc(m, buf, 512);
            return n < 0 ? "" : buf.getString(0);
        }
    }

    /**
     * @return every GGUF metadata key with its value as llama.cpp renders it (arrays abbreviated by llama.cpp)
     * @throws IllegalStateException when closed
     */
    public Map<String, String> metadata() {
        try (Borrow b = use(); Arena a = Arena.ofConfined()) {
            MemorySegment m = b.ptr();
            int count = llama_h.llama_model_meta_count(m);
            Map<String, String> out = new LinkedHashMap<>();
            for (int i = 0; i < count; i++) {
                String k = readString(a, i, true, m);
                String v = readString(a, i, false, m);
                out.put(k, v);
            }
            return Collections.unmodifiableMap(out);
        }
    }

    private static String readString(Arena a, int i, boolean key, MemorySegment m) {
        int size = 256;
        for (;;) {
            MemorySegment buf = a.allocate(size);
            int n = key ? llama_h.llama_model_meta_key_by_index(m, i, buf, size)
                        : llama_h.llama_model_meta_val_str_by_index(m, i, buf, size);
            if (n < 0) return "";
            if (n < size) return buf.getString(0);
            size = n + 1;
        }
    }

    /**
     * @param key a GGUF metadata key, e.g. {@code general.name}
     * @return its value as llama.cpp renders it, if present
     * @throws IllegalStateException when closed
     */
    public Optional<String> metadata(String key) {
        Objects.requireNonNull(key, "key");
        try (Borrow b = use(); Arena a = Arena.ofConfined()) {
            MemorySegment m = b.ptr();
            MemorySegment k = a.allocateFrom(key);
            int size = 256;
            for (;;) {
                MemorySegment buf = a.allocate(size);
                int n = llama_h.llama_model_meta_val_str(m, k, buf, size);
                if (n < 0) return Optional.empty();
                if (n < size) return Optional.of(buf.getString(0));
                size = n + 1;
            }
        }
    }

    /** @return the model's default chat template (Jinja text from GGUF), if it has one @throws IllegalStateException when closed */
    public Optional<String> chatTemplate() {
        try (Borrow b = use()) {
            MemorySegment m = b.ptr();
            MemorySegment t = llama_h.llama_model_chat_template(m, MemorySegment.NULL);
            return t.equals(MemorySegment.NULL) ? Optional.empty() : Optional.of(Llama.string(t));
        }
    }

    /**
     * A conversation as prompt tokens: formatted with the model's own chat template, ending with the assistant's
     * header, tokenized with special tokens parsed, and with BOS exactly once (a template that writes BOS itself, as
     * Llama 3's does, would otherwise get a second one from the tokenizer).
     *
     * @param messages the conversation
     * @return the prompt's tokens
     * @throws UnsupportedChatTemplateException when the model has no chat template or llama.cpp does not know it
     * @throws IllegalStateException            when closed
     */
    public int[] chatPrompt(List<ChatMessage> messages) {
        String template = chatTemplate().orElseThrow(() -> new UnsupportedChatTemplateException(
                "the model " + path().getFileName() + " has no chat template (tokenizer.chat_template): format the prompt yourself, "
                        + "or use ChatTemplates.apply with a built-in name such as \"llama3\""));
        return chatPrompt(template, messages);
    }

    /**
     * A conversation as prompt tokens, formatted with the given template (see {@link #chatPrompt(List)}).
     *
     * @param template a template text or a built-in name such as {@code llama3}
     * @param messages the conversation
     * @return the prompt's tokens
     * @throws UnsupportedChatTemplateException when llama.cpp does not know the template
     * @throws IllegalStateException            when closed
     */
    public int[] chatPrompt(String template, List<ChatMessage> messages) {
        return tokenizePrompt(ChatTemplates.apply(template, messages, true));
    }

    /**
     * Tokenizes a prompt that may hold special-token text (such as a formatted chat): special tokens parsed, BOS added
     * as the model asks but never twice (when the text starts with the BOS text itself).
     *
     * @param text the prompt
     * @return its tokens
     * @throws IllegalStateException when closed
     */
    public int[] tokenizePrompt(String text) {
        int[] t = tokenize(text, true, true);
        int bos = bosToken();
        return t.length >= 2 && bos >= 0 && t[0] == bos && t[1] == bos ? Arrays.copyOfRange(t, 1, t.length) : t;
    }

    /** @return beginning-of-sequence token, or -1 @throws IllegalStateException when closed */
    public int bosToken() {
        return vocabInt(llama_h::llama_vocab_bos);
    }

    /** @return end-of-sequence token, or -1 @throws IllegalStateException when closed */
    public int eosToken() {
        return vocabInt(llama_h::llama_vocab_eos);
    }

    /** @return end-of-turn token, or -1 @throws IllegalStateException when closed */
    public int eotToken() {
        return vocabInt(llama_h::llama_vocab_eot);
    }

    /**
     * @param token a token id
     * @return whether it ends generation (EOS, EOT, ...)
     * @throws IllegalStateException when closed
     */
    public boolean isEndOfGeneration(int token) {
        try (Borrow b = use()) {
            return llama_h.llama_vocab_is_eog(vocab, token);
        }
    }

    /**
     * Tokenizes text, adding BOS (and other special tokens) as the model asks, without parsing special tokens in the text.
     *
     * @param text UTF-8 text
     * @return token ids
     * @throws IllegalStateException when closed
     */
    public int[] tokenize(String text) {
        return tokenize(text, true, false);
    }

    /**
     * Tokenizes text.
     *
     * @param text         the text
     * @param addSpecial   add BOS/EOS as the model's metadata asks
     * @param parseSpecial treat special-token text such as {@code <|eot_id|>} as that token
     * @return token ids
     * @throws IllegalStateException when closed
     */
    public int[] tokenize(String text, boolean addSpecial, boolean parseSpecial) {
        Objects.requireNonNull(text, "text");
        try (Borrow b = use()) {
            return tokenize(vocab, text, addSpecial, parseSpecial);
        }
    }

    /** Tokenizes with a vocabulary the caller keeps alive (a borrow of the model, or a context pinning it). */
    static int[] tokenize(MemorySegment vocab, String text, boolean addSpecial, boolean parseSpecial) {
        try (Arena a = Arena.ofConfined()) {
            byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
            MemorySegment t = a.allocate(Math.max(1, utf8.length));
            MemorySegment.copy(utf8, 0, t, ValueLayout.JAVA_BYTE, 0, utf8.length);
            int cap = utf8.length + 8;
            MemorySegment out = a.allocate(ValueLayout.JAVA_INT, cap);
            int n = llama_h.llama_tokenize(vocab, t, utf8.length, out, cap, addSpecial, parseSpecial);
            if (n < 0) {
                if (n == Integer.MIN_VALUE) throw new IllegalArgumentException("the text is too long to tokenize (" + utf8.length + " bytes)");
                cap = -n;
                out = a.allocate(ValueLayout.JAVA_INT, cap);
                n = llama_h.llama_tokenize(vocab, t, utf8.length, out, cap, addSpecial, parseSpecial);
                if (n < 0) throw new LlamaException("llama_tokenize failed (" + n + ")");
            }
            return out.asSlice(0, (long) n * 4).toArray(ValueLayout.JAVA_INT);
        }
    }

    /**
     * The raw bytes of one token's text (a piece may be part of a UTF-8 character).
     *
     * @param token   a token id
     * @param special render special/control tokens as their text
     * @return the bytes
     * @throws IllegalArgumentException when the token is outside the vocabulary
     * @throws IllegalStateException    when closed
     */
    public byte[] tokenBytes(int token, boolean special) {
        try (Borrow b = use()) {
            if (token < 0 || token >= nVocab) throw new IllegalArgumentException("token " + token + " is outside the vocabulary [0, " + nVocab + ")");
            return TokenTexts.bytes(vocab, token, special);
        }
    }

    /**
     * Turns tokens back into text.
     *
     * @param tokens         token ids
     * @param removeSpecial  drop BOS/EOS if the model adds them
     * @param unparseSpecial render special tokens as their text
     * @return the text
     * @throws IllegalArgumentException when a token is outside the vocabulary
     * @throws IllegalStateException    when closed
     */
    public String detokenize(int[] tokens, boolean removeSpecial, boolean unparseSpecial) {
        Objects.requireNonNull(tokens, "tokens");
        try (Borrow b = use(); Arena a = Arena.ofConfined()) {
            int nv = llama_h.llama_vocab_n_tokens(vocab);
            for (int t : tokens) {
                if (t < 0 || t >= nv) throw new IllegalArgumentException("token " + t + " is outside the vocabulary [0, " + nv + ")");
            }
            MemorySegment ids = a.allocateFrom(ValueLayout.JAVA_INT, tokens);
            int cap = Math.max(16, tokens.length * 8);
            MemorySegment buf = a.allocate(cap);
            int n = llama_h.llama_detokenize(vocab, ids, tokens.length, buf, cap, removeSpecial, unparseSpecial);
            if (n < 0) {
                cap = -n;
                buf = a.allocate(cap);
                n = llama_h.llama_detokenize(vocab, ids, tokens.length, buf, cap, removeSpecial, unparseSpecial);
                if (n < 0) throw new LlamaException("llama_detokenize failed for " + tokens.length + " tokens (code " + n + ")");
            }
            return new String(buf.asSlice(0, Math.max(0, n)).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
    }

    /**
     * @param tokens token ids
     * @return the text, special tokens removed and not rendered
     * @throws IllegalStateException when closed
     */
    public String detokenize(int[] tokens) {
        return detokenize(tokens, false, false);
    }

    @Override
    public String toString() {
        return "LlamaModel[" + path + (isClosed() ? ", closed]" : "]");
    }
}
