package example;

import dev.langchain4j.model.chat.ChatModel;
import dev.langchain4j.model.embedding.EmbeddingModel;
import dev.langchain4j.service.AiServices;
import dev.llamajava.Engine;
import dev.llamajava.EngineParams;
import dev.llamajava.LlamaModel;
import dev.llamajava.TextEmbedder;
import dev.llamajava.langchain4j.LlamaChatModel;
import dev.llamajava.langchain4j.LlamaEmbeddingModel;

import java.nio.file.Path;

/** LangChain4j over one model: an AI service that returns a record, and an embedding model. */
public class LangChain4jExample {

    // README:langchain4j
    enum Team { BILLING, SHIPPING, TECHNICAL, ACCOUNT }

    record Ticket(Team team, boolean urgent) { }

    interface Router {
        @dev.langchain4j.service.SystemMessage("Route the customer's support ticket to a team.")
        Ticket route(String ticket);
    }

    public static void main(String[] args) {
        try (LlamaModel model = LlamaModel.load(Path.of(args[0]));
             Engine engine = Engine.create(model, EngineParams.builder().slots(4).build());
             TextEmbedder embedder = TextEmbedder.create(model)) {
            ChatModel chat = LlamaChatModel.builder().engine(engine).build();   // thread-safe: 4 requests at once
            Router router = AiServices.create(Router.class, chat);             // the record's schema becomes a grammar
            Ticket t = router.route("My card was charged twice for one order.");
            EmbeddingModel embeddings = new LlamaEmbeddingModel(embedder);
            System.out.println(t + " " + embeddings.embed("a sentence").content().dimension());
        }
    }
    // README:end
}
