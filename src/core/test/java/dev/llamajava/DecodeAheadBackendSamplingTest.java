package dev.llamajava;

import dev.llamajava.internal.Settings;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** {@link BackendSamplingTest}'s cases and references with every stream decoding its token ahead (see {@link DecodeAheadTest}). */
class DecodeAheadBackendSamplingTest extends BackendSamplingTest {

    @BeforeAll
    static void ahead() {
        System.setProperty(Settings.DECODE_AHEAD.property(), "on");
    }

    @AfterAll
    static void lazy() {
        System.clearProperty(Settings.DECODE_AHEAD.property());
    }
}
