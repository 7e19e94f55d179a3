package dev.llamajava;

import java.util.Map;
import java.util.Optional;

/**
 * A loaded model's facts, as llama.cpp reports them.
 *
 * @param architecture     {@code general.architecture}
 * @param name             {@code general.name}, or ""
 * @param description      llama.cpp's one-line description (type, size, quantization)
 * @param parameterCount   weights
 * @param sizeBytes        bytes of weights
 * @param fileType         quantization name from {@code general.file_type} (e.g. Q4_K_M), or "unknown"
 * @param trainContext     training context length
 * @param layers           blocks
 * @param embeddingSize    embedding width
 * @param heads            attention heads
 * @param kvHeads          key/value heads
 * @param vocabSize        vocabulary size
 * @param vocabType        SPM, BPE, WPM, UGM, RWKV, PLAMO2 or NONE
 * @param bos              beginning-of-sequence token, or -1
 * @param eos              end-of-sequence token, or -1
 * @param eot              end-of-turn token, or -1
 * @param chatTemplate     the chat template, if any
 * @param metadata         every GGUF key with its value as llama.cpp renders it
 */
public record ModelInfo(String architecture, String name, String description, long parameterCount, long sizeBytes, String fileType,
                        int trainContext, int layers, int embeddingSize, int heads, int kvHeads, int vocabSize, String vocabType,
                        int bos, int eos, int eot, Optional<String> chatTemplate, Map<String, String> metadata) {
    /** Copies the metadata. */
    public ModelInfo {
        metadata = Map.copyOf(metadata);
    }
}
