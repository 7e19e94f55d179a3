package dev.llamajava;

import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Chat formatting and the KV-reusing session. */
class ChatTest {

    /** The Llama 3 prompt format as Meta documents it (model card "Prompt format"). */
    static final String META_LLAMA3 = "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n"
            + "You are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
            + "What is the capital of France?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
            + "Paris.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n"
            + "And of Italy?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n";

    static final List<ChatMessage> CONVERSATION = List.of(
            ChatMessage.system("You are a helpful assistant."),
            ChatMessage.user("What is the capital of France?"),
            ChatMessage.assistant("Paris."),
            ChatMessage.user("And of Italy?"));

    /** The prompt as the model sees it: llama.cpp's template text, tokenized with BOS by the real Llama 3 vocabulary. */
    static String asModelSeesIt(String prompt) {
        try (LlamaModel vocab = LlamaModel.load(TestSupport.llamaSource().resolve("models/ggml-vocab-llama-bpe.gguf"),
                ModelParams.builder().vocabOnly(true).build())) {
            int[] ids = vocab.tokenize(prompt, true, true);
            assertEquals(128000, ids[0], "BOS <|begin_of_text|>");
            assertTrue(Arrays.stream(ids).filter(t -> t == 128009).count() == 4, "four <|eot_id|> tokens");
            return vocab.detokenize(ids, false, true);
        }
    }

    @Test
    void llama3TemplateByNameMatchesMetasFormat() {
        String prompt = ChatTemplates.apply("llama3", CONVERSATION, true);
        // llama.cpp leaves BOS to the tokenizer (add_special), so the text starts right after <|begin_of_text|>
        assertEquals(META_LLAMA3.substring("<|begin_of_text|>".length()), prompt);
        assertEquals(META_LLAMA3, asModelSeesIt(prompt));
    }

    @Test
    void llama3JinjaTemplateTextIsRecognised() {
        // the Jinja text a Llama 3.x GGUF carries (tokenizer.chat_template) is detected as llama3
        String jinja = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' "
                + "+ message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
                + "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
                + "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}";
        assertEquals(META_LLAMA3, asModelSeesIt(ChatTemplates.apply(jinja, CONVERSATION, true)));
    }

    @Test
    void unsupportedTemplate() {
        UnsupportedChatTemplateException e = assertThrows(UnsupportedChatTemplateException.class,
                () -> ChatTemplates.apply("not-a-template", CONVERSATION, true));
        assertEquals("llama_chat_apply_template does not support the chat template 'not-a-template'; pass a built-in name such as llama3 or chatml",
                e.getMessage());
    }

    @Test
    void modelWithoutTemplate() {
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K());
             LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(128).build())) {
            UnsupportedChatTemplateException e = assertThrows(UnsupportedChatTemplateException.class, () -> new ChatSession(ctx, null, null));
            assertEquals("the model has no chat template (tokenizer.chat_template); pass one, e.g. \"llama3\"", e.getMessage());
        }
    }

    @Test
    void secondTurnDecodesOnlyTheNewTokens() {
        try (LlamaModel m = LlamaModel.load(TestSupport.stories260K());
             LlamaContext ctx = LlamaContext.create(m, ContextParams.builder().contextSize(512).build())) {
            ChatSession chat = new ChatSession(ctx, "chatml", "Tell stories.");
            GenerationParams gp = GenerationParams.builder().greedy().maxTokens(8).build();
            try (TokenStream t = chat.send("Once upon a time", gp)) {
                t.text();
            }
            int first = chat.lastPromptDecodedTokens();
            assertEquals(m.tokenize(ChatTemplates.apply("chatml", List.of(ChatMessage.system("Tell stories."),
                    ChatMessage.user("Once upon a time")), true), true, true).length, first);
            assertEquals(3, chat.messages().size());
            int cachedAfterFirst = ctx.cachedTokens();
            assertTrue(cachedAfterFirst >= first, "cache holds " + cachedAfterFirst);
            try (TokenStream t = chat.send("The end", gp)) {
                t.text();
            }
            int full = m.tokenize(ChatTemplates.apply("chatml", chat.messages().subList(0, 4), true), true, true).length;
            int second = chat.lastPromptDecodedTokens();
            // only what follows the cached first turn is decoded again
            assertTrue(second > 0 && second <= full - first, "second turn decoded " + second + " of " + full + " (first turn " + first + ")");
            assertEquals(5, chat.messages().size());
        }
    }
}
