/** llama-java's command line ({@code llama-java run|chat|serve|bench|info|quantize|pull|select|classify}) and its benchmark. */
module dev.llamajava.cli {
    requires dev.llamajava;
    requires dev.llamajava.server;
    requires info.picocli;
    requires com.fasterxml.jackson.databind;
    requires java.management;
    requires jdk.management;
    requires java.net.http;

    opens dev.llamajava.cli to info.picocli;
    opens dev.llamajava.bench to info.picocli;
}
