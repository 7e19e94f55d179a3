package dev.llamajava.bench;

import java.lang.management.ManagementFactory;

/**
 * Waits for this JVM to go quiet before a measured side of a benchmark. After the harness ran (a llama-bench process
 * read and parsed, a line printed, a new path taken) the JIT compiles in the background; on a machine with as many
 * cores as llama.cpp's threads, a compiler thread then takes a core from a decode, whose other threads spin at the
 * next barrier: on stories260K's 3.5 ms prompts single runs fell to half speed beside a compilation, and such runs were
 * what held the prompt ratio near 0.94. Nothing of the library is skipped: a service past its warm-up compiles nothing.
 */
final class Settle {

    /** The window over which the process's CPU time is watched. */
    private static final long WINDOW_NANOS = 100_000_000L;
    /** CPU time in one window (all threads of the JVM, this sleeping one included) that counts as quiet: 5% of a core. */
    private static final long QUIET_CPU_NANOS = WINDOW_NANOS / 20;
    /** The longest wait: a JVM that never goes quiet is measured anyway. */
    private static final long MAX_WAIT_NANOS = 3_000_000_000L;

    private Settle() {
    }

    /** Sleeps until the process used less than 5% of a core over 100 ms, or 3 s have passed. */
    static void settle() {
        if (!(ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os)
                || os.getProcessCpuTime() < 0) {
            return;
        }
        long start = System.nanoTime();
        while (System.nanoTime() - start < MAX_WAIT_NANOS) {
            long cpu = os.getProcessCpuTime();
            try {
                Thread.sleep(WINDOW_NANOS / 1_000_000L);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
            if (os.getProcessCpuTime() - cpu < QUIET_CPU_NANOS) break;
        }
    }
}
