package dev.llamajava.server;

import dev.llamajava.Engine;

import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/** The server's counters and histograms, written in Prometheus' text exposition format (version 0.0.4). */
final class Metrics {

    private static final double[] LATENCY_BUCKETS = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

    /** A cumulative histogram with fixed bounds. */
    static final class Histogram {
        private final double[] bounds;
        private final LongAdder[] counts;
        private final LongAdder count = new LongAdder();
        private final AtomicLong sumNanos = new AtomicLong();

        Histogram(double[] bounds) {
            this.bounds = bounds;
            this.counts = new LongAdder[bounds.length];
            for (int i = 0; i < bounds.length; i++) counts[i] = new LongAdder();
        }

        void observeNanos(long nanos) {
            double s = nanos / 1e9;
            for (int i = 0; i < bounds.length; i++) if (s <= bounds[i]) counts[i].increment();
            count.increment();
            sumNanos.addAndGet(nanos);
        }

        void write(StringBuilder out, String name, String labels) {
            String sep = labels.isEmpty() ? "" : labels + ",";
            for (int i = 0; i < bounds.length; i++) {
                out.append(name).append("_bucket{").append(sep).append("le=\"").append(fmt(bounds[i])).append("\"} ").append(counts[i].sum()).append('\n');
            }
            out.append(name).append("_bucket{").append(sep).append("le=\"+Inf\"} ").append(count.sum()).append('\n');
            String l = labels.isEmpty() ? "" : "{" + labels + "}";
            out.append(name).append("_sum").append(l).append(' ').append(fmt(sumNanos.get() / 1e9)).append('\n');
            out.append(name).append("_count").append(l).append(' ').append(count.sum()).append('\n');
        }
    }

    private final Map<String, LongAdder> requests = new ConcurrentHashMap<>();
    private final Map<String, Histogram> durations = new ConcurrentHashMap<>();
    private final Histogram firstToken = new Histogram(LATENCY_BUCKETS);
    private final LongAdder disconnects = new LongAdder();

    void request(String endpoint, int status, long nanos) {
        requests.computeIfAbsent("endpoint=\"" + endpoint + "\",status=\"" + status + "\"", k -> new LongAdder()).increment();
        durations.computeIfAbsent("endpoint=\"" + endpoint + "\"", k -> new Histogram(LATENCY_BUCKETS)).observeNanos(nanos);
    }

    void firstToken(long nanos) {
        firstToken.observeNanos(nanos);
    }

    void disconnect() {
        disconnects.increment();
    }

    String render(Engine.Stats s) {
        StringBuilder out = new StringBuilder(4096);
        head(out, "llamajava_requests_total", "counter", "HTTP requests by endpoint and status");
        requests.forEach((labels, n) -> out.append("llamajava_requests_total{").append(labels).append("} ").append(n.sum()).append('\n'));
        head(out, "llamajava_request_duration_seconds", "histogram", "Time from request to the end of its response");
        durations.forEach((labels, h) -> h.write(out, "llamajava_request_duration_seconds", labels));
        head(out, "llamajava_time_to_first_token_seconds", "histogram", "Time from request to the first generated token");
        firstToken.write(out, "llamajava_time_to_first_token_seconds", "");
        gauge(out, "llamajava_slots", "Slots (parallel sequences) of the engine", s.slots());
        gauge(out, "llamajava_slots_busy", "Slots running a generation", s.activeSlots());
        gauge(out, "llamajava_queue_depth", "Requests waiting for a slot", s.queued());
        counter(out, "llamajava_engine_requests_total", "Generations started", s.requests());
        counter(out, "llamajava_rejected_requests_total", "Generations refused because every slot and queue place was taken", s.rejected());
        counter(out, "llamajava_prompt_tokens_total", "Prompt tokens of started generations", s.promptTokens());
        counter(out, "llamajava_prompt_tokens_reused_total", "Prompt tokens taken from a cached prefix", s.reusedTokens());
        counter(out, "llamajava_generated_tokens_total", "Tokens generated", s.generatedTokens());
        counter(out, "llamajava_graph_sampled_tokens_total", "Tokens picked inside llama.cpp's graph (backend sampling)", s.graphSampledTokens());
        counter(out, "llamajava_decode_steps_total", "llama_decode steps", s.steps());
        counter(out, "llamajava_decode_seconds_total", "Time inside llama_decode", s.decodeNanos() / 1e9);
        counter(out, "llamajava_client_disconnects_total", "Streams cancelled because the client went away", disconnects.sum());
        return out.toString();
    }

    private static void head(StringBuilder out, String name, String type, String help) {
        out.append("# HELP ").append(name).append(' ').append(help).append('\n');
        out.append("# TYPE ").append(name).append(' ').append(type).append('\n');
    }

    private static void gauge(StringBuilder out, String name, String help, double v) {
        head(out, name, "gauge", help);
        out.append(name).append(' ').append(fmt(v)).append('\n');
    }

    private static void counter(StringBuilder out, String name, String help, double v) {
        head(out, name, "counter", help);
        out.append(name).append(' ').append(fmt(v)).append('\n');
    }

    private static String fmt(double v) {
        if (v == Math.rint(v) && Math.abs(v) < 1e15) return Long.toString((long) v);
        return String.format(Locale.ROOT, "%.6g", v);
    }
}
