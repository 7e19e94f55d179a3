package dev.llamajava.gguf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;

/**
 * A GGUF file's header: version, every metadata key with its typed value, tensor infos, alignment and
 * data offset. Pure Java, no native code; reads only the header (the weights are not read).
 * Hostile input is expected: every count, length and offset is checked against the file size before
 * anything is allocated, and a malformed file gives a {@link GgufFormatException} naming the offset.
 */
public final class GgufFile {

    /** "GGUF" as a little-endian uint32. */
    public static final int MAGIC = 0x46554747;
    /** Default data alignment. */
    public static final int DEFAULT_ALIGNMENT = 32;
    static final int MAX_DIMS = 4;
    static final long MAX_STRING = 1L << 30;

    private final Path path;
    private final int version;
    private final Map<String, GgufValue> metadata;
    private final List<GgufTensorInfo> tensors;
    private final int alignment;
    private final long dataOffset;
    private final long fileSize;

    private GgufFile(Path path, int version, Map<String, GgufValue> metadata, List<GgufTensorInfo> tensors, int alignment,
                     long dataOffset, long fileSize) {
        this.path = path;
        this.version = version;
        this.metadata = Collections.unmodifiableMap(metadata);
        this.tensors = List.copyOf(tensors);
        this.alignment = alignment;
        this.dataOffset = dataOffset;
        this.fileSize = fileSize;
    }

