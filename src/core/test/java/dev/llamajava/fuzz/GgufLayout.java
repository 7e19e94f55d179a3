package dev.llamajava.fuzz;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where every field of a valid GGUF file lies, by name, so that mutations can be written as recipes that
 * name fields ({@code kv[llama.block_count].value}, {@code t[token_embd.weight].ne1},
 * {@code kv[tokenizer.ggml.tokens].e[17].str+2}) instead of raw offsets.
 */
final class GgufLayout {

    /** GGUF value type ids. */
    static final int U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12;
    private static final int[] SIZE = {1, 1, 2, 2, 4, 4, 4, 1, -1, -1, 8, 8, 8};

    /** A top-level field: a header field, a part of a metadata entry or tensor info, or a data region. */
    record Field(String name, long start, long length) { }

    /** A metadata entry: its value type, for arrays the element type, count and element starts. */
    record Kv(String key, long start, long end, int type, int etype, long count, long valueStart, long[] elemStarts) {
        long elem(int i) { return elemStarts[i]; }
    }

    /** A tensor info. */
    record Tensor(String name, long start, long ndimsAt, long[] ne, long typeAt, int type, long offsetAt, long offset, long dataStart) {
        long neAt(int d) { return ndimsAt + 4 + 8L * d; }
    }

    final byte[] bytes;
    final List<Field> fields = new ArrayList<>();
    final Map<String, Field> byName = new HashMap<>();
    final Map<String, Kv> kvs = new LinkedHashMap<>();
    final Map<String, Tensor> tensors = new LinkedHashMap<>();
    long kvStart, infoStart, infoEnd, dataStart;
    int alignment = 32;

    private GgufLayout(byte[] bytes) {
        this.bytes = bytes;
    }

    /** Walks a valid GGUF file (version 2 or 3). */
    static GgufLayout of(byte[] b) {
        GgufLayout l = new GgufLayout(b);
        ByteBuffer in = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        l.add("magic", 0, 4);
        l.add("version", 4, 4);
        l.add("n_tensors", 8, 8);
        l.add("n_kv", 16, 8);
        long nTensors = in.getLong(8), nKv = in.getLong(16);
        int p = 24;
        l.kvStart = p;
        for (long i = 0; i < nKv; i++) {
            int start = p;
            int klen = (int) in.getLong(p);
            String key = new String(b, p + 8, klen, StandardCharsets.UTF_8);
            String n = "kv[" + key + "]";
            l.add(n + ".keylen", p, 8);
            l.add(n + ".key", p + 8, klen);
            p += 8 + klen;
            int type = in.getInt(p);
            l.add(n + ".type", p, 4);
            p += 4;
            if (type == ARRAY) {
                int et = in.getInt(p);
                long count = in.getLong(p + 4);
                l.add(n + ".etype", p, 4);
                l.add(n + ".count", p + 4, 8);
                p += 12;
                long[] starts = new long[(int) count];
                int vs = p;
                for (int e = 0; e < count; e++) {
                    starts[e] = p;
                    p += et == STRING ? 8 + (int) in.getLong(p) : SIZE[et];
                }
                l.add(n + ".elems", vs, p - vs);
                l.kvs.put(key, new Kv(key, start, p, type, et, count, vs, starts));
            } else {
                int vs = p;
                if (type == STRING) {
                    int len = (int) in.getLong(p);
                    l.add(n + ".len", p, 8);
                    l.add(n + ".str", p + 8, len);
                    p += 8 + len;
                } else {
                    l.add(n + ".value", p, SIZE[type]);
                    p += SIZE[type];
                }
                l.kvs.put(key, new Kv(key, start, p, type, -1, 1, vs, new long[0]));
                if (key.equals("general.alignment")) l.alignment = in.getInt(vs);
            }
        }
        l.infoStart = p;
        List<Tensor> infos = new ArrayList<>();
        for (long i = 0; i < nTensors; i++) {
            int start = p;
            int nlen = (int) in.getLong(p);
            String name = new String(b, p + 8, nlen, StandardCharsets.UTF_8);
            String n = "t[" + name + "]";
            l.add(n + ".namelen", p, 8);
            l.add(n + ".name", p + 8, nlen);
            p += 8 + nlen;
            int nd = in.getInt(p);
            long ndimsAt = p;
            l.add(n + ".ndims", p, 4);
            p += 4;
            long[] ne = new long[nd];
            for (int d = 0; d < nd; d++) {
                ne[d] = in.getLong(p);
                l.add(n + ".ne" + d, p, 8);
                p += 8;
            }
            l.add(n + ".type", p, 4);
            int type = in.getInt(p);
            long typeAt = p;
            p += 4;
            l.add(n + ".offset", p, 8);
            infos.add(new Tensor(name, start, ndimsAt, ne, typeAt, type, p, in.getLong(p), 0));
            p += 8;
        }
        l.infoEnd = p;
        l.dataStart = (p + l.alignment - 1) / l.alignment * l.alignment;
        if (l.dataStart > p) l.add("pad", p, l.dataStart - p);
        for (Tensor t : infos) {
            Tensor d = new Tensor(t.name(), t.start(), t.ndimsAt(), t.ne(), t.typeAt(), t.type(), t.offsetAt(), t.offset(), l.dataStart + t.offset());
            l.tensors.put(t.name(), d);
        }
        List<Tensor> byData = new ArrayList<>(l.tensors.values());
        byData.sort((x, y) -> Long.compare(x.dataStart(), y.dataStart()));
        for (int i = 0; i < byData.size(); i++) {
            long end = i + 1 < byData.size() ? byData.get(i + 1).dataStart() : b.length;
            l.add("t[" + byData.get(i).name() + "].data", byData.get(i).dataStart(), end - byData.get(i).dataStart());
        }
        l.byName.put("data", new Field("data", l.dataStart, b.length - l.dataStart));
        l.byName.put("infos", new Field("infos", l.infoStart, l.infoEnd - l.infoStart));
        l.byName.put("eof", new Field("eof", b.length, 0));
        l.byName.put("kvstart", new Field("kvstart", l.kvStart, 0));
        l.byName.put("infoend", new Field("infoend", l.infoEnd, 0));
        l.fields.sort((x, y) -> Long.compare(x.start(), y.start()));
        return l;
    }

