/** llama-java's command line ({@code llama-java run|chat|bench|info|quantize|pull|select}) and its benchmark. */
module dev.llamajava.cli {
    requires dev.llamajava;
    requires info.picocli;
    requires com.fasterxml.jackson.databind;
    requires java.management;

    opens dev.llamajava.cli to info.picocli;
    opens dev.llamajava.bench to info.picocli;
}
