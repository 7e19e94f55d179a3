package dev.llamajava.internal;

import dev.llamajava.Token;

import java.util.ArrayDeque;
import java.util.List;

/**
 * Holds back text that may be the start of a stop string and cuts the text at a stop string, matching across token
 * boundaries; what was cut is never emitted.
 */
public final class StopFilter {
    private final List<String> stops;
    private final ArrayDeque<Token> held = new ArrayDeque<>();
    private final StringBuilder heldText = new StringBuilder();

    public StopFilter(List<String> stops) {
        this.stops = stops;
    }

    /** @return true when a stop string was found (tokens before it have been emitted) */
    public boolean offer(Token t, ArrayDeque<Token> out, StringBuilder all) {
        if (stops.isEmpty()) {
            out.add(t);
            all.append(t.text());
            return false;
        }
        held.add(t);
        heldText.append(t.text());
        int at = -1;
        for (String s : stops) {
            int i = heldText.indexOf(s);
            if (i >= 0 && (at < 0 || i < at)) at = i;
        }
        if (at >= 0) {
            emitUpTo(at, out, all, true);
            return true;
        }
        int hold = 0;
        for (String s : stops) {
            for (int k = Math.min(s.length() - 1, heldText.length()); k > hold; k--) {
                if (heldText.substring(heldText.length() - k).equals(s.substring(0, k))) {
                    hold = k;
                    break;
                }
            }
        }
        emitUpTo(heldText.length() - hold, out, all, false);
        return false;
    }

    /** Emits held tokens whose text ends at or before {@code limit}; with {@code cut}, the one spanning it is cut. */
    private void emitUpTo(int limit, ArrayDeque<Token> out, StringBuilder all, boolean cut) {
        int pos = 0;
        while (!held.isEmpty()) {
            Token t = held.peek();
            int end = pos + t.text().length();
            if (end <= limit) {
                out.add(held.poll());
                all.append(t.text());
                pos = end;
            } else {
                if (cut && limit > pos) {
                    String part = t.text().substring(0, limit - pos);
                    out.add(new Token(t.id(), part, t.logprob(), t.index(), t.topLogprobs()));
                    all.append(part);
                }
                break;
            }
        }
        heldText.delete(0, pos);
        if (cut) {
            held.clear();
            heldText.setLength(0);
        }
    }

    public void flush(ArrayDeque<Token> out, StringBuilder all) {
        while (!held.isEmpty()) {
            Token t = held.poll();
            out.add(t);
            all.append(t.text());
        }
        heldText.setLength(0);
    }
}
