package dev.llamajava.langchain4j;

import dev.langchain4j.model.chat.StreamingChatModel;
import dev.langchain4j.model.chat.request.ChatRequest;
import dev.langchain4j.model.chat.response.PartialResponse;
import dev.langchain4j.model.chat.response.PartialResponseContext;
import dev.langchain4j.model.chat.response.StreamingChatResponseHandler;
import dev.langchain4j.model.chat.response.StreamingHandle;
import dev.llamajava.Engine;
import dev.llamajava.GenerationResult;
import dev.llamajava.Token;
import dev.llamajava.TokenStream;

import java.lang.System.Logger.Level;

/**
 * LangChain4j's {@link StreamingChatModel} over an {@link Engine}, with the mapping of {@link LlamaChatModel}. A call
 * returns at once (request errors reach the handler's {@code onError}); the text arrives on a virtual thread of its
 * own, one {@code onPartialResponse} per piece of text, then {@code onCompleteResponse} with the whole text, token usage
 * and finish reason. {@link StreamingHandle#cancel()} (from the partial response's context) stops the generation and
 * frees its slot; the handler then hears nothing more. An exception thrown by the handler cancels the generation and
 * is passed to {@code onError}.
 */
public final class LlamaStreamingChatModel extends LlamaModels implements StreamingChatModel {

    private static final System.Logger LOG = System.getLogger("dev.llamajava.langchain4j");

    LlamaStreamingChatModel(Requests requests) {
        super(requests);
    }

    /** @return a builder (its {@code buildStreaming()} makes this model) */
    public static LlamaChatModel.Builder builder() {
        return LlamaChatModel.builder();
    }

    @Override
    public void doChat(ChatRequest request, StreamingChatResponseHandler handler) {
        Requests.Started s;
        try {
            s = requests.start(request);
        } catch (RuntimeException e) {
            error(handler, e);
            return;
        }
        Thread.ofVirtual().name("llama-langchain4j-stream").start(() -> run(s, handler));
    }

    private void run(Requests.Started s, StreamingChatResponseHandler handler) {
        try (TokenStream stream = s.stream()) {
            Handle handle = new Handle(stream);
            PartialResponseContext context = new PartialResponseContext(handle);
            while (stream.hasNext()) {
                Token t = stream.next();
                if (handle.cancelled) return;
                if (!t.text().isEmpty()) handler.onPartialResponse(new PartialResponse(t.text()), context);
            }
            if (handle.cancelled) return;
            GenerationResult r = stream.result();
            handler.onCompleteResponse(requests.response(r, s.promptTokens()));
        } catch (Throwable e) { // a virtual thread's end: everything goes to the handler
            error(handler, e);
        }
    }

    private static void error(StreamingChatResponseHandler handler, Throwable e) {
        try {
            handler.onError(e);
        } catch (Throwable again) {
            LOG.log(Level.WARNING, "the streaming handler's onError threw", again);
        }
    }

    private static final class Handle implements StreamingHandle {
        private final TokenStream stream;
        private volatile boolean cancelled;

        Handle(TokenStream stream) {
            this.stream = stream;
        }

        @Override
        public void cancel() {
            cancelled = true;
            stream.cancel();
        }

        @Override
        public boolean isCancelled() {
            return cancelled;
        }
    }
}
