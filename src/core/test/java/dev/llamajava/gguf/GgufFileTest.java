package dev.llamajava.gguf;

import dev.llamajava.TestSupport;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The pure-Java GGUF reader and writer on llama.cpp's own files, and on hostile input. */
class GgufFileTest {

    static Path vocab(String name) {
        return TestSupport.llamaSource().resolve("models").resolve(name);
    }

    @ParameterizedTest
    @ValueSource(strings = {"stories260K", "ggml-vocab-llama-bpe.gguf", "ggml-vocab-llama-spm.gguf", "ggml-vocab-qwen2.gguf",
            "ggml-vocab-bert-bge.gguf", "ggml-vocab-phi-3.gguf"})
    void roundTripIsByteIdentical(String name) throws Exception {
        Path src = name.equals("stories260K") ? TestSupport.stories260K() : vocab(name);
        GgufFile f = GgufFile.read(src);
        Path out = TestSupport.workDir("gguf").resolve("rt-" + src.getFileName());
        List<GgufWriter.Tensor> tensors = f.tensors().stream().map(t -> new GgufWriter.Tensor(t.name(), t.type(), t.shape())).toList();
        GgufWriter.write(out, f.metadata(), tensors, GgufWriter.copyFrom(f));
        assertEquals(-1L, Files.mismatch(src, out), "bytes differ from " + src);
        assertEquals(f.metadata().size(), GgufFile.read(out).metadata().size());
    }

    @Test
    void storiesHeaderAndDerivedFigures() throws Exception {
        GgufFile f = GgufFile.read(TestSupport.stories260K());
        assertEquals(3, f.version());
        assertEquals("llama", f.architecture());
        assertEquals(48, f.tensors().size());
        assertEquals(292_800, f.parameterCount());
        assertEquals("F32", f.fileTypeName());
        assertEquals(32.0, f.bitsPerWeight(), 1e-9);
        assertEquals(512, f.get("tokenizer.ggml.tokens").orElseThrow().asList().size());
        assertEquals(GgufValueType.FLOAT32, f.get("tokenizer.ggml.scores").orElseThrow().elementType());
        assertEquals(128, f.get("llama.context_length").orElseThrow().asLong());
        assertEquals(1_185_376, f.fileSize());
        // the same parameter count llama.cpp reports
        try (dev.llamajava.LlamaModel m = dev.llamajava.LlamaModel.load(TestSupport.stories260K())) {
            assertEquals(m.parameterCount(), f.parameterCount());
        }
    }

    @Test
    void notGguf() throws Exception {
        Path p = TestSupport.workDir("gguf").resolve("text.gguf");
        Files.writeString(p, "hello world, this is not a model file at all");
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.read(p));
        assertEquals("not a GGUF file: magic 0x6c6c6568, expected 0x46554747 (\"GGUF\") (at byte 0)", e.getMessage());
        assertEquals(0, e.offset());
    }

    @Test
    void everyTruncationIsAFormatException() throws Exception {
        byte[] all = Files.readAllBytes(TestSupport.stories260K());
        GgufFile full = GgufFile.read(TestSupport.stories260K());
        Path p = TestSupport.workDir("gguf").resolve("cut.gguf");
        int checked = 0;
        // every cut inside the header, then a sample of cuts inside the data
        for (int cut = 0; cut < full.dataOffset() + 4096; cut += cut < 2048 ? 1 : 97) {
            Files.write(p, Arrays.copyOf(all, cut));
            GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.read(p), "cut at " + cut);
            assertTrue(e.offset() >= 0 && e.offset() <= full.fileSize(), e.getMessage());
            checked++;
        }
        Files.write(p, Arrays.copyOf(all, all.length - 100));
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.read(p));
        assertTrue(e.getMessage().startsWith("tensor blk.4.ffn_norm.weight data ends at byte 1185376 beyond the end of the file (1185276 bytes): truncated file"), e.getMessage());
        assertTrue(checked > 2000);
    }

    static byte[] header(long nTensors, long nKv) {
        ByteBuffer b = ByteBuffer.allocate(24).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(GgufFile.MAGIC).putInt(3).putLong(nTensors).putLong(nKv);
        return b.array();
    }

    @Test
    void hostileCountsAndLengthsNeverAllocate() throws Exception {
        Path p = TestSupport.workDir("gguf").resolve("hostile.gguf");
        Files.write(p, header(0, Long.MAX_VALUE));
        GgufFormatException e = assertThrows(GgufFormatException.class, () -> GgufFile.read(p));
        assertEquals("metadata count 9223372036854775807 cannot fit in the 0 bytes left (at byte 16)", e.getMessage());

        Files.write(p, header(-1, 0));
        e = assertThrows(GgufFormatException.class, () -> GgufFile.read(p));
        assertEquals("tensor count 18446744073709551615 cannot fit in the 8 bytes left (at byte 8)", e.getMessage());

        // one key whose length claims 2^40 bytes
        ByteBuffer b = ByteBuffer.allocate(24 + 8 + 12).order(ByteOrder.LITTLE_ENDIAN);
        b.put(header(0, 1)).putLong(1L << 40).putInt(0);
        Files.write(p, b.array());
        e = assertThrows(GgufFormatException.class, () -> GgufFile.read(p));
        assertEquals("length 1099511627776 of metadata key 0 exceeds the 12 bytes left (at byte 24)", e.getMessage());

        // an array of 2^62 uint32s
        b = ByteBuffer.allocate(24 + 8 + 1 + 4 + 4 + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.put(header(0, 1)).putLong(1).put((byte) 'k').putInt(9).putInt(4).putLong(1L << 62);
        Files.write(p, b.array());
        e = assertThrows(GgufFormatException.class, () -> GgufFile.read(p));
        assertEquals("element count of value of 'k' 4611686018427387904 cannot fit in the 0 bytes left (at byte 41)", e.getMessage());

        // unknown value type
        b = ByteBuffer.allocate(24 + 8 + 1 + 4).order(ByteOrder.LITTLE_ENDIAN);
        b.put(header(0, 1)).putLong(1).put((byte) 'k').putInt(77);
        Files.write(p, b.array());
        e = assertThrows(GgufFormatException.class, () -> GgufFile.read(p));
        assertEquals("unknown value type 77 for value of 'k' (at byte 33)", e.getMessage());
    }
}
