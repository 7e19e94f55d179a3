/**
 * llama-java's OpenAI-compatible HTTP server: {@link dev.llamajava.server.OpenAiServer} over an
 * {@link dev.llamajava.Engine}, on Helidon SE 4's web server (virtual threads).
 */
module dev.llamajava.server {
    requires dev.llamajava;
    requires io.helidon.webserver;
    requires io.helidon.http;
    requires com.fasterxml.jackson.databind;

    exports dev.llamajava.server;
}
