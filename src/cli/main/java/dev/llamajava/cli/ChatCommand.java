package dev.llamajava.cli;

import dev.llamajava.ChatSession;
import dev.llamajava.GenerationParams;
import dev.llamajava.LlamaContext;
import dev.llamajava.LlamaModel;
import dev.llamajava.TokenStream;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;

import static dev.llamajava.cli.Main.err;
import static dev.llamajava.cli.Main.out;

/** {@code llama-java chat}: a conversation on stdin, with the model's chat template. */
@Command(name = "chat", description = "Interactive chat with the model's template (/reset, /save FILE, /load FILE, /quit).", mixinStandardHelpOptions = true)
final class ChatCommand implements Callable<Integer> {
    @Mixin
    ModelOption model = new ModelOption();
    @Option(names = "--system", description = "System prompt.")
    String system;
    @Option(names = "--template", description = "Chat template name or text (default: the model's).")
    String template;
    @Option(names = {"-n", "--max-tokens"}, defaultValue = "512", description = "Most tokens per answer (default: ${DEFAULT-VALUE}).")
    int maxTokens;
    @Mixin
    SamplingOptions sampling = new SamplingOptions();
    @Mixin
    ContextOptions ctx = new ContextOptions();

    @Override
    public Integer call() throws Exception {
        Path path = model.resolve();
        boolean tty = Main.terminal();
        try (LlamaModel m = LlamaModel.load(path, ctx.modelParams()); LlamaContext c = LlamaContext.create(m, ctx.params())) {
            ChatSession chat = new ChatSession(c, template, system);
            GenerationParams gp = GenerationParams.builder().maxTokens(maxTokens).sampler(sampling.params()).build();
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
            for (;;) {
                if (tty) {
                    out.print("> ");
                    out.flush();
                }
                String line = in.readLine();
                if (line == null || line.equals("/quit") || line.equals("/exit")) break;
                if (line.isBlank()) continue;
                if (!command(chat, line)) answer(chat, line, gp);
            }
        }
        return 0;
    }

    /** Runs a {@code /reset}, {@code /save FILE} or {@code /load FILE} line; false when the line is not one. */
    private static boolean command(ChatSession chat, String line) {
        if (line.equals("/reset")) {
            chat.reset();
            err.println("[conversation reset]");
        } else if (line.startsWith("/save ")) {
            chat.save(Path.of(line.substring(6).trim()));
            err.println("[saved " + chat.messages().size() + " messages]");
        } else if (line.startsWith("/load ")) {
            chat.load(Path.of(line.substring(6).trim()));
            err.println("[loaded " + chat.messages().size() + " messages]");
        } else {
            return false;
        }
        return true;
    }

    private static void answer(ChatSession chat, String line, GenerationParams gp) {
        try (TokenStream ts = chat.send(line, gp)) {
            ts.forEachRemaining(t -> {
                out.print(t.text());
                out.flush();
            });
        }
        out.println();
    }
}
