package dev.llamajava.fuzz;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

/**
 * A mutation written as text, applied to a base file. Edits are separated by {@code ;}; addresses are
 * {@link GgufLayout} names (with {@code +n}) resolved against the unmodified base:
 * <ul>
 *   <li>{@code flip A BIT} flips one bit; {@code u8|u16|u32|u64 A V} and {@code f32 A V} write a little-endian
 *       value (decimal, {@code -1}, or {@code 0x...}); {@code hex A BYTES} writes bytes;</li>
 *   <li>{@code del A N} removes N bytes; {@code ins A BYTES} and {@code zins A N} insert bytes before A
 *       (structural edits are applied after the overwrites, in base coordinates);</li>
 *   <li>{@code trunc A} cuts the file at A (last).</li>
 * </ul>
 */
final class Recipe {

    private Recipe() { }

    private record Splice(long at, long remove, byte[] insert) { }

    static byte[] apply(byte[] base, GgufLayout layout, String recipe) {
        byte[] out = base.clone();
        ByteBuffer bb = ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN);
        List<Splice> splices = new ArrayList<>();
        long trunc = -1;
        for (String edit : recipe.split(";")) {
            String[] w = edit.trim().split("\\s+");
            if (w.length == 1 && w[0].isEmpty()) continue;
            long at = layout.resolve(w[1]);
            switch (w[0]) {
                case "flip" -> out[(int) at] ^= (byte) (1 << Integer.parseInt(w[2]));
                case "u8" -> out[(int) at] = (byte) number(w[2]);
                case "u16" -> bb.putShort((int) at, (short) number(w[2]));
                case "u32" -> bb.putInt((int) at, (int) number(w[2]));
                case "u64" -> bb.putLong((int) at, number(w[2]));
                case "f32" -> bb.putFloat((int) at, Float.parseFloat(w[2]));
                case "hex" -> {
                    byte[] b = HexFormat.of().parseHex(w[2]);
                    System.arraycopy(b, 0, out, (int) at, Math.min(b.length, out.length - (int) at));
                }
                case "del" -> splices.add(new Splice(at, number(w[2]), new byte[0]));
                case "ins" -> splices.add(new Splice(at, 0, HexFormat.of().parseHex(w[2])));
                case "zins" -> splices.add(new Splice(at, 0, new byte[(int) number(w[2])]));
                case "trunc" -> trunc = at;
                default -> throw new IllegalArgumentException("unknown edit '" + edit.trim() + "'");
            }
        }
        if (!splices.isEmpty()) {
            splices.sort((x, y) -> x.at() != y.at() ? Long.compare(x.at(), y.at()) : Long.compare(x.remove(), y.remove()));
            ByteArrayOutputStream o = new ByteArrayOutputStream(out.length + 256);
            long pos = 0, mappedTrunc = trunc;
            for (Splice s : splices) {
                if (s.at() > pos) o.write(out, (int) pos, (int) (s.at() - pos));
                pos = Math.max(pos, s.at());
                o.write(s.insert(), 0, s.insert().length);
                if (trunc >= 0 && s.at() < trunc) mappedTrunc += s.insert().length - Math.min(s.remove(), Math.max(0, trunc - s.at()));
                pos += s.remove();
            }
            if (pos < out.length) o.write(out, (int) pos, (int) (out.length - pos));
            out = o.toByteArray();
            trunc = mappedTrunc;
        }
        if (trunc >= 0 && trunc < out.length) out = Arrays.copyOf(out, (int) trunc);
        return out;
    }

    static long number(String s) {
        if (s.startsWith("0x")) return Long.parseUnsignedLong(s.substring(2), 16);
        return s.startsWith("-") ? Long.parseLong(s) : Long.parseUnsignedLong(s);
    }

    /** Little-endian encodings for building inserted metadata entries. */
    static final class Bytes {
        private final ByteBuffer b = ByteBuffer.allocate(1 << 16).order(ByteOrder.LITTLE_ENDIAN);

        Bytes str(String s) {
            byte[] u = s.getBytes(StandardCharsets.UTF_8);
            b.putLong(u.length).put(u);
            return this;
        }

        Bytes u32(long v) { b.putInt((int) v); return this; }

        Bytes u64(long v) { b.putLong(v); return this; }

        Bytes f32(float v) { b.putFloat(v); return this; }

        Bytes u8(int v) { b.put((byte) v); return this; }

        int length() { return b.position(); }

        String hex() { return HexFormat.of().formatHex(b.array(), 0, b.position()); }
    }
}
