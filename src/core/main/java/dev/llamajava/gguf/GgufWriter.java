package dev.llamajava.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.WritableByteChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Writes GGUF v3, streaming: the header is written first, then each tensor's data is asked for in
 * order, so a multi-gigabyte file never sits in the heap. The file is written to {@code <out>.part}
 * and renamed when complete; a failure leaves nothing at {@code out}.
 */
public final class GgufWriter {

    /** A tensor to write. */
    public record Tensor(String name, GgmlType type, long[] shape) {
        /** Copies the shape and checks the row length against the block size. */
        public Tensor {
            Objects.requireNonNull(name, "name");
            Objects.requireNonNull(type, "type");
            shape = shape.clone();
            if (shape.length < 1 || shape.length > GgufFile.MAX_DIMS) throw new IllegalArgumentException(name + ": 1..4 dimensions");
            if (shape[0] % type.blockSize() != 0) throw new IllegalArgumentException(name + ": row " + shape[0] + " not a multiple of " + type.blockSize());
        }

        /** @return elements */
        public long elements() {
            return GgufTensorInfo.elements(shape);
        }

        /** @return bytes of data */
        public long bytes() {
            return type.bytes(elements());
        }
    }

    /** Supplies one tensor's bytes. */
    @FunctionalInterface
    public interface DataSource {
        /**
         * Writes exactly {@code tensor.bytes()} bytes.
         *
         * @param tensor the tensor
         * @param out    where to write
         * @throws IOException on failure
         */
        void write(Tensor tensor, WritableByteChannel out) throws IOException;
    }

    private GgufWriter() { }

    /**
     * Writes a GGUF v3 file.
     *
     * @param out       the file to create (replaced if present)
     * @param metadata  keys and values, in order ({@code general.alignment}, if present, sets the alignment)
     * @param tensors   tensors, in order
     * @param data      their bytes
     * @throws IOException              on I/O failure, or when a source writes the wrong number of bytes
     * @throws IllegalArgumentException for a malformed value
     */
    public static void write(Path out, Map<String, GgufValue> metadata, List<Tensor> tensors, DataSource data) throws IOException {
        Objects.requireNonNull(out, "out");
        int alignment = GgufFile.DEFAULT_ALIGNMENT;
        GgufValue al = metadata.get("general.alignment");
        if (al != null) alignment = (int) al.asLong();
        Path part = out.resolveSibling(out.getFileName() + ".part");
        boolean done = false;
        try (FileChannel ch = FileChannel.open(part, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            Buf b = new Buf(ch);
            b.i32(GgufFile.MAGIC);
            b.i32(3);
            b.i64(tensors.size());
            b.i64(metadata.size());
            for (Map.Entry<String, GgufValue> e : metadata.entrySet()) {
                b.string(e.getKey());
                b.value(e.getValue());
            }
            List<Long> offsets = new ArrayList<>();
            long off = 0;
            for (Tensor t : tensors) {
                b.string(t.name());
                b.i32(t.shape().length);
                for (long d : t.shape()) b.i64(d);
                b.i32(t.type().id());
                b.i64(off);
                offsets.add(off);
                off = pad(off + t.bytes(), alignment);
            }
            if (!tensors.isEmpty()) b.padTo(alignment); // llama.cpp writes no padding after a header without tensors
            b.flush();
            long dataStart = ch.position();
            for (int i = 0; i < tensors.size(); i++) {
                Tensor t = tensors.get(i);
                long start = ch.position();
                if (start - dataStart != offsets.get(i)) throw new IllegalStateException("offset bookkeeping");
                data.write(t, ch);
                long wrote = ch.position() - start;
                if (wrote != t.bytes()) throw new IOException("data source wrote " + wrote + " bytes for " + t.name() + ", expected " + t.bytes());
                long padded = pad(wrote, alignment);
                if (padded > wrote) ch.write(ByteBuffer.allocate((int) (padded - wrote)));
            }
            done = true;
        } finally {
            if (!done) Files.deleteIfExists(part);
        }
        Files.move(part, out, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    static long pad(long x, int alignment) {
        return (x + alignment - 1) / alignment * alignment;
    }

    private static final class Buf {
        final WritableByteChannel ch;
        final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        long written;

        Buf(WritableByteChannel ch) { this.ch = ch; }

        void room(int n) throws IOException {
            if (buf.remaining() < n) flush();
        }

        void flush() throws IOException {
            buf.flip();
            while (buf.hasRemaining()) written += ch.write(buf);
            buf.clear();
        }

        long pos() { return written + buf.position(); }

        void i32(int v) throws IOException { room(4); buf.putInt(v); }

        void i64(long v) throws IOException { room(8); buf.putLong(v); }

        void string(String s) throws IOException {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            int off = 0;
            while (off < b.length) {
                room(1);
                int k = Math.min(buf.remaining(), b.length - off);
                buf.put(b, off, k);
                off += k;
            }
        }

        void padTo(int alignment) throws IOException {
            long p = pos();
            long target = pad(p, alignment);
            for (long i = p; i < target; i++) { room(1); buf.put((byte) 0); }
        }

        void value(GgufValue v) throws IOException {
            i32(v.type().ordinal());
            if (v.type() == GgufValueType.ARRAY) {
                i32(v.elementType().ordinal());
                List<?> l = v.asList();
                i64(l.size());
                for (Object o : l) scalar(v.elementType(), o);
            } else {
                scalar(v.type(), v.value());
            }
        }

        void scalar(GgufValueType t, Object o) throws IOException {
            switch (t) {
                case UINT8, INT8 -> { room(1); buf.put((byte) ((Number) o).longValue()); }
                case UINT16, INT16 -> { room(2); buf.putShort((short) ((Number) o).longValue()); }
                case UINT32, INT32 -> i32((int) ((Number) o).longValue());
                case FLOAT32 -> { room(4); buf.putFloat(((Number) o).floatValue()); }
                case BOOL -> { room(1); buf.put((byte) (((Boolean) o) ? 1 : 0)); }
                case STRING -> string((String) o);
                case UINT64, INT64 -> i64(((Number) o).longValue());
                case FLOAT64 -> { room(8); buf.putDouble(((Number) o).doubleValue()); }
                default -> throw new IllegalArgumentException("nested arrays are not GGUF");
            }
        }
    }

    /**
     * Copies tensor data byte for byte from an existing file (used for round trips and rewriting metadata).
     *
     * @param source the file to copy from
     * @return a data source reading each tensor by name from {@code source}
     */
    public static DataSource copyFrom(GgufFile source) {
        return (t, out) -> {
            GgufTensorInfo info = source.tensors().stream().filter(x -> x.name().equals(t.name())).findFirst()
                    .orElseThrow(() -> new IOException("no tensor " + t.name() + " in " + source.path()));
            try (FileChannel in = FileChannel.open(source.path(), StandardOpenOption.READ)) {
                long pos = source.dataOffset() + info.offset();
                long left = info.bytes();
                while (left > 0) {
                    long n = in.transferTo(pos, left, out);
                    if (n <= 0) throw new IOException("short read in " + source.path());
                    pos += n;
                    left -= n;
                }
            }
        };
    }
}
