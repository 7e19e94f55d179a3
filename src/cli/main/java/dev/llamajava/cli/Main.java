package dev.llamajava.cli;

import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.IVersionProvider;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.NoSuchFileException;
import java.util.List;

/** The {@code llama-java} command line. */
@Command(name = "llama-java", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Run GGUF language models through llama.cpp from Java.",
        subcommands = {RunCommand.class, ChatCommand.class, BenchCommand.class, InfoCommand.class, QuantizeCommand.class,
                PullCommand.class, SelectCommand.class, ClassifyCommand.class, ServeCommand.class, RpcServerCommand.class})
public final class Main {

    static PrintStream out = utf8(FileDescriptor.out);
    static PrintStream err = utf8(FileDescriptor.err);

    @Option(names = "--verbose", description = "Print stack traces on errors.", scope = ScopeType.INHERIT)
    boolean verbose;

    /** The version line. */
    static final class Version implements IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[]{"llama-java " + (v == null ? "dev" : v) + ", llama.cpp de3ff81 (ggml 0.25.1)"};
        }
    }

    /**
     * @param args command-line arguments
     */
    public static void main(String[] args) {
        System.exit(execute(args));
    }

    /**
     * Runs a command line and returns its exit code (0 success, 1 failure, 2 bad arguments).
     *
     * @param args arguments
     * @return the exit code
     */
    public static int execute(String... args) {
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        cl.setExecutionExceptionHandler((ex, cmd, parse) -> {
            err.println("llama-java: error: " + message(ex));
            if (List.of(args).contains("--verbose")) ex.printStackTrace(err);
            return 1;
        });
        return cl.execute(args);
    }

    /** A UTF-8 print stream on a standard stream, whatever the platform's encoding. */
    static PrintStream utf8(FileDescriptor fd) {
        return new PrintStream(new FileOutputStream(fd), true, StandardCharsets.UTF_8);
    }

    static String message(Throwable ex) {
        if (ex instanceof NoSuchFileException n) return "no such file: " + n.getFile();
        if (ex instanceof UncheckedIOException u && u.getCause() instanceof NoSuchFileException n) return "no such file: " + n.getFile();
        String m = ex.getMessage();
        return (m == null ? ex.toString() : m).replace('\n', ' ');
    }

    static boolean terminal() {
        return System.console() != null;
    }
}
