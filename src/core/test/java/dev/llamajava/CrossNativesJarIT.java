package dev.llamajava;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * After {@code mvn package}: the cross-built natives jars have the x86-64 jar's layout (resources under
 * {@code /dev/llamajava/native/<platform>/}, a {@code natives.sha256} manifest whose every line matches its file,
 * build.properties), the loader's file names for that platform, and machine code for it (the ELF {@code e_machine}
 * or PE {@code Machine} field), with an automatic module name.
 */
class CrossNativesJarIT {

    @ParameterizedTest
    @CsvSource({"linux-aarch64, libllama.so, 183", "windows-x86_64, llama.dll, 34404"})
    void crossNativesJarHasTheLayoutAndTheMachine(String platform, String llama, int machine) throws Exception {
        Path jar = Path.of(System.getProperty("llama.natives.dir"), System.getProperty("llama.natives.prefix") + platform + ".jar");
        if (!Files.isRegularFile(jar)) {
            String why = jar + " is missing: run ci/build-native --target " + platform + ", then mvn package";
            if (System.getenv("CI") != null) throw new AssertionError(why + " (ci/test does both)");
            Assumptions.abort("skipped: " + why);
        }
        String dir = "dev/llamajava/native/" + platform + "/";
        try (JarFile j = new JarFile(jar.toFile())) {
            assertTrue(j.getManifest().getMainAttributes().getValue("Automatic-Module-Name").startsWith("dev.llamajava.natives."));
            JarEntry m = j.getJarEntry(dir + "natives.sha256");
            assertNotNull(m, "no manifest in " + jar);
            Map<String, String> sums = new LinkedHashMap<>();
            try (InputStream in = j.getInputStream(m)) {
                for (String line : new String(in.readAllBytes(), StandardCharsets.UTF_8).split("\n")) {
                    String[] p = line.strip().split("\\s+\\*?", 2);
                    sums.put(p[1], p[0]);
                }
            }
            List<String> core = platform.startsWith("windows")
                    ? List.of("ggml-base.dll", "ggml.dll", "llama.dll", "llamajava.dll", "ggml-rpc.dll")
                    : List.of("libggml-base.so", "libggml.so", "libllama.so", "libllamajava.so", "libggml-rpc.so");
            for (String c : core) assertTrue(sums.containsKey(c), c + " is not in the manifest: " + sums.keySet());
            assertTrue(sums.keySet().stream().anyMatch(f -> f.contains("ggml-cpu-")), "no CPU variant: " + sums.keySet());
            assertTrue(sums.containsKey("build.properties"));
            for (var e : sums.entrySet()) {
                JarEntry f = j.getJarEntry(dir + e.getKey());
                assertNotNull(f, e.getKey() + " is in the manifest but not in the jar");
                byte[] bytes;
                try (InputStream in = j.getInputStream(f)) {
                    bytes = in.readAllBytes();
                }
                assertEquals(e.getValue(), HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)), e.getKey());
                if (e.getKey().equals(llama)) assertEquals(machine, machine(bytes), llama + "'s machine");
            }
        }
    }

    /** ELF e_machine (183: AArch64) or PE Machine (0x8664: x86-64). */
    static int machine(byte[] b) {
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        if (b[0] == 0x7f && b[1] == 'E' && b[2] == 'L' && b[3] == 'F') return bb.getShort(18) & 0xffff;
        if (b[0] == 'M' && b[1] == 'Z') return bb.getShort(bb.getInt(0x3c) + 4) & 0xffff;
        return -1;
    }
}
