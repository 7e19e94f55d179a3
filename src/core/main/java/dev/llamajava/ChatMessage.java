package dev.llamajava;

import java.util.Objects;

/**
 * One chat message.
 *
 * @param role    {@code system}, {@code user} or {@code assistant}
 * @param content the text
 */
public record ChatMessage(String role, String content) {
    /** Checks for nulls. */
    public ChatMessage {
        Objects.requireNonNull(role, "role");
        Objects.requireNonNull(content, "content");
    }

    /** @param content text @return a system message */
    public static ChatMessage system(String content) { return new ChatMessage("system", content); }

    /** @param content text @return a user message */
    public static ChatMessage user(String content) { return new ChatMessage("user", content); }

    /** @param content text @return an assistant message */
    public static ChatMessage assistant(String content) { return new ChatMessage("assistant", content); }
}
