package dev.llamajava;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The chat session's KV reuse, proven against a reference: after every turn (plain, after a stop string trimmed the
 * answer, after the oldest turns were dropped, after load) the greedy answer equals, token for token, the answer of a
 * fresh context that decodes the whole conversation from scratch.
 */
class ChatSessionTest {

    static final String TEMPLATE = "chatml";
    static final ContextParams CTX = ContextParams.builder().contextSize(256).build();

    /** The reference: a fresh context, the whole conversation's prompt, the same generation settings. */
    static String fresh(LlamaModel m, List<ChatMessage> conversation, GenerationParams gp) {
        try (LlamaContext c = LlamaContext.create(m, CTX);
             TokenStream ts = c.generate(ChatTemplates.apply(TEMPLATE, conversation, true), gp)) {
            return ts.text();
        }
    }

    static String turn(LlamaModel m, ChatSession chat, String user, GenerationParams gp) {
        String answer;
        try (TokenStream ts = chat.send(user, gp)) {
            answer = ts.text();
        }
        List<ChatMessage> before = chat.messages().subList(0, chat.messages().size() - 1);
        assertEquals(fresh(m, before, gp), answer, "turn '" + user + "' with " + before.size() + " messages before the answer");
        assertEquals(answer, chat.messages().getLast().content());
        return answer;
    }

    @Test
    void everyTurnEqualsAFreshContext() throws Exception {
        GenerationParams plain = GenerationParams.builder().greedy().maxTokens(40).build();
        GenerationParams stopped = GenerationParams.builder().greedy().maxTokens(40).stop(".", " was").build();
        String[] users = {"Once upon a time", "The little dog", "Lily and Tom went to the park", "One day", "The sun", "A big tree",
                "Then", "The end"};
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K())) {
            Path state = TestSupport.workDir("chat").resolve("session.state");
            int maxMessages = 0;
            boolean dropped = false;
            boolean trimmed = false;
            try (LlamaContext ctx = LlamaContext.create(m, CTX)) {
                ChatSession chat = new ChatSession(ctx, TEMPLATE, "Tell stories.");
                for (int i = 0; i < users.length; i++) {
                    GenerationParams gp = i % 2 == 0 ? plain : stopped;
                    String answer = turn(m, chat, users[i], gp);
                    if (gp == stopped && answer.length() < 60) trimmed = true;
                    int size = chat.messages().size();
                    if (size < maxMessages + 2) dropped = true;
                    maxMessages = Math.max(maxMessages, size);
                }
                chat.save(state);
            }
            assertTrue(dropped, "the conversation never outgrew the context: no turn was dropped");
            assertTrue(trimmed, "no answer was trimmed by a stop string");
            try (LlamaContext ctx = LlamaContext.create(m, CTX)) {
                ChatSession chat = new ChatSession(ctx, TEMPLATE, null);
                chat.load(state);
                turn(m, chat, "And then?", plain);
                assertTrue(chat.lastPromptDecodedTokens() < m.tokenize(chat.prompt(false), true, true).length,
                        "after load the cached conversation is reused");
            }
        }
    }

    @Test
    void aFailedSendLeavesTheConversationAsItWas() {
        GenerationParams gp = GenerationParams.builder().greedy().maxTokens(16).build();
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K());
             LlamaContext ctx = LlamaContext.create(m, CTX)) {
            ChatSession chat = new ChatSession(ctx, TEMPLATE, "Tell stories.");
            turn(m, chat, "Once upon a time", gp);
            List<ChatMessage> before = new ArrayList<>(chat.messages());
            assertThrows(ContextOverflowException.class, () -> chat.send("word ".repeat(400), gp));
            assertEquals(before, chat.messages());
            TokenStream busy = ctx.generate("x", gp); // the context is in use: send fails, nothing changes
            assertThrows(IllegalStateException.class, () -> chat.send("The little dog", gp));
            assertEquals(before, chat.messages());
            busy.close();
            turn(m, chat, "The little dog", gp); // and the next turn still equals a fresh context
        }
    }

    @Test
    void saveAndLoadRoundTripAnyText() throws Exception {
        String odd = "back\\slash \\n not a newline\r\nCRLF\ttab \u00e9 \uD83D\uDE00 emoji \\\\ end\n";
        GenerationParams gp = GenerationParams.builder().greedy().maxTokens(2).build();
        Path state = TestSupport.workDir("chat").resolve("odd.state");
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K())) {
            List<ChatMessage> saved;
            try (LlamaContext ctx = LlamaContext.create(m, CTX)) {
                ChatSession chat = new ChatSession(ctx, TEMPLATE, "sys\\tem\r\n");
                try (TokenStream ts = chat.send(odd, gp)) {
                    ts.text();
                }
                saved = chat.messages();
                chat.save(state);
            }
            try (LlamaContext ctx = LlamaContext.create(m, CTX)) {
                ChatSession chat = new ChatSession(ctx, TEMPLATE, null);
                chat.load(state);
                assertEquals(saved, chat.messages());
                assertEquals(odd, chat.messages().get(1).content());
            }
        }
    }
}