    /**
     * Reads a GGUF header.
     *
     * @param path the file
     * @return its header
     * @throws IOException         when the file cannot be read
     * @throws GgufFormatException when it is not valid GGUF (the message names the offset and the field)
     */
    public static GgufFile read(Path path) throws IOException {
        Objects.requireNonNull(path, "path");
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            Reader r = new Reader(ch);
            long size = ch.size();
            if (size < 24) throw new GgufFormatException(0, "not a GGUF file: only " + size + " bytes");
            int magic = r.i32("magic");
            if (magic != MAGIC) throw new GgufFormatException(0, String.format("not a GGUF file: magic 0x%08x, expected 0x%08x (\"GGUF\")", magic, MAGIC));
            int version = r.i32("version");
            if (version < 2 || version > 3) throw new GgufFormatException(4, "unsupported GGUF version " + version + " (2 and 3 are supported)");
            long nTensors = r.u64Count("tensor count", 8 + 4 + 8 + 4 + 8);
            long nKv = r.u64Count("metadata count", 8 + 4 + 1);
            Map<String, GgufValue> kv = new LinkedHashMap<>();
            for (long i = 0; i < nKv; i++) {
                long at = r.pos;
                String key = r.string("metadata key " + i);
                GgufValue v = r.value("value of '" + key + "'");
                if (kv.put(key, v) != null) throw new GgufFormatException(at, "duplicate metadata key '" + key + "'");
            }
            int alignment = DEFAULT_ALIGNMENT;
            GgufValue al = kv.get("general.alignment");
            if (al != null) {
                if (al.type() != GgufValueType.UINT32 || al.asLong() <= 0 || Long.bitCount(al.asLong()) != 1 || al.asLong() > 1 << 20) {
                    throw new GgufFormatException(r.pos, "general.alignment must be a power of two uint32, was " + al);
                }
                alignment = (int) al.asLong();
            }
            List<GgufTensorInfo> infos = new ArrayList<>();
            Set<String> names = new HashSet<>();
            for (long i = 0; i < nTensors; i++) {
                long at = r.pos;
                String name = r.string("tensor name " + i);
                if (!names.add(name)) throw new GgufFormatException(at, "duplicate tensor name '" + name + "'");
                int nd = r.i32("dimension count of " + name);
                if (nd < 1 || nd > MAX_DIMS) throw new GgufFormatException(r.pos - 4, "tensor " + name + " has " + nd + " dimensions (1.." + MAX_DIMS + ")");
                long[] shape = new long[nd];
                long elements = 1;
                for (int d = 0; d < nd; d++) {
                    shape[d] = r.i64("dimension " + d + " of " + name);
                    if (shape[d] < 0) throw new GgufFormatException(r.pos - 8, "tensor " + name + " has negative dimension " + shape[d]);
                    try {
                        elements = Math.multiplyExact(elements, shape[d]);
                    } catch (ArithmeticException e) {
                        throw new GgufFormatException(r.pos - 8, "tensor " + name + " has too many elements");
                    }
                }
                int typeId = r.i32("type of " + name);
                GgmlType type = GgmlType.byId(typeId);
                if (type == null) throw new GgufFormatException(r.pos - 4, "tensor " + name + " has unknown type " + typeId);
                if (shape[0] % type.blockSize() != 0) {
                    throw new GgufFormatException(r.pos - 4, "tensor " + name + ": row of " + shape[0] + " is not a multiple of the " + type + " block size " + type.blockSize());
                }
                long offset = r.i64("data offset of " + name);
                if (offset < 0 || offset % alignment != 0) throw new GgufFormatException(r.pos - 8, "tensor " + name + " has misaligned offset " + offset);
                infos.add(new GgufTensorInfo(name, type, shape, offset));
            }
            long dataOffset = (r.pos + alignment - 1) / alignment * alignment;
            for (GgufTensorInfo t : infos) {
                long end;
                try {
                    end = Math.addExact(Math.addExact(dataOffset, t.offset()), t.bytes());
                } catch (ArithmeticException e) {
                    throw new GgufFormatException(dataOffset, "tensor " + t.name() + " data extent overflows");
                }
                if (end > size) {
                    throw new GgufFormatException(dataOffset + t.offset(), "tensor " + t.name() + " data ends at byte " + end
                            + " beyond the end of the file (" + size + " bytes): truncated file");
                }
            }
            return new GgufFile(path, version, kv, infos, alignment, dataOffset, size);
        }
    }

    /** @return the file */
    public Path path() { return path; }

    /** @return the GGUF version (2 or 3) */
    public int version() { return version; }

    /** @return every metadata key with its value, in file order */
    public Map<String, GgufValue> metadata() { return metadata; }

    /** @param key a key @return its value, if present */
    public Optional<GgufValue> get(String key) { return Optional.ofNullable(metadata.get(key)); }

    /** @return tensor infos, in file order */
    public List<GgufTensorInfo> tensors() { return tensors; }

    /** @return the data alignment */
    public int alignment() { return alignment; }

    /** @return where the data section starts */
    public long dataOffset() { return dataOffset; }

    /** @return the file size in bytes */
    public long fileSize() { return fileSize; }

    /** @return {@code general.architecture}, or "" */
    public String architecture() {
        return get("general.architecture").map(GgufValue::asString).orElse("");
    }

    /** @return number of weights */
    public long parameterCount() {
        long n = 0;
        for (GgufTensorInfo t : tensors) n += t.elements();
        return n;
    }

    /** @return bytes of tensor data per element type */
    public Map<GgmlType, Long> bytesByType() {
        Map<GgmlType, Long> m = new EnumMap<>(GgmlType.class);
        for (GgufTensorInfo t : tensors) m.merge(t.type(), t.bytes(), Long::sum);
        return m;
    }

    /** @return total tensor bytes */
    public long tensorBytes() {
        long n = 0;
        for (GgufTensorInfo t : tensors) n += t.bytes();
        return n;
    }

    /** @return average bits per weight over all tensors */
    public double bitsPerWeight() {
        long p = parameterCount();
        return p == 0 ? 0 : tensorBytes() * 8.0 / p;
    }

    /** @return the file type name from {@code general.file_type} (Q4_K_M, Q8_0, F16, ...), or the dominant tensor type */
    public String fileTypeName() {
        Optional<GgufValue> ft = get("general.file_type");
        if (ft.isPresent()) {
            String n = FileType.name((int) ft.get().asLong());
            if (n != null) return n;
        }
        return bytesByType().entrySet().stream().max(Map.Entry.comparingByValue()).map(e -> e.getKey().name()).orElse("unknown");
    }

    /** Sequential little-endian reader over a channel, with every length checked against the file size. */
    static final class Reader {
        final FileChannel ch;
        final long size;
        final ByteBuffer buf = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);
        long pos;

        Reader(FileChannel ch) throws IOException {
            this.ch = ch;
            this.size = ch.size();
            buf.limit(0);
        }

        void need(int n, String field) throws IOException {
            need(n, "", field);
        }

        /** {@link #need(int, String)} for the field {@code prefix + field}, the text joined only for the error. */
        void need(int n, String prefix, String field) throws IOException {
            if (pos + n > size) throw new GgufFormatException(pos, "file ends inside " + prefix + field + " (truncated)");
            if (buf.remaining() >= n) return;
            buf.compact();
            while (buf.position() < n) {
                int got = ch.read(buf, pos + buf.position());
                if (got < 0) throw new GgufFormatException(pos, "file ends inside " + prefix + field + " (truncated)");
            }
            buf.flip();
        }

        int i32(String field) throws IOException {
            need(4, field);
            pos += 4;
            return buf.getInt();
        }

        long i64(String field) throws IOException {
            return i64("", field);
        }

        long i64(String prefix, String field) throws IOException {
            need(8, prefix, field);
            pos += 8;
            return buf.getLong();
        }

        /** A uint64 count, each element at least {@code minBytes} long: bounded by the bytes left. */
        long u64Count(String field, int minBytes) throws IOException {
            long at = pos;
            long n = i64(field);
            if (n < 0 || n > (size - pos) / Math.max(1, minBytes)) {
                throw new GgufFormatException(at, field + " " + Long.toUnsignedString(n) + " cannot fit in the " + (size - pos) + " bytes left");
            }
            return n;
        }

        String string(String field) throws IOException {
            long at = pos;
            long len = i64("length of ", field);
            if (len < 0 || len > MAX_STRING || len > size - pos) {
                throw new GgufFormatException(at, "length " + Long.toUnsignedString(len) + " of " + field + " exceeds the " + (size - pos) + " bytes left");
            }
            byte[] b = new byte[(int) len];
            int off = 0;
            while (off < b.length) {
                if (!buf.hasRemaining()) need(1, field);
                int k = Math.min(buf.remaining(), b.length - off);
                buf.get(b, off, k);
                off += k;
                pos += k;
            }
            // GGUF strings are UTF-8 by spec; malformed bytes become replacement characters
            return new String(b, StandardCharsets.UTF_8);
        }

        GgufValue value(String field) throws IOException {
            long at = pos;
            int t = i32("type of " + field);
            GgufValueType type = GgufValueType.byId(t);
            if (type == null) throw new GgufFormatException(at, "unknown value type " + t + " for " + field);
            if (type == GgufValueType.ARRAY) {
                long eat = pos;
                int et = i32("element type of " + field);
                GgufValueType etype = GgufValueType.byId(et);
                if (etype == null || etype == GgufValueType.ARRAY) throw new GgufFormatException(eat, "bad array element type " + et + " for " + field);
                long n = u64Count("element count of " + field, etype == GgufValueType.STRING ? 8 : etype.size());
                List<Object> list = new ArrayList<>((int) Math.min(n, 1 << 20));
                for (long i = 0; i < n; i++) list.add(scalar(etype, field));
                return new GgufValue(GgufValueType.ARRAY, Collections.unmodifiableList(list), etype);
            }
            return new GgufValue(type, scalar(type, field), null);
        }

        Object scalar(GgufValueType t, String field) throws IOException {
            switch (t) {
                case UINT8: need(1, field); pos += 1; return (long) (buf.get() & 0xff);
                case INT8: need(1, field); pos += 1; return (long) buf.get();
                case UINT16: need(2, field); pos += 2; return (long) (buf.getShort() & 0xffff);
                case INT16: need(2, field); pos += 2; return (long) buf.getShort();
                case UINT32: return i32(field) & 0xffffffffL;
                case INT32: return (long) i32(field);
                case FLOAT32: need(4, field); pos += 4; return (double) buf.getFloat();
                case BOOL: {
                    long at = pos;
                    need(1, field);
                    pos += 1;
                    byte b = buf.get();
                    if (b != 0 && b != 1) throw new GgufFormatException(at, "bool " + field + " is " + b);
                    return b == 1;
                }
                case STRING: return string(field);
                case UINT64: case INT64: return i64(field);
                case FLOAT64: need(8, field); pos += 8; return buf.getDouble();
                default: throw new GgufFormatException(pos, "unexpected type " + t);
            }
        }
    }
}
