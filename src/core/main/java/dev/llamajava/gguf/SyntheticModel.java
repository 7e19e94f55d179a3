package dev.llamajava.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.WritableByteChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.DoubleConsumer;
import java.util.Random;

/**
 * Writes Llama-architecture GGUF models with seeded random weights in a given shape, with the real
 * Llama 3 tokenizer copied from llama.cpp's {@code models/ggml-vocab-llama-bpe.gguf}. Speed does not
 * depend on weight values, so these serve every benchmark; their output is meaningless.
 *
 * <p>{@link #LLAMA_3_2_1B} is the exact shape of Llama 3.2 1B Instruct: 16 blocks, embedding 2048,
 * FFN 8192, 32 heads, 8 KV heads (head dim 64), rope base 500000 with Llama 3 rope scaling
 * (factor 32, low 1, high 4, original context 8192, as the {@code rope_freqs.weight} tensor llama.cpp's
 * converter computes), RMS eps 1e-5, context 131072, tied embeddings, eos {@code <|eot_id|>}.
 */
public final class SyntheticModel {

    /**
     * A model shape.
     *
     * @param name     {@code general.name}
     * @param layers   blocks
     * @param embd     embedding width
     * @param ffn      feed-forward width
     * @param heads    attention heads
     * @param kvHeads  key/value heads
     * @param context  training context length
     */
    public record Shape(String name, int layers, int embd, int ffn, int heads, int kvHeads, int context) {
        /** @return head dimension */
        public int headDim() { return embd / heads; }
    }

    /** Llama 3.2 1B Instruct's shape (1.24 B parameters). */
    public static final Shape LLAMA_3_2_1B = new Shape("Llama-3.2-1B-Instruct-shaped synthetic (random weights)", 16, 2048, 8192, 32, 8, 131072);
    /** A tiny model with the same vocabulary, for fast tests. */
    public static final Shape TINY = new Shape("tiny Llama-3-vocabulary synthetic (random weights)", 2, 128, 256, 4, 2, 4096);

    /** The Llama 3 chat template (the Jinja text Llama 3 GGUFs carry; llama.cpp recognises it as llama3). */
    public static final String LLAMA3_TEMPLATE = "{% set loop_messages = messages %}{% for message in loop_messages %}"
            + "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}"
            + "{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
            + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";

    static final float ROPE_BASE = 500000f;
    static final double WEIGHT_STD = 0.02;

    private SyntheticModel() { }

