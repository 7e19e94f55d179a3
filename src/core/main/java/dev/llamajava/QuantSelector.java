package dev.llamajava;

import dev.llamajava.gguf.GgufFile;
import dev.llamajava.gguf.GgufTensorInfo;
import dev.llamajava.internal.CpuRepack;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Objects;
import java.util.Set;
import java.util.stream.Collectors;
import java.util.regex.Pattern;

/**
 * Chooses among GGUF quantizations of one model by memory: for each variant it estimates weights + KV cache +
 * compute buffers + overhead for a context size and KV type, and picks the highest-quality variant (most bits per
 * weight) that fits the budget, with a table that explains the choice. For a GPU budget it also says how many
 * layers fit when the whole model does not.
 *
 * <p>The estimate: weights are the tensor bytes, plus on a CPU the interleaved copy llama.cpp makes of Q4_0, Q4_K and
 * IQ4_NL layer weights; the KV cache is {@code n_layers x n_ctx x n_kv_heads x head_dim x 2 x bytes per element}; the
 * compute buffer is llama.cpp's graph for one micro-batch: the output logits ({@code n_ubatch x n_vocab x 4}) plus two
 * embedding-wide activations ({@code n_ubatch x n_embd x 8}), and without flash attention the attention scores
 * ({@code n_ubatch x n_ctx x n_head x 4}); a fixed overhead covers the rest. Calibrated against llama.cpp's reported
 * buffers for the synthetic Llama-3.2-1B model (see the tests).
 */
public final class QuantSelector {

    private QuantSelector() { }

    /** Fixed overhead: llama.cpp's host-side structures and the graph metadata. */
    public static final long OVERHEAD_BYTES = 64L << 20;

