package dev.llamajava;

import dev.llamajava.internal.loader.Natives;
import dev.llamajava.ffi.llama_chat_message;
import dev.llamajava.ffi.llama_h;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Objects;

/** Chat prompt formatting with llama.cpp's built-in templates ({@code llama_chat_apply_template}). */
public final class ChatTemplates {

    private ChatTemplates() { }

    /**
     * Formats a conversation.
     *
     * @param template     the Jinja template text from a model's GGUF, or a built-in name such as {@code llama3}, {@code chatml}
     * @param messages     the conversation
     * @param addAssistant end with the assistant header so the model answers next
     * @return the prompt text
     * @throws UnsupportedChatTemplateException when llama.cpp does not recognise the template
     * @throws NativeLibraryException           when the native libraries cannot be loaded
     */
    public static String apply(String template, List<ChatMessage> messages, boolean addAssistant) {
        Objects.requireNonNull(template, "template");
        Objects.requireNonNull(messages, "messages");
        Natives.ensureLoaded();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arr = llama_chat_message.allocateArray(Math.max(1, messages.size()), a);
            long total = 0;
            for (int i = 0; i < messages.size(); i++) {
                MemorySegment m = llama_chat_message.asSlice(arr, i);
                llama_chat_message.role(m, a.allocateFrom(messages.get(i).role()));
                llama_chat_message.content(m, a.allocateFrom(messages.get(i).content()));
                total += messages.get(i).content().length() * 3L + 64;
            }
            MemorySegment tmpl = a.allocateFrom(template);
            int cap = (int) Math.min(Integer.MAX_VALUE - 8, total * 2 + 256);
            MemorySegment buf = a.allocate(cap);
            int n = llama_h.llama_chat_apply_template(tmpl, arr, messages.size(), addAssistant, buf, cap);
            if (n < 0) {
                String shown = template.length() > 60 ? template.substring(0, 60) + "..." : template;
                throw new UnsupportedChatTemplateException("llama_chat_apply_template does not support the chat template '"
                        + shown.replace("\n", "\\n") + "'; pass a built-in name such as llama3 or chatml");
            }
            if (n > cap) {
                buf = a.allocate(n);
                n = llama_h.llama_chat_apply_template(tmpl, arr, messages.size(), addAssistant, buf, n);
            }
            return new String(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE), StandardCharsets.UTF_8);
        }
    }
}
