using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Engine.Templates;

/// <summary>Turns a conversation into prompt tokens through a chat template, the way llama.cpp's chat tools do.</summary>
public static class ChatPrompt
{
    public static ChatTemplateOptions OptionsFor(Tokenizer tokenizer) => new()
    {
        AddGenerationPrompt = true,
        BosToken = tokenizer.BosId >= 0 ? tokenizer.TokenText(tokenizer.BosId) : "",
        EosToken = tokenizer.EosId >= 0 ? tokenizer.TokenText(tokenizer.EosId) : "",
    };

    /// <summary>
    /// Renders and tokenizes with special tokens parsed. Templates such as Llama 3's write BOS themselves; BOS is
    /// prepended only when the model wants BOS and the rendered text does not already begin with it.
    /// </summary>
    public static int[] Tokenize(ChatTemplate template, Tokenizer tokenizer, IReadOnlyList<ChatMessage> messages,
        ChatTemplateOptions? options = null)
    {
        options ??= OptionsFor(tokenizer);
        string text = template.Render(messages, options);
        bool startsWithBos = options.BosToken.Length > 0 && text.StartsWith(options.BosToken, StringComparison.Ordinal);
        int[] body = tokenizer.Encode(text, addSpecial: false, parseSpecial: true);
        // Not Encode(addSpecial: true): that would also append EOS for models with add_eos_token.
        return tokenizer.AddBos && !startsWithBos && tokenizer.BosId >= 0 ? [tokenizer.BosId, .. body] : body;
    }
}
