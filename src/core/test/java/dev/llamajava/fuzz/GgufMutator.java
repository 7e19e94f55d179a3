package dev.llamajava.fuzz;

import dev.llamajava.fuzz.GgufLayout.Kv;
import dev.llamajava.fuzz.GgufLayout.Tensor;
import dev.llamajava.gguf.GgmlType;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Seeded mutations of a valid GGUF file, written as {@link Recipe}s: random bit flips and truncations, and
 * structure-aware edits (hostile counts, string and array lengths, value and element types, tensor ranks,
 * dimensions, types and data offsets, alignment, vocabulary arrays, hyperparameters, replaced and added keys).
 * The same seed and index always give the same recipe.
 */
final class GgufMutator {

    /** A mutated variant of a base file. */
    record Variant(String id, String base, String kind, String recipe) { }

    static final String[] KINDS = {"bitflip", "truncate", "header-count", "string-length", "kv-type", "array", "tensor-ndims",
            "tensor-dims", "tensor-type", "tensor-offset", "alignment", "vocab", "hparam", "replace-kv", "multi"};
    private static final int[] WEIGHTS = {16, 10, 3, 7, 6, 6, 4, 9, 8, 6, 4, 12, 10, 8, 6};
    private static final String[] OVERWRITE_KINDS = {"bitflip", "header-count", "string-length", "kv-type", "tensor-ndims",
            "tensor-dims", "tensor-type", "tensor-offset", "hparam"};

    private final String base;
    private final GgufLayout l;
    private final String arch;
    private final List<Kv> arrays = new ArrayList<>();
    private final List<Kv> stringArrays = new ArrayList<>();
    private final List<Kv> numbers = new ArrayList<>();
    private final List<GgufLayout.Field> stringLengths = new ArrayList<>();
    private final List<Tensor> tensors;

    GgufMutator(String base, GgufLayout layout) {
        this.base = base;
        this.l = layout;
        Kv a = layout.kvs.get("general.architecture");
        this.arch = a == null ? "llama" : new String(layout.bytes, (int) a.valueStart() + 8, (int) (a.end() - a.valueStart() - 8),
                StandardCharsets.UTF_8);
        for (Kv kv : layout.kvs.values()) {
            if (kv.type() == GgufLayout.ARRAY) arrays.add(kv);
            if (kv.type() == GgufLayout.ARRAY && kv.etype() == GgufLayout.STRING && kv.count() > 0) stringArrays.add(kv);
            if (kv.type() == GgufLayout.U32 || kv.type() == GgufLayout.F32 || kv.type() == GgufLayout.I32) numbers.add(kv);
        }
        for (GgufLayout.Field f : layout.fields) {
            if (f.name().endsWith(".keylen") || f.name().endsWith(".len") || f.name().endsWith(".namelen")) stringLengths.add(f);
        }
        this.tensors = new ArrayList<>(layout.tensors.values());
    }