    /**
     * The {@code rope_freqs.weight} values for Llama 3 rope scaling, computed as llama.cpp's converter does.
     *
     * @param headDim head dimension
     * @return headDim/2 factors
     */
    public static float[] llama3RopeFactors(int headDim) {
        float factor = 32f, lowFreqFactor = 1f, highFreqFactor = 4f, oldContext = 8192f;
        float lowWavelen = oldContext / lowFreqFactor;
        float highWavelen = oldContext / highFreqFactor;
        float[] out = new float[headDim / 2];
        for (int i = 0; i < out.length; i++) {
            float freq = (float) (1.0 / Math.pow(ROPE_BASE, (float) (2 * i) / headDim));
            float wavelen = (float) (2 * Math.PI / freq);
            if (wavelen < highWavelen) out[i] = 1f;
            else if (wavelen > lowWavelen) out[i] = factor;
            else {
                float smooth = (oldContext / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
                out[i] = 1f / ((1 - smooth) / factor + smooth);
            }
        }
        return out;
    }

    /**
     * The tensors of a shape, in llama.cpp's order, F16 weights and F32 norms.
     *
     * @param s     the shape
     * @param vocab vocabulary size
     * @return the tensor list
     */
    public static List<GgufWriter.Tensor> tensors(Shape s, int vocab) {
        List<GgufWriter.Tensor> t = new ArrayList<>();
        int kv = s.kvHeads() * s.headDim();
        t.add(new GgufWriter.Tensor("token_embd.weight", GgmlType.F16, new long[]{s.embd(), vocab}));
        t.add(new GgufWriter.Tensor("rope_freqs.weight", GgmlType.F32, new long[]{s.headDim() / 2}));
        t.add(new GgufWriter.Tensor("output_norm.weight", GgmlType.F32, new long[]{s.embd()}));
        for (int i = 0; i < s.layers(); i++) {
            String b = "blk." + i + ".";
            t.add(new GgufWriter.Tensor(b + "attn_norm.weight", GgmlType.F32, new long[]{s.embd()}));
            t.add(new GgufWriter.Tensor(b + "attn_q.weight", GgmlType.F16, new long[]{s.embd(), s.embd()}));
            t.add(new GgufWriter.Tensor(b + "attn_k.weight", GgmlType.F16, new long[]{s.embd(), kv}));
            t.add(new GgufWriter.Tensor(b + "attn_v.weight", GgmlType.F16, new long[]{s.embd(), kv}));
            t.add(new GgufWriter.Tensor(b + "attn_output.weight", GgmlType.F16, new long[]{s.embd(), s.embd()}));
            t.add(new GgufWriter.Tensor(b + "ffn_norm.weight", GgmlType.F32, new long[]{s.embd()}));
            t.add(new GgufWriter.Tensor(b + "ffn_gate.weight", GgmlType.F16, new long[]{s.embd(), s.ffn()}));
            t.add(new GgufWriter.Tensor(b + "ffn_up.weight", GgmlType.F16, new long[]{s.embd(), s.ffn()}));
            t.add(new GgufWriter.Tensor(b + "ffn_down.weight", GgmlType.F16, new long[]{s.ffn(), s.embd()}));
        }
        return t;
    }

    /**
     * Writes an F16 model.
     *
     * @param out       the file to write
     * @param s         the shape
     * @param seed      weight seed
     * @param vocabGguf llama.cpp's {@code ggml-vocab-llama-bpe.gguf} (tokenizer source)
     * @param progress  called with the fraction written, may be null
     * @throws IOException on I/O failure
     */
    public static void writeF16(Path out, Shape s, long seed, Path vocabGguf, DoubleConsumer progress) throws IOException {
        write(out, s, seed, vocabGguf, progress, "llama", List.of());
    }

    /**
     * Writes an F16 reranker: Qwen3's architecture with a classification head ({@code cls.output.weight}, one output
     * per label) and rank pooling, random weights, the Llama 3 tokenizer. Its scores are noise; it exists so that rank
     * pooling can be compared with llama.cpp's own tools.
     *
     * @param out       the file to write
     * @param s         the shape
     * @param seed      weight seed
     * @param vocabGguf llama.cpp's {@code ggml-vocab-llama-bpe.gguf} (tokenizer source)
     * @param labels    the classifier's output labels (at least one)
     * @throws IOException on I/O failure
     */
    public static void writeRerankerF16(Path out, Shape s, long seed, Path vocabGguf, List<String> labels) throws IOException {
        if (labels.isEmpty()) throw new IllegalArgumentException("a reranker needs at least one output label");
        write(out, s, seed, vocabGguf, null, "qwen3", labels);
    }

    private static void write(Path out, Shape s, long seed, Path vocabGguf, DoubleConsumer progress, String arch,
                              List<String> labels) throws IOException {
        GgufFile vocabFile = GgufFile.read(vocabGguf);
        int vocab = vocabFile.get("tokenizer.ggml.tokens").orElseThrow(() -> new GgufFormatException(0, vocabGguf + " has no tokenizer.ggml.tokens"))
                .asList().size();
        boolean llama = arch.equals("llama");
        Map<String, GgufValue> kv = new LinkedHashMap<>();
        kv.put("general.architecture", GgufValue.string(arch));
        kv.put("general.name", GgufValue.string(s.name()));
        kv.put("general.file_type", GgufValue.uint32(1));
        kv.put(arch + ".block_count", GgufValue.uint32(s.layers()));
        kv.put(arch + ".context_length", GgufValue.uint32(s.context()));
        kv.put(arch + ".embedding_length", GgufValue.uint32(s.embd()));
        kv.put(arch + ".feed_forward_length", GgufValue.uint32(s.ffn()));
        kv.put(arch + ".attention.head_count", GgufValue.uint32(s.heads()));
        kv.put(arch + ".attention.head_count_kv", GgufValue.uint32(s.kvHeads()));
        kv.put(arch + ".attention.key_length", GgufValue.uint32(s.headDim()));
        kv.put(arch + ".attention.value_length", GgufValue.uint32(s.headDim()));
        kv.put(arch + ".rope.freq_base", GgufValue.float32(ROPE_BASE));
        kv.put(arch + ".rope.dimension_count", GgufValue.uint32(s.headDim()));
        kv.put(arch + ".attention.layer_norm_rms_epsilon", GgufValue.float32(1e-5f));
        if (llama) kv.put(arch + ".vocab_size", GgufValue.uint32(vocab));
        if (!labels.isEmpty()) {
            kv.put(arch + ".pooling_type", GgufValue.uint32(4)); // LLAMA_POOLING_TYPE_RANK
            kv.put(arch + ".classifier.output_labels", GgufValue.array(GgufValueType.STRING, labels));
        }
        for (Map.Entry<String, GgufValue> e : vocabFile.metadata().entrySet()) {
            if (e.getKey().startsWith("tokenizer.")) kv.put(e.getKey(), e.getValue());
        }
        kv.put("tokenizer.ggml.bos_token_id", GgufValue.uint32(128000));
        kv.put("tokenizer.ggml.eos_token_id", GgufValue.uint32(128009));
        kv.put("tokenizer.ggml.add_bos_token", GgufValue.bool(true));
        kv.put("tokenizer.chat_template", GgufValue.string(LLAMA3_TEMPLATE));
        List<GgufWriter.Tensor> tensors = llama ? tensors(s, vocab) : qwen3Tensors(s, vocab, labels.size());
        long total = tensors.stream().mapToLong(GgufWriter.Tensor::bytes).sum();
        short[] table = normalF16Table(seed, WEIGHT_STD);
        long[] done = {0};
        float[] rope = llama3RopeFactors(s.headDim());
        GgufWriter.write(out, kv, tensors, (t, ch) -> {
            if (t.type() == GgmlType.F32) {
                ByteBuffer b = ByteBuffer.allocate((int) t.bytes()).order(ByteOrder.LITTLE_ENDIAN);
                for (long i = 0; i < t.elements(); i++) b.putFloat(t.name().equals("rope_freqs.weight") ? rope[(int) i] : 1.0f);
                b.flip();
                while (b.hasRemaining()) ch.write(b);
            } else {
                writeRandomF16(ch, t.elements(), new SplittableRandom(seed ^ t.name().hashCode() * 0x9E3779B97F4A7C15L), table);
            }
            done[0] += t.bytes();
            if (progress != null) progress.accept((double) done[0] / total);
        });
    }

    /** Qwen3's tensors (Q/K norms, no rope factors, tied output) and a classification head of {@code nCls} outputs. */
    static List<GgufWriter.Tensor> qwen3Tensors(Shape s, int vocab, int nCls) {
        List<GgufWriter.Tensor> t = new ArrayList<>();
        for (GgufWriter.Tensor x : tensors(s, vocab)) {
            if (x.name().equals("rope_freqs.weight")) continue;
            t.add(x);
            if (x.name().endsWith("attn_output.weight")) {
                String b = x.name().substring(0, x.name().length() - "attn_output.weight".length());
                t.add(new GgufWriter.Tensor(b + "attn_k_norm.weight", GgmlType.F32, new long[]{s.headDim()}));
                t.add(new GgufWriter.Tensor(b + "attn_q_norm.weight", GgmlType.F32, new long[]{s.headDim()}));
            }
        }
        t.add(new GgufWriter.Tensor("cls.output.weight", GgmlType.F16, new long[]{s.embd(), nCls}));
        return t;
    }

    /** 65536 F16 samples of N(0, std), indexed by 16 random bits. */
    static short[] normalF16Table(long seed, double std) {
        Random r = new Random(seed);
        short[] t = new short[65536];
        for (int i = 0; i < t.length; i++) t[i] = Float.floatToFloat16((float) (r.nextGaussian() * std));
        return t;
    }

    private static void writeRandomF16(WritableByteChannel ch, long n, SplittableRandom rng, short[] table) throws IOException {
        ByteBuffer b = ByteBuffer.allocateDirect(1 << 22).order(ByteOrder.LITTLE_ENDIAN);
        long left = n;
        while (left > 0) {
            b.clear();
            int k = (int) Math.min(left, b.capacity() / 2);
            int i = 0;
            for (; i + 4 <= k; i += 4) {
                long r = rng.nextLong();
                b.putShort(table[(int) (r & 0xffff)]);
                b.putShort(table[(int) ((r >>> 16) & 0xffff)]);
                b.putShort(table[(int) ((r >>> 32) & 0xffff)]);
                b.putShort(table[(int) (r >>> 48)]);
            }
            for (; i < k; i++) b.putShort(table[rng.nextInt(65536)]);
            b.flip();
            while (b.hasRemaining()) ch.write(b);
            left -= k;
        }
    }
}
