package dev.llamajava.internal;

import dev.llamajava.gguf.GgmlType;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Checks a GGUF file in pure Java before llama.cpp sees it, refusing what would make llama.cpp crash or abort
 * the process (found by the GGUF fuzz test, {@code dev.llamajava.fuzz.GgufFuzzTest}; each check has a
 * regression recipe in {@code src/core/test/resources/fuzz/regressions.tsv}).
 *
 * <p>Only crashes are refused here. A file llama.cpp refuses cleanly (truncated, malformed header, wrong tensor
 * shapes, missing keys, values of the wrong type) is left to llama.cpp, whose reason the caller reports.
 *
 * <p>The header is read here rather than with {@link dev.llamajava.gguf.GgufFile} on purpose: this runs on every
 * load, and GgufFile decodes every string (a Llama 3 vocabulary's 400,000 tokens and merges take it 0.3-1 s),
 * while this reads only what the checks need, compares tokens as bytes as llama.cpp does, and accepts exactly
 * what llama.cpp's parser accepts (any bool byte, 0-dimensional tensors, any power-of-two alignment), so no
 * file llama.cpp would read escapes the checks.
 */
public final class GgufPrecheck {

    /** ggml's TENSOR_ALIGNMENT: llama.cpp maps tensor data and aborts when a tensor's address is not aligned to it. */
    static final int TENSOR_ALIGNMENT = 32;
    static final int LLAMA_MAX_LAYERS = 512;
    static final int LLAMA_MAX_EXPERTS = 1024;
    static final Set<String> ROPE_SCALING_TYPES = new LinkedHashSet<>(List.of("none", "linear", "yarn", "longrope"));

    /** Types ggml's CPU backend has no dot product for: a matrix multiplication with them jumps to a null function. */
    static final Set<GgmlType> NO_MATMUL = EnumSet.of(GgmlType.Q8_1, GgmlType.Q8_K, GgmlType.I8, GgmlType.I16,
            GgmlType.I32, GgmlType.I64, GgmlType.F64);

    /** Weights llama.cpp multiplies activations by (or looks rows up in), by name without {@code blk.N.} and {@code .weight}. */
    static final Set<String> MATMUL_WEIGHTS = Set.of("token_embd", "output", "attn_q", "attn_k", "attn_v", "attn_qkv",
            "attn_output", "attn_out", "attn_q_a", "attn_q_b", "attn_kv_a_mqa", "attn_kv_b", "attn_k_b", "attn_v_b",
            "ffn_gate", "ffn_up", "ffn_down", "ffn_gate_inp", "ffn_gate_exps", "ffn_up_exps", "ffn_down_exps",
            "ffn_gate_up_exps", "ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp");

    private GgufPrecheck() { }

    /**
     * @param file a file that starts with the GGUF magic
     * @return null when llama.cpp may load it, else why it is refused
     */
    public static String check(Path file) {
        return inspect(file).refusal();
    }

    /**
     * What the pre-check found in a file.
     *
     * @param refusal       why llama.cpp must not see it, or null
     * @param repackedBytes bytes of the weights llama.cpp's CPU backend repacks on this CPU (see {@link CpuRepack})
     * @param weightBytes   bytes of all tensors
     * @param rankHead      whether it has a classification head ({@code cls} or {@code cls.output} weights): only
     *                      then does llama.cpp's rank pooling give scores (without one its output is undefined)
     */
    public record Inspection(String refusal, long repackedBytes, long weightBytes, boolean rankHead) { }

    /**
     * @param file a GGUF file
     * @return the refusal (null when llama.cpp may load it) and the weights' sizes (0 when the header is unreadable)
     */
    public static Inspection inspect(Path file) {
        Header h;
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ); Arena arena = Arena.ofConfined()) {
            h = Header.read(ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena));
        } catch (IOException | RuntimeException | InternalError e) {
            h = null; // unreadable or malformed: llama.cpp's parser refuses it with its own reason
        }
        if (h == null) return new Inspection(null, 0, 0, false);
        String why;
        long[] weights = {0, 0};
        try {
            why = tensorTypes(h);
            if (why == null) why = tensorAlignment(h);
            if (why == null) why = duplicateTokens(h);
            if (why == null) why = tokenizer(h);
            if (why == null) why = hyperparameters(h);
            if (why == null) weights = CpuRepack.weightBytes(h);
        } catch (RuntimeException e) {
            why = null; // a value of a shape llama.cpp's typed getters refuse themselves
        }
        boolean rankHead = h.tensors.stream().anyMatch(t -> t.name().equals("cls.weight") || t.name().equals("cls.output.weight"));
        return new Inspection(why, weights[0], weights[1], rankHead);
    }

    /** A tensor info: name, ggml type id, dimensions and offset in the data section. */
    record Tensor(String name, int type, long[] ne, long offset) {
        /** @return its data's size in bytes, or -1 for an unknown type or rows that are not whole blocks */
        long bytes() {
            GgmlType t = GgmlType.byId(type);
            if (t == null || ne.length > 0 && ne[0] % t.blockSize() != 0) return -1;
            long elements = 1;
            for (long d : ne) elements = Math.multiplyExact(elements, d);
            return Math.multiplyExact(elements / t.blockSize(), (long) t.typeSize());
        }
    }

    /**
     * What the checks need from a GGUF header: scalar metadata (Long for integers and bools, Double for floats,
     * String), small integer arrays (List of Long), the tokens as raw bytes, and the tensor infos.
     */
    static final class Header {
        private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfLong I64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final ValueLayout.OfDouble F64 = ValueLayout.JAVA_DOUBLE_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        private static final int[] SIZE = {1, 1, 2, 2, 4, 4, 4, 1, 8, -1, 8, 8, 8};
        private static final int STRING = 8, ARRAY = 9;

        final Map<String, Object> values = new HashMap<>();
        final Map<String, Integer> types = new HashMap<>();
        final List<Tensor> tensors = new ArrayList<>();
        /** The tokens' bytes, compared as bytes as llama.cpp compares them, or null when the file has none. */
        Tokens tokens;
        long alignment = 32;
        long dataOffset;
        private final MemorySegment s;
        private long pos;

        private Header(MemorySegment s) {
            this.s = s;
        }

        /** @return the header, or null where llama.cpp's parser would refuse the file */
        static Header read(MemorySegment s) {
            Header h = new Header(s);
            h.pos = 8;
            long nTensors = h.u64(), nKv = h.u64();
            if (nTensors < 0 || nKv < 0) return null;
            for (long i = 0; i < nKv; i++) {
                String key = new String(h.bytes(h.u64()), StandardCharsets.UTF_8);
                int type = h.i32();
                if (h.types.put(key, type) != null || !h.value(key, type)) return null;
            }
            Object al = h.values.get("general.alignment");
            if (al != null) {
                if (h.types.get("general.alignment") != 4) return null;
                h.alignment = (Long) al;
                if (h.alignment == 0 || Long.bitCount(h.alignment) != 1) return null;
            }
            for (long i = 0; i < nTensors; i++) {
                String name = new String(h.bytes(h.u64()), StandardCharsets.UTF_8);
                int nd = h.i32();
                if (nd < 0 || nd > 4) return null;
                long[] ne = new long[nd];
                for (int d = 0; d < nd; d++) if ((ne[d] = h.u64()) < 0) return null;
                h.tensors.add(new Tensor(name, h.i32(), ne, h.u64()));
            }
            h.dataOffset = nTensors == 0 ? h.pos : (h.pos + h.alignment - 1) / h.alignment * h.alignment;
            return h;
        }

        private boolean value(String key, int type) {
            if (type == ARRAY) {
                int et = i32();
                long n = u64();
                if (et < 0 || et >= SIZE.length || et == ARRAY || n < 0) return false;
                types.put(key + "[]", et);
                if (et == STRING) {
                    boolean keep = key.equals("tokenizer.ggml.tokens");
                    if (n > (s.byteSize() - pos) / 8) return false;
                    Tokens all = keep ? new Tokens((int) n) : null;
                    for (int i = 0; i < n; i++) {
                        long len = u64();
                        if (keep) all.add(s, next(len), len);
                        else skip(len);
                    }
                    if (keep) tokens = all;
                } else if (n <= 4096 && et != 6 && et != 12) {
                    List<Long> list = new ArrayList<>((int) n);
                    for (int i = 0; i < n; i++) list.add((Long) scalar(et));
                    values.put(key, list);
                } else {
                    if (n > (s.byteSize() - pos) / SIZE[et]) return false;
                    skip(n * SIZE[et]);
                }
                return true;
            }
            if (type < 0 || type >= SIZE.length) return false;
            values.put(key, scalar(type));
            return true;
        }

        private Object scalar(int type) {
            return switch (type) {
                case 0, 7 -> (long) (s.get(ValueLayout.JAVA_BYTE, next(1)) & 0xff);
                case 1 -> (long) s.get(ValueLayout.JAVA_BYTE, next(1));
                case 2 -> (long) (s.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), next(2)) & 0xffff);
                case 3 -> (long) s.get(ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), next(2));
                case 4 -> s.get(I32, next(4)) & 0xffffffffL;
                case 5 -> (long) s.get(I32, next(4));
                case 6 -> (double) s.get(F32, next(4));
                case STRING -> new String(bytes(u64()), StandardCharsets.UTF_8);
                case 10, 11 -> s.get(I64, next(8));
                default -> s.get(F64, next(8));
            };
        }

        private long next(long n) {
            long at = pos;
            if (n < 0 || n > s.byteSize() - pos) throw new IndexOutOfBoundsException("past the end");
            pos += n;
            return at;
        }

        private void skip(long n) {
            next(n);
        }

        private int i32() {
            return s.get(I32, next(4));
        }

        private long u64() {
            return s.get(I64, next(8));
        }

        private byte[] bytes(long n) {
            if (n > Integer.MAX_VALUE - 16) throw new IndexOutOfBoundsException("string too long");
            return s.asSlice(next(n), n).toArray(ValueLayout.JAVA_BYTE);
        }

        /** A uint32 value, or {@code absent} when the key is missing or of another type (llama.cpp refuses those). */
        long u32(String key, long absent) {
            Integer t = types.get(key);
            return t != null && t == 4 ? (Long) values.get(key) : absent;
        }

        String string(String key) {
            Integer t = types.get(key);
            return t != null && t == STRING ? (String) values.get(key) : null;
        }
    }

    /** Tensor types the CPU backend cannot compute with where llama.cpp uses the tensor. */
    static String tensorTypes(Header h) {
        for (Tensor t : h.tensors) {
            GgmlType type = GgmlType.byId(t.type());
            if (type == null) continue;
            if (type == GgmlType.Q8_1 || type == GgmlType.Q8_K) {
                return "tensor '" + t.name() + "' has type " + type + ", which is only an intermediate type for activations"
                        + " (llama.cpp crashes computing with it)";
            }
            String role = role(t.name());
            if (NO_MATMUL.contains(type) && MATMUL_WEIGHTS.contains(role)) {
                return "tensor '" + t.name() + "' has type " + type + ", which llama.cpp cannot multiply with"
                        + " (its CPU backend has no dot product for it and crashes)";
            }
            boolean oneDim = true;
            for (int d = 1; d < t.ne().length; d++) oneDim &= t.ne()[d] == 1;
            if (type != GgmlType.F32 && oneDim && (t.name().endsWith("norm.weight") || t.name().endsWith(".bias")
                    || role.startsWith("rope_freqs") || role.startsWith("rope_factors"))) {
                return "tensor '" + t.name() + "' has type " + type + "; llama.cpp combines it with F32 activations"
                        + " and aborts on any type but F32";
            }
        }
        return null;
    }

    /**
     * llama.cpp maps the file and aborts when tensor data does not start on a 32-byte boundary, which a
     * {@code general.alignment} below 32 allows. Only files whose tensor offsets llama.cpp accepts (each tensor
     * right after the previous one, padded to the alignment) are checked; it refuses the others itself.
     */
    static String tensorAlignment(Header h) {
        if (h.alignment >= TENSOR_ALIGNMENT) return null;
        long expected = 0;
        for (Tensor t : h.tensors) {
            long n = t.bytes();
            if (n < 0 || t.offset() != expected) return null;
            expected = Math.addExact(expected, (n + h.alignment - 1) / h.alignment * h.alignment);
        }
        for (Tensor t : h.tensors) {
            long at = h.dataOffset + t.offset();
            if (at % TENSOR_ALIGNMENT != 0) {
                return "tensor '" + t.name() + "' data starts at byte " + at + ", not a multiple of " + TENSOR_ALIGNMENT
                        + " (general.alignment " + h.alignment + "); llama.cpp aborts when it maps it";
            }
        }
        return null;
    }

    /** llama.cpp aborts (GGML_ASSERT) when two tokens have the same bytes; it names an empty token "[EMPTY_i]". */
    static String duplicateTokens(Header h) {
        if (h.tokens == null) return null;
        int[] pair = h.tokens.index();
        if (pair == null) return null;
        String raw = new String(h.tokens.key(pair[1]), StandardCharsets.UTF_8);
        return "tokenizer.ggml.tokens holds " + quote(raw) + " twice (tokens " + pair[0] + " and " + pair[1]
                + "); llama.cpp aborts on duplicate tokens";
    }

    /**
     * A vocabulary's token bytes in one array, and an open-addressing table from a token's bytes (an empty token as
     * "[EMPTY_i]", as llama.cpp keys them) to its first id: a Llama 3 vocabulary of 128,256 tokens takes about 2 MB
     * here, where a string per token and a hash map took 46 MB of garbage on every load.
     */
    static final class Tokens {
        /**
         * The hash's starting value, drawn once per JVM: a file cannot be made of keys that all collide (which would
         * make the table's probing quadratic) without knowing it. The table's answers do not depend on it.
         */
        private static final int SEED = ThreadLocalRandom.current().nextInt();
        private byte[] bytes;
        private final int[] start;
        private int n;
        private int[] table;
        private int mask;

        Tokens(int count) {
            this.start = new int[count + 1];
            this.bytes = new byte[(int) Math.min(count * 8L, 1 << 20)]; // a Llama 3 vocabulary holds 6.6 bytes a token
        }

        void add(MemorySegment s, long offset, long len) {
            if (len > Integer.MAX_VALUE - 16 || start[n] + len > Integer.MAX_VALUE - 16) throw new IndexOutOfBoundsException("tokens too long");
            int at = start[n];
            if (at + len > bytes.length) bytes = Arrays.copyOf(bytes, (int) Math.min(Integer.MAX_VALUE - 16, Math.max(bytes.length * 2L, at + len)));
            MemorySegment.copy(s, ValueLayout.JAVA_BYTE, offset, bytes, at, (int) len);
            start[++n] = at + (int) len;
        }

        /** @return token {@code i}'s key: its bytes, or "[EMPTY_i]" when it has none */
        byte[] key(int i) {
            return start[i + 1] == start[i] ? ("[EMPTY_" + i + "]").getBytes(StandardCharsets.UTF_8)
                    : Arrays.copyOfRange(bytes, start[i], start[i + 1]);
        }

        /**
         * Builds the table, first id wins.
         *
         * @return null, or the first pair of ids {first, later} whose keys are equal
         */
        int[] index() {
            if (n != start.length - 1) throw new IllegalStateException("tokens not all read");
            int size = Integer.highestOneBit(Math.max(4, n) * 2 - 1) << 1;
            table = new int[size];
            mask = size - 1;
            for (int i = 0; i < n; i++) {
                int from = start[i], len = start[i + 1] - from;
                byte[] key = len == 0 ? key(i) : bytes;
                int keyFrom = len == 0 ? 0 : from, keyLen = len == 0 ? key.length : len;
                int slot = hash(key, keyFrom, keyLen) & mask;
                while (true) {
                    int e = table[slot];
                    if (e == 0) {
                        table[slot] = i + 1;
                        break;
                    }
                    if (equal(e - 1, key, keyFrom, keyLen)) return new int[] {e - 1, i};
                    slot = (slot + 1) & mask;
                }
            }
            return null;
        }

        /** @return whether some token's key is exactly {@code key}; {@link #index} ran first */
        boolean contains(byte[] key) {
            if (table == null) throw new IllegalStateException("not indexed");
            int slot = hash(key, 0, key.length) & mask;
            for (int e; (e = table[slot]) != 0; slot = (slot + 1) & mask) {
                if (equal(e - 1, key, 0, key.length)) return true;
            }
            return false;
        }

        private boolean equal(int id, byte[] key, int from, int len) {
            int a = start[id], alen = start[id + 1] - a;
            if (alen == 0) {
                byte[] empty = key(id);
                return Arrays.equals(empty, 0, empty.length, key, from, from + len);
            }
            return Arrays.equals(bytes, a, a + alen, key, from, from + len);
        }

        private static int hash(byte[] b, int from, int len) {
            int h = 0x811c9dc5 ^ SEED;
            for (int i = from; i < from + len; i++) h = (h ^ (b[i] & 0xff)) * 0x01000193;
            return h ^ (h >>> 16);
        }
    }

    /**
     * Tokenizers llama.cpp loads but then crashes in. Without a vocabulary ({@code tokenizer.ggml.model} "none" or
     * "no_vocab") it asserts on the first tokenization or detokenization, and every generation does both. A
     * SentencePiece vocabulary ("llama") falls back to byte tokens {@code <0xXX>}, then to the byte itself, for
     * text it has no token for; when both are missing it throws from {@code llama_tokenize}, which terminates
     * the process.
     */
    static String tokenizer(Header h) {
        String model = h.string("tokenizer.ggml.model");
        if ("none".equals(model) || "no_vocab".equals(model)) {
            return "tokenizer.ggml.model is '" + model + "': the model has no vocabulary, and llama.cpp aborts the process"
                    + " when it tokenizes or detokenizes with it";
        }
        if (h.tokens == null || h.tokens.table == null || !"llama".equals(model)) return null;
        for (int b = 0; b < 256; b++) {
            String hex = String.format("<0x%02X>", b);
            if (!h.tokens.contains(hex.getBytes(StandardCharsets.US_ASCII)) && (b == 0 || !h.tokens.contains(new byte[] {(byte) b}))) {
                return "SentencePiece vocabulary has no byte token " + hex + "; llama.cpp terminates the process"
                        + " when it tokenizes text that needs it";
            }
        }
        return null;
    }

    /**
     * The hyperparameters llama.cpp checks with GGML_ASSERT (aborting the process) in {@code load_hparams}, and
     * norm epsilons its CPU ops assert are non-negative. Only values of the type llama.cpp reads are checked.
     */
    static String hyperparameters(Header h) {
        String arch = h.string("general.architecture");
        if (arch == null) return null;
        long layers = h.u32(arch + ".block_count", -1);
        if (layers == 0 || layers > LLAMA_MAX_LAYERS) {
            return arch + ".block_count is " + layers + "; llama.cpp aborts unless it is 1.." + LLAMA_MAX_LAYERS;
        }
        for (String k : new String[]{".nextn_predict_layers", ".posnet.block_count", ".convnext.block_count"}) {
            long n = h.u32(arch + k, 0);
            if (layers > 0 && n > layers) return arch + k + " is " + n + ", more than the " + layers + " blocks; llama.cpp aborts";
        }
        long experts = h.u32(arch + ".expert_count", 0);
        long used = h.u32(arch + ".expert_used_count", 0);
        Integer usedType = h.types.get(arch + ".expert_used_count[]");
        if (h.values.get(arch + ".expert_used_count") instanceof List<?> l && l.size() == layers && usedType != null
                && (usedType == 4 || usedType == 5 || usedType == 7)) {
            for (Object o : l) used = Math.max(used, usedType == 7 ? ((Long) o != 0 ? 1 : 0) : (Long) o & 0xffffffffL);
        }
        long groups = h.u32(arch + ".expert_group_count", 0);
        long groupsUsed = h.u32(arch + ".expert_group_used_count", 0);
        if ((arch.equals("hunyuan_vl") || arch.equals("hunyuan-dense")) && experts <= 1) {
            experts = 0;
            used = 0;
        }
        boolean bad = experts > LLAMA_MAX_EXPERTS || used > experts
                || (experts > 0 ? used == 0 || groups >= experts
                        || (groups > 1 && (experts % groups != 0 || groupsUsed == 0 || groupsUsed >= groups))
                        : groups != 0);
        if (bad) {
            return "inconsistent experts (" + arch + ".expert_count " + experts + ", " + arch + ".expert_used_count " + used + ", "
                    + arch + ".expert_group_count " + groups + ", " + arch + ".expert_group_used_count " + groupsUsed + "); llama.cpp aborts";
        }
        String rope = h.string(arch + ".rope.scaling.type");
        if (rope != null && !ROPE_SCALING_TYPES.contains(rope)) {
            return arch + ".rope.scaling.type is " + quote(rope) + "; llama.cpp aborts unless it is one of " + ROPE_SCALING_TYPES;
        }
        for (String k : new String[]{".attention.layer_norm_epsilon", ".attention.layer_norm_rms_epsilon", ".attention.group_norm_epsilon"}) {
            Integer t = h.types.get(arch + k);
            if (t != null && t == 6 && !((Double) h.values.get(arch + k) >= 0)) {
                return arch + k + " is " + h.values.get(arch + k) + "; llama.cpp's norm aborts unless it is >= 0";
            }
        }
        return null;
    }

    /** A tensor's name without the {@code blk.N.} prefix and the {@code .weight} suffix. */
    static String role(String name) {
        String n = name;
        if (n.startsWith("blk.")) {
            int dot = n.indexOf('.', 4);
            if (dot > 0) n = n.substring(dot + 1);
        }
        return n.endsWith(".weight") ? n.substring(0, n.length() - ".weight".length()) : n;
    }

    /** Quotes a token for a message, escaping control characters. */
    static String quote(String s) {
        StringBuilder b = new StringBuilder("'");
        s.codePoints().limit(40).forEach(c -> {
            if (c < 0x20 || c == 0x7f) b.append(String.format("\\x%02x", c));
            else b.appendCodePoint(c);
        });
        return b.append(s.codePointCount(0, s.length()) > 40 ? "...'" : "'").toString();
    }
}