    /** @return variant {@code index} of this base for {@code seed} */
    Variant variant(long seed, int index, String id) {
        SplittableRandom r = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + index * 0xC2B2AE3D27D4EB4FL + base.hashCode());
        int total = 0;
        for (int w : WEIGHTS) total += w;
        int pick = r.nextInt(total);
        int k = 0;
        while (pick >= WEIGHTS[k]) pick -= WEIGHTS[k++];
        return new Variant(id, base, KINDS[k], recipe(KINDS[k], r));
    }

    /** Truncations at every header field boundary: each field's first byte, and the data section's. */
    List<String> boundaryTruncations() {
        List<String> out = new ArrayList<>();
        long prev = -1;
        for (GgufLayout.Field f : l.fields) {
            if (f.start() >= l.dataStart) break;
            if (f.start() != prev) out.add("trunc " + f.name());
            prev = f.start();
        }
        out.add("trunc data");
        return out;
    }

    String recipe(String kind, SplittableRandom r) {
        return switch (kind) {
            case "bitflip" -> bitflips(r);
            case "truncate" -> truncate(r);
            case "header-count" -> "u64 " + (r.nextBoolean() ? "n_tensors " + hostile64(r, tensors.size()) : "n_kv " + hostile64(r, l.kvs.size()));
            case "string-length" -> stringLength(r);
            case "kv-type" -> kvType(r);
            case "array" -> array(r);
            case "tensor-ndims" -> tensorNdims(r);
            case "tensor-dims" -> tensorDims(r);
            case "tensor-type" -> tensorType(r);
            case "tensor-offset" -> tensorOffset(r);
            case "alignment" -> alignment(r);
            case "vocab" -> vocab(r);
            case "hparam" -> hparam(r);
            case "replace-kv" -> replaceKv(r);
            case "multi" -> {
                int n = 2 + r.nextInt(2);
                List<String> parts = new ArrayList<>();
                for (int i = 0; i < n; i++) parts.add(recipe(OVERWRITE_KINDS[r.nextInt(OVERWRITE_KINDS.length)], r));
                yield String.join("; ", parts);
            }
            default -> throw new IllegalArgumentException(kind);
        };
    }

    private String bitflips(SplittableRandom r) {
        int n = r.nextInt(3) == 0 ? 1 + r.nextInt(8) : 1;
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            long at = r.nextInt(4) == 0 ? r.nextLong(l.size()) : r.nextLong(l.dataStart);
            parts.add("flip " + l.name(at) + " " + r.nextInt(8));
        }
        return String.join("; ", parts);
    }

    private String truncate(SplittableRandom r) {
        int how = r.nextInt(10);
        if (how < 4) return "trunc " + l.name(r.nextLong(l.dataStart));
        if (how < 6) return "trunc " + l.name(r.nextLong(l.size()));
        GgufLayout.Field f = l.fields.get(r.nextInt(l.fields.size()));
        long at = f.start() + (r.nextBoolean() || f.length() < 2 ? 0 : r.nextLong(f.length()));
        return "trunc " + l.name(at);
    }

    private String stringLength(SplittableRandom r) {
        String field;
        long orig;
        if (r.nextInt(3) == 0 && !stringArrays.isEmpty()) {
            Kv kv = stringArrays.get(r.nextInt(stringArrays.size()));
            int i = r.nextInt((int) kv.count());
            field = "kv[" + kv.key() + "].e[" + i + "]";
            orig = l.stringElem(kv, i).length;
        } else {
            GgufLayout.Field f = stringLengths.get(r.nextInt(stringLengths.size()));
            field = f.name();
            orig = le64(f.start());
        }
        return "u64 " + field + " " + hostile64(r, orig);
    }

    private String kvType(SplittableRandom r) {
        Kv kv = randomKv(r);
        String f = kv.type() == GgufLayout.ARRAY && r.nextBoolean() ? ".etype" : ".type";
        int[] odd = {13, 14, 100, -1, 0x80000000, 0x7fffffff};
        long v = r.nextInt(4) == 0 ? odd[r.nextInt(odd.length)] : r.nextInt(13);
        return "u32 kv[" + kv.key() + "]" + f + " " + v;
    }

    private String array(SplittableRandom r) {
        Kv kv = arrays.get(r.nextInt(arrays.size()));
        String n = "kv[" + kv.key() + "]";
        if (r.nextBoolean()) return "u64 " + n + ".count " + hostile64(r, kv.count());
        int[] sameSize = kv.etype() == GgufLayout.STRING ? new int[]{GgufLayout.U64, GgufLayout.I64, GgufLayout.F64}
                : new int[]{GgufLayout.U32, GgufLayout.I32, GgufLayout.F32, GgufLayout.U8, GgufLayout.BOOL, GgufLayout.ARRAY, GgufLayout.STRING};
        return "u32 " + n + ".etype " + sameSize[r.nextInt(sameSize.length)];
    }

    private String tensorNdims(SplittableRandom r) {
        Tensor t = tensors.get(r.nextInt(tensors.size()));
        long[] v = {0, 1, 2, 3, 4, 5, 8, 0xffffffffL, t.ne().length + 1L, t.ne().length - 1L};
        return "u32 t[" + t.name() + "].ndims " + v[r.nextInt(v.length)];
    }

    private String tensorDims(SplittableRandom r) {
        Tensor t = tensors.get(r.nextInt(tensors.size()));
        String n = "t[" + t.name() + "]";
        int how = r.nextInt(10);
        if (how == 0 && t.ne().length >= 2) return "u64 " + n + ".ne0 " + (1L << 32) + "; u64 " + n + ".ne1 " + (1L << 32);
        if (how == 1 && t.ne().length >= 2) return "u64 " + n + ".ne0 " + t.ne()[1] + "; u64 " + n + ".ne1 " + t.ne()[0];
        if (how == 2 && t.ne().length >= 2) return "u64 " + n + ".ne1 " + (Long.MAX_VALUE / t.ne()[0] + 1);
        int d = r.nextInt(t.ne().length);
        return "u64 " + n + ".ne" + d + " " + hostile64(r, t.ne()[d]);
    }

    private String tensorType(SplittableRandom r) {
        Tensor t = tensors.get(r.nextInt(tensors.size()));
        long v;
        int how = r.nextInt(4);
        if (how == 0) {
            long[] bad = {4, 5, 31, 32, 33, 36, 37, 38, 43, 44, 100, 0xffffffffL, 0x80000000L};
            v = bad[r.nextInt(bad.length)];
        } else if (how == 1) {
            int[][] same = {{0, 26}, {1, 30, 25}, {26, 0}, {2, 20}, {30, 1, 25}};
            v = t.type();
            for (int[] s : same) if (s[0] == t.type()) v = s[1 + r.nextInt(s.length - 1)];
        } else {
            GgmlType[] all = GgmlType.values();
            v = all[r.nextInt(all.length)].id();
        }
        return "u32 t[" + t.name() + "].type " + v;
    }

    private String tensorOffset(SplittableRandom r) {
        Tensor t = tensors.get(r.nextInt(tensors.size()));
        Tensor o = tensors.get(r.nextInt(tensors.size()));
        String n = "u64 t[" + t.name() + "].offset ";
        long[] v = {t.offset() + 1, t.offset() + 16, t.offset() + l.alignment, t.offset() - l.alignment, o.offset(), 0,
                l.size() - l.dataStart, l.size(), 1L << 40, -1, -l.alignment, Long.MAX_VALUE - 31};
        if (r.nextInt(6) == 0) return n + o.offset() + "; u64 t[" + o.name() + "].offset " + t.offset();
        return n + v[r.nextInt(v.length)];
    }

    private String alignment(SplittableRandom r) {
        long[] v = {0, 1, 2, 3, 8, 16, 31, 33, 64, 100, 4096, 1 << 20, 1L << 31, 0xffffffffL};
        long value = v[r.nextInt(v.length)];
        Recipe.Bytes b = new Recipe.Bytes().str("general.alignment");
        switch (r.nextInt(8)) {
            case 0 -> b.u32(GgufLayout.U64).u64(value);
            case 1 -> b.u32(GgufLayout.STRING).str(Long.toString(value));
            case 2 -> b.u32(GgufLayout.I32).u32(value);
            default -> b.u32(GgufLayout.U32).u32(value);
        }
        return insertKv(b);
    }

    private String insertKv(Recipe.Bytes kv) {
        return "u64 n_kv " + (l.kvs.size() + 1) + "; ins kvstart " + kv.hex() + pad(kv.length());
    }

    /** Keeps the data section where it was after the header grew or shrank by {@code delta} bytes. */
    private String pad(long delta) {
        long q = Math.floorMod(-delta, (long) l.alignment);
        return q == 0 ? "" : "; zins infoend " + q;
    }

    private String vocab(SplittableRandom r) {
        Kv tokens = l.kvs.get("tokenizer.ggml.tokens");
        int nTok = (int) tokens.count();
        String tk = "kv[tokenizer.ggml.tokens]";
        switch (r.nextInt(9)) {
            case 0, 1 -> {
                for (int tries = 0; tries < 500; tries++) {
                    int i = r.nextInt(nTok), j = r.nextInt(nTok);
                    byte[] a = l.stringElem(tokens, i), b = l.stringElem(tokens, j);
                    if (i != j && a.length == b.length && a.length > 0) return "hex " + tk + ".e[" + i + "].str " + HexFormat.of().formatHex(b);
                }
                return "hex " + tk + ".e[0].str " + HexFormat.of().formatHex(l.stringElem(tokens, 1));
            }
            case 2 -> {
                int i = r.nextInt(nTok);
                byte[] a = l.stringElem(tokens, i);
                if (a.length == 0) return "u64 " + tk + ".e[" + i + "] 1";
                byte[] junk = new byte[a.length];
                r.nextBytes(junk);
                return "hex " + tk + ".e[" + i + "].str " + HexFormat.of().formatHex(r.nextBoolean() ? junk : new byte[]{(byte) (a[0] ^ 1)});
            }
            case 3 -> {
                List<Kv> vocabArrays = new ArrayList<>();
                for (Kv kv : arrays) if (kv.key().startsWith("tokenizer.ggml.") && kv.count() > 0) vocabArrays.add(kv);
                Kv kv = vocabArrays.get(r.nextInt(vocabArrays.size()));
                int[] ks = {1, 2, (int) kv.count() / 2, (int) kv.count()};
                int k = Math.max(1, ks[r.nextInt(ks.length)]);
                long from = kv.elem((int) kv.count() - k);
                return "u64 kv[" + kv.key() + "].count " + (kv.count() - k) + "; del kv[" + kv.key() + "].e[" + (kv.count() - k) + "] "
                        + (kv.end() - from) + pad(-(kv.end() - from));
            }
            case 4 -> {
                Kv tt = l.kvs.get("tokenizer.ggml.token_type");
                if (tt == null) return tokenId(r, nTok);
                long[] v = {0, 1, 2, 3, 4, 5, 6, 7, 99, -1};
                return "u32 kv[tokenizer.ggml.token_type].e[" + r.nextInt((int) tt.count()) + "] " + v[r.nextInt(v.length)];
            }
            case 5 -> {
                Kv sc = l.kvs.get("tokenizer.ggml.scores");
                if (sc == null) return tokenId(r, nTok);
                String[] v = {"NaN", "Infinity", "-Infinity", "-3.4e38", "3.4e38", "0"};
                return "f32 kv[tokenizer.ggml.scores].e[" + r.nextInt((int) sc.count()) + "] " + v[r.nextInt(v.length)];
            }
            case 6 -> {
                Kv m = l.kvs.get("tokenizer.ggml.merges");
                if (m == null) return tokenId(r, nTok);
                int i = r.nextInt((int) m.count());
                byte[] a = l.stringElem(m, i);
                byte[] b = a.clone();
                int at = r.nextInt(b.length);
                b[at] = (byte) (r.nextBoolean() ? ' ' : 'x');
                return "hex kv[tokenizer.ggml.merges].e[" + i + "].str " + HexFormat.of().formatHex(b);
            }
            default -> {
                return tokenId(r, nTok);
            }
        }
    }

    private String tokenId(SplittableRandom r, int nTok) {
        List<Kv> ids = new ArrayList<>();
        for (Kv kv : l.kvs.values()) if (kv.key().startsWith("tokenizer.ggml.") && kv.key().endsWith("_id")) ids.add(kv);
        Kv kv = ids.get(r.nextInt(ids.size()));
        long[] v = {nTok, nTok - 1, nTok + 1, 0xffffffffL, 0x7fffffffL, 0x80000000L, 0};
        return "u32 kv[" + kv.key() + "].value " + v[r.nextInt(v.length)];
    }

    private String hparam(SplittableRandom r) {
        Kv kv = numbers.get(r.nextInt(numbers.size()));
        String n = "kv[" + kv.key() + "].value ";
        if (kv.type() == GgufLayout.F32) {
            String[] v = {"0", "-1", "NaN", "Infinity", "-Infinity", "1e-45", "3.4e38", "1e10"};
            return "f32 " + n + v[r.nextInt(v.length)];
        }
        long orig = le32(kv.valueStart());
        long[] v = {0, 1, orig - 1, orig + 1, orig * 2, orig / 2, 3, 7, 512, 513, 4096, 0x7fffffffL, 0x80000000L, 0xffffffffL, r.nextInt() & 0xffffffffL};
        return "u32 " + n + v[r.nextInt(v.length)];
    }

    private String replaceKv(SplittableRandom r) {
        String[] newKeys = {".expert_count", ".expert_used_count", ".rope.scaling.type", ".rope.scaling.factor", ".attention.sliding_window",
                ".nextn_predict_layers", ".pooling_type", ".attention.causal", ".expert_group_count", ".vocab_size"};
        if (r.nextInt(3) == 0) {
            String key = arch + newKeys[r.nextInt(newKeys.length)];
            if (l.kvs.containsKey(key)) key = arch + ".expert_count";
            return insertKv(encode(r, key, (int) (r.nextInt(40) + 4)));
        }
        Kv kv = randomKv(r);
        Recipe.Bytes b = encode(r, kv.key(), le32(kv.valueStart()));
        long oldLen = kv.end() - kv.start();
        return "del kv[" + kv.key() + "].keylen " + oldLen + "; ins kv[" + kv.key() + "].keylen " + b.hex() + pad(b.length() - oldLen);
    }

    /** A metadata entry for {@code key} with a hostile type or value. */
    private Recipe.Bytes encode(SplittableRandom r, String key, long orig) {
        Recipe.Bytes b = new Recipe.Bytes().str(key);
        long blocks = Math.max(1, l.u32(arch + ".block_count"));
        String[] strings = key.endsWith(".model") ? new String[]{"llama", "gpt2", "bert", "t5", "rwkv", "plamo2", "none", "no_vocab", "bogus", ""}
                : key.endsWith(".pre") ? new String[]{"default", "llama3", "llama-bpe", "qwen2", "gpt-2", "deepseek-llm", "bogus", ""}
                : key.endsWith("architecture") ? new String[]{"llama", "gpt2", "bert", "mamba", "qwen2", "gemma", "phi3", "t5", "rwkv6", "bogus", ""}
                : new String[]{"linear", "yarn", "longrope", "none", "bogus", "", "12"};
        long[] ints = {0, 1, 2, 8, orig, orig + 1, 256, 257, 513, 0xffffffffL};
        switch (r.nextInt(8)) {
            case 0, 1 -> b.u32(GgufLayout.STRING).str(strings[r.nextInt(strings.length)]);
            case 2 -> b.u32(GgufLayout.U64).u64(ints[r.nextInt(ints.length)]);
            case 3 -> b.u32(GgufLayout.F32).f32(new float[]{0f, -1f, Float.NaN, 1e30f, 4f}[r.nextInt(5)]);
            case 4 -> b.u32(GgufLayout.BOOL).u8(r.nextInt(3));
            case 5 -> {
                long n = new long[]{blocks, blocks - 1, blocks + 1, 0, 600}[r.nextInt(5)];
                b.u32(GgufLayout.ARRAY).u32(GgufLayout.U32).u64(n);
                for (long i = 0; i < n; i++) b.u32(r.nextInt(4) == 0 ? ints[r.nextInt(ints.length)] : orig);
            }
            default -> b.u32(GgufLayout.U32).u32(ints[r.nextInt(ints.length)]);
        }
        return b;
    }

    private Kv randomKv(SplittableRandom r) {
        List<Kv> all = new ArrayList<>(l.kvs.values());
        return all.get(r.nextInt(all.size()));
    }

    private long le64(long at) {
        return ByteBuffer.wrap(l.bytes).order(ByteOrder.LITTLE_ENDIAN).getLong((int) at);
    }

    private long le32(long at) {
        return ByteBuffer.wrap(l.bytes).order(ByteOrder.LITTLE_ENDIAN).getInt((int) at) & 0xffffffffL;
    }

    private static long hostile64(SplittableRandom r, long orig) {
        long[] v = {0, 1, orig - 1, orig + 1, orig * 2, orig / 2, orig + 4096, 0xffffffffL, 1L << 32, 1L << 40, Long.MAX_VALUE,
                Long.MIN_VALUE, -1, -2, r.nextLong(), r.nextLong(1 << 20)};
        return v[r.nextInt(v.length)];
    }
}
