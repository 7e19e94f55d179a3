package dev.llamajava.internal.loader;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The os.name / os.arch values the JDKs report on each platform, mapped to the natives jar's classifier and names. */
class PlatformTest {

    @Test
    void osAndArchValuesMapToTheClassifier() {
        assertEquals("linux-x86_64", Platform.of("Linux", "amd64").id());
        assertEquals("linux-x86_64", Platform.of("Linux", "x86_64").id());
        assertEquals("linux-aarch64", Platform.of("Linux", "aarch64").id());
        assertEquals("linux-aarch64", Platform.of("Linux", "arm64").id());
        assertEquals("windows-x86_64", Platform.of("Windows 11", "amd64").id());
        assertEquals("windows-x86_64", Platform.of("Windows Server 2022", "x86_64").id());
        assertEquals("macos-aarch64", Platform.of("Mac OS X", "aarch64").id());
        assertEquals("linux-riscv64", Platform.of("Linux", "riscv64").id());
        assertTrue(Platform.of("Linux", "aarch64").supported());
        assertTrue(Platform.of("Windows 10", "amd64").supported());
        assertFalse(Platform.of("Mac OS X", "aarch64").supported());
        assertFalse(Platform.of("Linux", "riscv64").supported());
    }

    @Test
    void libraryNamesPerPlatform() {
        Platform linux = Platform.of("Linux", "aarch64");
        assertEquals(List.of("libggml-base.so", "libggml.so", "libllama.so", "libllamajava.so"), linux.coreLibraries());
        assertEquals("libggml-cpu*.so", linux.cpuBackendGlob());
        assertEquals("armv8.2_2", linux.cpuVariant("libggml-cpu-armv8.2_2.so"));
        assertEquals("native", linux.cpuVariant("libggml-cpu.so"));
        Platform win = Platform.of("Windows 11", "amd64");
        // dependencies first: Windows has no RPATH and finds a DLL's dependencies among the modules already loaded
        assertEquals(List.of("ggml-base.dll", "ggml.dll", "llama.dll", "llamajava.dll"), win.coreLibraries());
        assertEquals("ggml-cpu*.dll", win.cpuBackendGlob());
        assertEquals("haswell", win.cpuVariant("ggml-cpu-haswell.dll"));
        assertEquals("ggml-cuda.dll", win.cudaBackend());
        assertNull(win.cpuVariant("libggml-cpu-haswell.so"));
        assertEquals("libllama.dylib", Platform.of("Mac OS X", "aarch64").file("llama"));
    }
}
