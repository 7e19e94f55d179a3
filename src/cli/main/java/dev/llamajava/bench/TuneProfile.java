package dev.llamajava.bench;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.llamajava.ContextParams;
import dev.llamajava.ModelParams;
import dev.llamajava.internal.Json;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Settings {@code llama-java bench --tune} found for a model and machine, as {@code run} and {@code chat} load them
 * ({@code --profile FILE}): threads for generation and for prompts, batch and micro-batch,
 * flash attention, KV cache type, load mode, CPU repacking and huge pages. A JSON object; unknown fields are ignored;
 * {@code huge_pages} may be missing (profiles written before it: on, the library's default).
 *
 * @param threads        threads for generation
 * @param threadsBatch   threads for prompt processing
 * @param batch          logical batch size
 * @param microBatch     physical batch size
 * @param flashAttention flash attention
 * @param kvType         KV cache type (keys and values)
 * @param loadMode       how the weights are read
 * @param cpuRepack      whether the CPU backend repacks weights
 * @param hugePages      whether weights read into memory get transparent huge pages
 */
public record TuneProfile(int threads, int threadsBatch, int batch, int microBatch, ContextParams.FlashAttention flashAttention,
                          ContextParams.KvCacheType kvType, ModelParams.LoadMode loadMode, boolean cpuRepack,
                          boolean hugePages) {

    /**
     * The library's defaults (llama.cpp's context defaults, the library's load mode, repacking and huge pages) with
     * the given threads.
     *
     * @param threads threads for both
     * @return the profile
     */
    public static TuneProfile defaults(int threads) {
        ContextParams d = ContextParams.defaults();
        ModelParams m = ModelParams.defaults();
        return new TuneProfile(threads, threads, d.batchSize(), d.microBatchSize(), d.flashAttention(), d.typeK(),
                m.loadMode(), m.cpuRepack(), m.hugePages());
    }

    /** @param v threads for generation @return a copy with it */
    public TuneProfile withThreads(int v) {
        return new TuneProfile(v, threadsBatch, batch, microBatch, flashAttention, kvType, loadMode, cpuRepack, hugePages);
    }

    /** @param v threads for prompts @return a copy with it */
    public TuneProfile withThreadsBatch(int v) {
        return new TuneProfile(threads, v, batch, microBatch, flashAttention, kvType, loadMode, cpuRepack, hugePages);
    }

    /** @param v the micro-batch (the batch grows to it when smaller) @return a copy with it */
    public TuneProfile withMicroBatch(int v) {
        return new TuneProfile(threads, threadsBatch, Math.max(batch, v), v, flashAttention, kvType, loadMode, cpuRepack, hugePages);
    }

    /** @param v flash attention @return a copy with it */
    public TuneProfile withFlashAttention(ContextParams.FlashAttention v) {
        return new TuneProfile(threads, threadsBatch, batch, microBatch, v, kvType, loadMode, cpuRepack, hugePages);
    }

    /** @param v the KV cache type @return a copy with it */
    public TuneProfile withKvType(ContextParams.KvCacheType v) {
        return new TuneProfile(threads, threadsBatch, batch, microBatch, flashAttention, v, loadMode, cpuRepack, hugePages);
    }

    /** @param v the load mode @return a copy with it */
    public TuneProfile withLoadMode(ModelParams.LoadMode v) {
        return new TuneProfile(threads, threadsBatch, batch, microBatch, flashAttention, kvType, v, cpuRepack, hugePages);
    }

    /** @param v CPU repacking @return a copy with it */
    public TuneProfile withCpuRepack(boolean v) {
        return new TuneProfile(threads, threadsBatch, batch, microBatch, flashAttention, kvType, loadMode, v, hugePages);
    }

    /** @param v huge pages @return a copy with it */
    public TuneProfile withHugePages(boolean v) {
        return new TuneProfile(threads, threadsBatch, batch, microBatch, flashAttention, kvType, loadMode, cpuRepack, v);
    }

    /**
     * @param contextSize the context size
     * @return context settings with this profile's values
     */
    public ContextParams contextParams(int contextSize) {
        return ContextParams.builder().contextSize(contextSize).threads(threads).threadsBatch(threadsBatch)
                .batchSize(batch).microBatchSize(microBatch).flashAttention(flashAttention).typeK(kvType).typeV(kvType).build();
    }

    /** @return model settings with this profile's values (CPU only: no layers offloaded) */
    public ModelParams modelParams() {
        return ModelParams.builder().loadMode(loadMode).cpuRepack(cpuRepack).hugePages(hugePages).build();
    }

    /** @return a one-line summary */
    public String describe() {
        return String.format(Locale.ROOT, "threads %d, threads-batch %d, batch %d, ubatch %d, flash-attn %s, kv %s, load %s, repack %s, huge pages %s",
                threads, threadsBatch, batch, microBatch, flashAttention, kvType, loadMode, cpuRepack ? "on" : "off", hugePages ? "on" : "off");
    }

    /** @return the profile as JSON */
    public ObjectNode json() {
        return Json.object().put("threads", threads).put("threads_batch", threadsBatch).put("batch", batch).put("ubatch", microBatch)
                .put("flash_attention", flashAttention.name()).put("kv_type", kvType.name()).put("load_mode", loadMode.name())
                .put("cpu_repack", cpuRepack).put("huge_pages", hugePages);
    }

    /**
     * @param file a profile written by {@code bench --tune --write-profile}
     * @return the profile
     * @throws IOException              when unreadable
     * @throws IllegalArgumentException when a field is missing or has a value these settings do not have
     */
    public static TuneProfile read(Path file) throws IOException {
        JsonNode n = Json.parse(Files.readString(file, StandardCharsets.UTF_8));
        JsonNode p = n.has("profile") ? n.get("profile") : n;
        try {
            return new TuneProfile(need(p, "threads").asInt(), need(p, "threads_batch").asInt(), need(p, "batch").asInt(),
                    need(p, "ubatch").asInt(), ContextParams.FlashAttention.valueOf(need(p, "flash_attention").asText()),
                    ContextParams.KvCacheType.valueOf(need(p, "kv_type").asText()), ModelParams.LoadMode.valueOf(need(p, "load_mode").asText()),
                    need(p, "cpu_repack").asBoolean(), p.path("huge_pages").asBoolean(true));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("bad profile " + file + ": " + e.getMessage(), e);
        }
    }

    private static JsonNode need(JsonNode p, String field) {
        JsonNode v = p.get(field);
        if (v == null || v.isNull()) throw new IllegalArgumentException("no \"" + field + "\"");
        return v;
    }
}
