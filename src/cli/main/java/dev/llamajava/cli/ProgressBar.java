package dev.llamajava.cli;

import java.util.Locale;

import static dev.llamajava.cli.Main.err;

/** A one-line progress bar on a terminal (stderr); silent when piped. */
final class ProgressBar {
    private static final int WIDTH = 30;

    private final String label;
    private final boolean on = Main.terminal();
    private final long start = System.nanoTime();
    private int lastPct = -1;

    ProgressBar(String label) {
        this.label = label;
    }

    void update(double fraction, String extra) {
        if (!on) return;
        int pct = (int) Math.floor(fraction * 100);
        if (pct == lastPct && fraction < 1) return;
        lastPct = pct;
        int fill = (int) Math.round(fraction * WIDTH);
        err.print("\r" + label + " [" + "#".repeat(fill) + " ".repeat(WIDTH - fill) + "] " + pct + "% " + (extra == null ? "" : extra) + "   ");
        if (fraction >= 1) err.println();
    }

    void bytes(long done, long total) {
        double secs = (System.nanoTime() - start) / 1e9;
        double rate = secs > 0 ? done / secs : 0;
        String eta = rate > 0 && total > 0 ? String.format(Locale.ROOT, "ETA %ds", (long) ((total - done) / rate)) : "";
        update(total > 0 ? (double) done / total : 0, String.format(Locale.ROOT, "%.1f/%.1f MB %.1f MB/s %s", done / 1e6, total / 1e6, rate / 1e6, eta));
    }
}
