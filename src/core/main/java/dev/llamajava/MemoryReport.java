package dev.llamajava;

import dev.llamajava.internal.loader.Natives;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/** Reads llama.cpp's "&lt;buffer&gt; ... size = N MiB" log lines. */
final class MemoryReport {

    private MemoryReport() { }

    static Map<String, Long> buffers(List<Natives.Line> lines, String what) {
        Pattern p = Pattern.compile("(\\S+)\\s+" + Pattern.quote(what) + "\\s*=\\s*([0-9.]+) MiB");
        Map<String, Long> out = new LinkedHashMap<>();
        for (Natives.Line l : lines) {
            Matcher m = p.matcher(l.text());
            if (m.find()) out.merge(m.group(1), Math.round(Double.parseDouble(m.group(2)) * 1048576), Long::sum);
        }
        return Collections.unmodifiableMap(out);
    }
}