    /**
     * A model variant's facts, read from its GGUF header.
     *
     * @param name      display name (file name)
     * @param path      the file, or null for a remote listing
     * @param quant     file type name, e.g. Q4_K_M
     * @param fileBytes file size
     * @param weights   tensor bytes
     * @param bitsPerWeight average bits per weight
     * @param layers    blocks
     * @param embd      embedding width
     * @param ff        feed-forward width
     * @param heads     attention heads
     * @param kvHeads   KV heads
     * @param headDim   head dimension
     * @param vocab     vocabulary size
     * @param outputAndEmbeddingBytes bytes of the token embedding and output tensors (not per layer)
     * @param cpuRepackBytes bytes of the layer weights that llama.cpp's CPU backend repacks into an interleaved copy at
     *                       load time on this CPU ({@link CpuRepack}; the token embedding is not repacked), with
     *                       the AMX copy of a tied output layer
     * @param tiedOutputCopyBytes bytes of the AMX copy of a tied output layer (held even when the file is read)
     */
    public record Variant(String name, Path path, String quant, long fileBytes, long weights, double bitsPerWeight, int layers,
                          int embd, int ff, int heads, int kvHeads, int headDim, int vocab, long outputAndEmbeddingBytes,
                          long cpuRepackBytes, long tiedOutputCopyBytes) {

        /**
         * @param path a GGUF file
         * @return its variant facts
         * @throws UncheckedIOException when unreadable
         */
        public static Variant of(Path path) {
            try {
                GgufFile g = GgufFile.read(path);
                String arch = g.architecture();
                int layers = (int) num(g, arch + ".block_count");
                int embd = (int) num(g, arch + ".embedding_length");
                int heads = (int) num(g, arch + ".attention.head_count");
                int kv = g.get(arch + ".attention.head_count_kv").map(v -> (int) v.asLong()).orElse(heads);
                int headDim = g.get(arch + ".attention.key_length").map(v -> (int) v.asLong()).orElse(embd / heads);
                int ff = (int) num(g, arch + ".feed_forward_length");
                int vocab = g.get("tokenizer.ggml.tokens").map(v -> v.asList().size()).orElse(0);
                long outEmb = g.tensors().stream().filter(t -> t.name().startsWith("token_embd") || t.name().startsWith("output."))
                        .mapToLong(GgufTensorInfo::bytes).sum();
                Set<String> names = g.tensors().stream().map(GgufTensorInfo::name).collect(Collectors.toSet());
                long tied = g.tensors().stream().filter(t -> t.name().equals("token_embd.weight"))
                        .mapToLong(t -> CpuRepack.tiedOutputCopyBytes(names, t.type(), t.shape(), t.bytes())).sum();
                long repack = tied + g.tensors().stream().filter(t -> CpuRepack.repacked(t.name(), t.type(), t.shape()))
                        .mapToLong(GgufTensorInfo::bytes).sum();
                return new Variant(path.getFileName().toString(), path, g.fileTypeName(), g.fileSize(), g.tensorBytes(), g.bitsPerWeight(),
                        layers, embd, ff, heads, kv, headDim, vocab, outEmb, repack, tied);
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }

        private static long num(GgufFile g, String key) {
            return g.get(key).orElseThrow(() -> new IllegalArgumentException(g.path() + " has no " + key)).asLong();
        }
    }

    /**
     * One variant's estimate.
     *
     * @param variant   the variant
     * @param weights   weight bytes
     * @param kvCache   KV cache bytes
     * @param compute   compute buffer bytes
     * @param overhead  fixed overhead
     * @param total     the sum
     * @param fits      whether the total fits the budget
     * @param gpuLayers layers that fit when offloading (all layers when it fits)
     */
    public record Estimate(Variant variant, long weights, long kvCache, long compute, long overhead, long total, boolean fits, int gpuLayers) { }

    /**
     * The outcome.
     *
     * @param budget   the budget in bytes
     * @param ctx      context size
     * @param rows     every variant's estimate, best quality first
     * @param chosen   the highest-quality variant that fits, or null when none does
     */
    public record Selection(long budget, int ctx, List<Estimate> rows, Estimate chosen) {
        /** @return the explanation table (plain text) */
        public String table() {
            StringBuilder sb = new StringBuilder();
            sb.append(String.format(Locale.ROOT, "budget %s, context %d%n", gib(budget), ctx));
            sb.append(String.format(Locale.ROOT, "%-8s %6s %10s %10s %10s %10s %10s  %-5s %s%n", "quant", "bpw", "file", "weights", "KV cache", "compute", "total", "fits", "GPU layers"));
            for (Estimate e : rows) {
                sb.append(String.format(Locale.ROOT, "%-8s %6.2f %10s %10s %10s %10s %10s  %-5s %d/%d%s%n", e.variant().quant(), e.variant().bitsPerWeight(),
                        gib(e.variant().fileBytes()), gib(e.weights()), gib(e.kvCache()), gib(e.compute()), gib(e.total()), e.fits() ? "yes" : "no",
                        e.gpuLayers(), e.variant().layers(), e == chosen ? "   <- chosen" : ""));
            }
            if (chosen == null) sb.append("no variant fits the budget\n");
            sb.append("weights: tensor bytes, plus on the CPU llama.cpp's interleaved copy of Q4_0/Q4_K/IQ4_NL layer weights; "
                    + "GPU layers: how many would fit on a GPU with this budget\n");
            return sb.toString();
        }
    }

    static String gib(long b) {
        return String.format(Locale.ROOT, "%.2f GiB", b / 1073741824.0);
    }

    /**
     * @param v         the variant
     * @param ctx       context size in tokens
     * @param ubatch    micro-batch size
     * @param kvType    KV cache element type
     * @param flashAttn whether flash attention is on (llama.cpp's auto turns it on for CPU)
     * @param budget    bytes available
     * @return the estimate
     */
    public static Estimate estimate(Variant v, int ctx, int ubatch, ContextParams.KvCacheType kvType, boolean flashAttn, long budget) {
        return estimate(v, ctx, ubatch, kvType, flashAttn, budget, true);
    }

    /**
     * @param v         the variant
     * @param ctx       context size in tokens
     * @param ubatch    micro-batch size
     * @param kvType    KV cache element type
     * @param flashAttn whether flash attention is on
     * @param budget    bytes available
     * @param cpu       whether the weights live on the CPU, where some are repacked: a file read into memory (the default
     *                  when a quarter or more of its weights are repacked, see {@link ModelParams.LoadMode#AUTO}) holds
     *                  them once, a mapped file holds the repacked ones twice
     * @return the estimate
     */
    public static Estimate estimate(Variant v, int ctx, int ubatch, ContextParams.KvCacheType kvType, boolean flashAttn, long budget, boolean cpu) {
        long kv = Math.round((double) v.layers() * ctx * v.kvHeads() * v.headDim() * 2 * kvType.bytesPerElement());
        long compute = computeBytes(v, ctx, ubatch, flashAttn);
        boolean mappedWithRepack = cpu && !CpuRepack.preferRead(v.cpuRepackBytes(), v.weights());
        // read: the tied output's AMX copy is the one extra; mapped: every repacked or copied weight is held twice
        long weights = v.weights() + (mappedWithRepack ? v.cpuRepackBytes() : cpu ? v.tiedOutputCopyBytes() : 0);
        long total = weights + kv + compute + OVERHEAD_BYTES;
        boolean fits = total <= budget;
        int layers = v.layers();
        if (!fits) {
            long perLayer = perLayerBytes(v, kv);
            long left = budget - compute - OVERHEAD_BYTES - v.outputAndEmbeddingBytes();
            layers = (int) Math.max(0, Math.min(v.layers(), left / Math.max(1, perLayer)));
        }
        return new Estimate(v, weights, kv, compute, OVERHEAD_BYTES, total, fits, layers);
    }

    /** Bytes one offloaded layer needs: its share of the layer weights and of the KV cache. */
    static long perLayerBytes(Variant v, long kvCache) {
        return (v.weights() - v.outputAndEmbeddingBytes()) / Math.max(1, v.layers()) + kvCache / Math.max(1, v.layers());
    }

    static long computeBytes(Variant v, int ctx, int ubatch, boolean flashAttn) {
        int ub = Math.min(ubatch, ctx);
        long logits = (long) ub * v.vocab() * 4;
        long activations = (long) ub * v.embd() * 8;
        long attn = flashAttn ? 0 : (long) ub * ctx * v.heads() * 4;
        return logits + activations + attn;
    }

    /**
     * @param variants  candidates
     * @param budget    bytes available
     * @param ctx       context size
     * @param kvType    KV cache type
     * @return the selection (best quality first)
     */
    public static Selection select(List<Variant> variants, long budget, int ctx, ContextParams.KvCacheType kvType) {
        Objects.requireNonNull(variants, "variants");
        if (ctx < 1) throw new IllegalArgumentException("ctx must be >= 1, was " + ctx);
        if (budget < 0) throw new IllegalArgumentException("budget must be >= 0, was " + budget);
        List<Estimate> rows = new ArrayList<>();
        for (Variant v : variants) rows.add(estimate(v, ctx, 512, kvType, true, budget));
        rows.sort(Comparator.comparingDouble((Estimate e) -> e.variant().bitsPerWeight()).reversed());
        Estimate chosen = rows.stream().filter(Estimate::fits).findFirst().orElse(null);
        return new Selection(budget, ctx, List.copyOf(rows), chosen);
    }

    /**
     * @param dir a folder of GGUF files
     * @return their variants
     * @throws UncheckedIOException when the folder cannot be read
     */
    public static List<Variant> fromDirectory(Path dir) {
        try (var s = Files.list(dir)) {
            return s.filter(p -> p.getFileName().toString().toLowerCase(Locale.ROOT).endsWith(".gguf")).sorted().map(Variant::of).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * @param budget e.g. {@code 2G}, {@code 512M}, {@code 8GiB}, or plain bytes
     * @return bytes
     * @throws IllegalArgumentException when malformed
     */
    public static long parseSize(String budget) {
        var m = Pattern.compile("(?i)\\s*([0-9.]+)\\s*([kmgt]?)(i?b)?\\s*").matcher(budget);
        if (!m.matches()) throw new IllegalArgumentException("not a size: '" + budget + "' (e.g. 2G, 512M)");
        double v = Double.parseDouble(m.group(1));
        int shift = switch (m.group(2).toLowerCase(Locale.ROOT)) {
            case "k" -> 10;
            case "m" -> 20;
            case "g" -> 30;
            case "t" -> 40;
            default -> 0;
        };
        return (long) (v * (1L << shift));
    }
}
