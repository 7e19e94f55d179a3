package example;

import dev.llamajava.Engine;
import dev.llamajava.EngineParams;
import dev.llamajava.LlamaModel;
import dev.llamajava.spring.LlamaChatModel;
import dev.llamajava.spring.LlamaChatOptions;
import org.springframework.ai.chat.client.AdvisorParams;
import org.springframework.ai.chat.client.ChatClient;

import java.nio.file.Path;

/** Spring AI's ChatClient over one model, without Spring Boot (with Boot: set llama.model and inject ChatModel). */
public class SpringAiExample {

    // README:spring-ai
    enum Mood { HAPPY, SAD, ANGRY, NEUTRAL }

    record Verdict(Mood mood, boolean sarcastic) { }

    public static void main(String[] args) {
        try (LlamaModel model = LlamaModel.load(Path.of(args[0]));
             Engine engine = Engine.create(model, EngineParams.builder().slots(4).build())) {
            ChatClient chat = ChatClient.create(new LlamaChatModel(engine));
            String text = chat.prompt().user("Name a city.").options(LlamaChatOptions.builder().maxTokens(32)).call().content();
            chat.prompt().user("Name a city.").stream().content().take(8).doOnNext(System.out::print).blockLast();
            Verdict v = chat.prompt().user("Oh great, another Monday.")
                    .options(LlamaChatOptions.builder().maxTokens(64))
                    .advisors(AdvisorParams.ENABLE_NATIVE_STRUCTURED_OUTPUT)            // the schema becomes a grammar
                    .call().entity(Verdict.class);
            System.out.println("\n" + text.length() + " chars; " + v);
        }
    }
    // README:end
}