    private void add(String name, long start, long length) {
        Field f = new Field(name, start, length);
        fields.add(f);
        byName.put(name, f);
    }

    /** @return the file size */
    long size() {
        return bytes.length;
    }

    /**
     * Resolves an address: a number, or a field name with an optional {@code +n} / {@code -n}; inside an array,
     * {@code kv[K].e[i]} is element i (for strings its length prefix) and {@code kv[K].e[i].str} its bytes.
     */
    long resolve(String addr) {
        int cut = Math.max(addr.lastIndexOf('+'), addr.lastIndexOf('-'));
        if (cut > 0 && addr.lastIndexOf(']') > cut) cut = -1;
        String base = cut > 0 ? addr.substring(0, cut) : addr;
        long delta = cut > 0 ? Long.parseLong(addr.substring(cut + (addr.charAt(cut) == '+' ? 1 : 0))) : 0;
        if (!base.isEmpty() && Character.isDigit(base.charAt(0))) return Long.parseLong(base) + delta;
        Field f = byName.get(base);
        if (f != null) return f.start() + delta;
        int e = base.lastIndexOf(".e[");
        if (base.startsWith("kv[") && e > 0) {
            Kv kv = kvs.get(base.substring(3, e - 1));
            if (kv == null) throw new IllegalArgumentException("no metadata key in " + addr);
            int close = base.indexOf(']', e);
            long at = kv.elem(Integer.parseInt(base.substring(e + 3, close)));
            String rest = base.substring(close + 1);
            if (rest.equals(".str")) return at + 8 + delta;
            if (rest.isEmpty()) return at + delta;
        }
        throw new IllegalArgumentException("unknown address " + addr);
    }

    /** Names an offset by the field that holds it (the inverse of {@link #resolve}). */
    String name(long offset) {
        if (offset >= bytes.length) return offset == bytes.length ? "eof" : "eof+" + (offset - bytes.length);
        int lo = 0, hi = fields.size() - 1, best = -1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (fields.get(mid).start() <= offset) { best = mid; lo = mid + 1; } else hi = mid - 1;
        }
        if (best < 0) return Long.toString(offset);
        Field f = fields.get(best);
        if (f.length() == 0 && best > 0) f = fields.get(best - 1);
        if (f.name().endsWith(".elems")) {
            Kv kv = kvs.get(f.name().substring(3, f.name().length() - ".elems".length() - 1));
            int i = Arrays.binarySearch(kv.elemStarts(), offset);
            if (i < 0) i = -i - 2;
            long at = kv.elem(i);
            String n = "kv[" + kv.key() + "].e[" + i + "]";
            if (kv.etype() == STRING && offset >= at + 8) return suffix(n + ".str", offset - at - 8);
            return suffix(n, offset - at);
        }
        return suffix(f.name(), offset - f.start());
    }

    private static String suffix(String name, long delta) {
        return delta == 0 ? name : name + "+" + delta;
    }

    /** @return the bytes of array element i of a string array (without its length prefix) */
    byte[] stringElem(Kv kv, int i) {
        long at = kv.elem(i);
        int len = (int) ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getLong((int) at);
        return Arrays.copyOfRange(bytes, (int) at + 8, (int) at + 8 + len);
    }

    /** @return the uint32 value of a scalar metadata entry, or -1 */
    long u32(String key) {
        Kv kv = kvs.get(key);
        if (kv == null || kv.type() != U32) return -1;
        return ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).getInt((int) kv.valueStart()) & 0xffffffffL;
    }
}
