package dev.llamajava.server;

import java.time.Duration;
import java.util.Objects;

/**
 * How an {@link OpenAiServer} listens and what it accepts. Immutable.
 *
 * @param host            the address to bind (default {@code 127.0.0.1}: loopback only)
 * @param port            the port ({@code 0}: a free one, see {@link OpenAiServer#port()})
 * @param modelName       the model id served by {@code /v1/models} and accepted in requests' {@code model}
 * @param apiKey          when set, {@code /v1/*} and {@code /metrics} need {@code Authorization: Bearer <apiKey>}
 * @param maxBodyBytes    the largest request body; larger ones get 413
 * @param idleTimeout     a connection that has not sent its request line within this is closed (Helidon's
 *                        idle-connection timeout), and so is one whose request body has not arrived within it
 *                        (default 1 minute); a running generation is never cut by it
 * @param maxTokens       the default {@code max_tokens} when a request gives none
 * @param maxChoices      the largest {@code n}
 * @param embeddings      serve {@code /v1/embeddings} (a second, embedding context over the same model)
 */
public record ServerParams(String host, int port, String modelName, String apiKey, long maxBodyBytes, Duration idleTimeout,
                           int maxTokens, int maxChoices, boolean embeddings) {

    /** Validates; messages name the field. */
    public ServerParams {
        Objects.requireNonNull(host, "host");
        if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in [0, 65535], was " + port);
        Objects.requireNonNull(modelName, "modelName");
        if (modelName.isBlank()) throw new IllegalArgumentException("modelName must not be blank");
        if (apiKey != null && apiKey.isBlank()) throw new IllegalArgumentException("apiKey must not be blank (null: none)");
        if (maxBodyBytes < 1024) throw new IllegalArgumentException("maxBodyBytes must be >= 1024, was " + maxBodyBytes);
        Objects.requireNonNull(idleTimeout, "idleTimeout");
        if (idleTimeout.isNegative() || idleTimeout.isZero()) throw new IllegalArgumentException("idleTimeout must be positive, was " + idleTimeout);
        if (maxTokens < 1) throw new IllegalArgumentException("maxTokens must be >= 1, was " + maxTokens);
        if (maxChoices < 1) throw new IllegalArgumentException("maxChoices must be >= 1, was " + maxChoices);
    }

    /** @return a builder with the defaults */
    public static Builder builder() {
        return new Builder();
    }

    /** Builder for {@link ServerParams}. */
    public static final class Builder {
        private String host = "127.0.0.1";
        private int port = 8080;
        private String modelName = "llama-java";
        private String apiKey;
        private long maxBodyBytes = 4L << 20;
        private Duration idleTimeout = Duration.ofMinutes(1);
        private int maxTokens = 512;
        private int maxChoices = 8;
        private boolean embeddings = true;

        private Builder() { }

        /** @param v bind address @return this */
        public Builder host(String v) { host = v; return this; }
        /** @param v port, 0 for a free one @return this */
        public Builder port(int v) { port = v; return this; }
        /** @param v served model id @return this */
        public Builder modelName(String v) { modelName = v; return this; }
        /** @param v API key, null for none @return this */
        public Builder apiKey(String v) { apiKey = v; return this; }
        /** @param v largest request body in bytes @return this */
        public Builder maxBodyBytes(long v) { maxBodyBytes = v; return this; }
        /** @param v idle timeout per connection @return this */
        public Builder idleTimeout(Duration v) { idleTimeout = v; return this; }
        /** @param v default max_tokens @return this */
        public Builder maxTokens(int v) { maxTokens = v; return this; }
        /** @param v largest n @return this */
        public Builder maxChoices(int v) { maxChoices = v; return this; }
        /** @param v serve /v1/embeddings @return this */
        public Builder embeddings(boolean v) { embeddings = v; return this; }

        /**
         * @return the parameters
         * @throws IllegalArgumentException when a value is out of range (the message names the field)
         */
        public ServerParams build() {
            return new ServerParams(host, port, modelName, apiKey, maxBodyBytes, idleTimeout, maxTokens, maxChoices, embeddings);
        }
    }
}
