using Liaoyuan.Engine.Gguf;

namespace Liaoyuan.Engine.Tokenization;

public abstract partial class Tokenizer
{
    // Token texts llama.cpp recognises by name because converters often leave them unlabelled.
    private static readonly string[] EotTexts =
        ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>"];
    private static readonly string[] EogTexts =
        ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~["];
    private static readonly string[] FimPreTexts = ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"];
    private static readonly string[] FimSufTexts = ["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"];
    private static readonly string[] FimMidTexts = ["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"];
    private static readonly string[] FimPadTexts = ["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
    private static readonly string[] FimRepTexts = ["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"];
    private static readonly string[] FimSepTexts = ["<|file_sep|>"];

    /// <summary>
    /// Fills in EOT/EOM/FIM ids the file does not give and the end-of-generation set, and marks the
    /// tokens found by name as control tokens, as llama.cpp's loader does. Where several tokens match,
    /// llama.cpp takes whichever its hash map yields first, which with libstdc++ is in practice the one
    /// added last; we take the highest id (e.g. &lt;|im_end|&gt; over &lt;|endoftext|&gt;, &lt;|eot_id|&gt; over
    /// &lt;|end_of_text|&gt;), which is what llama.cpp reports for Qwen and Llama 3 files.
    /// </summary>
    private static void FindEndOfGeneration(GgufFile file, VocabularyData v)
    {
        int Find(string[] texts)
        {
            for (int id = v.Tokens.Length - 1; id >= 0; id--)
            {
                if (Array.IndexOf(texts, v.Tokens[id]) >= 0) return id;
            }
            return -1;
        }
        void MakeControl(int id)
        {
            if (id < 0 || v.Types[id] == TokenType.Control) return;
            v.Warnings.Add($"{v.Source}: control-looking token {id} '{v.Tokens[id]}' was not control-type; treating it as control");
            v.Types[id] = TokenType.Control;
        }
        int Fim(string key, string[] texts)
        {
            int id = ReadId(file, key, -1, v.Tokens.Length);
            if (id < 0) { id = Find(texts); MakeControl(id); }
            return id;
        }

        if (v.Eot < 0) { v.Eot = Find(EotTexts); MakeControl(v.Eot); }
        if (v.Eom < 0) { v.Eom = Find(["<|eom_id|>"]); MakeControl(v.Eom); }
        int fimPre = ReadId(file, "tokenizer.ggml.prefix_token_id", -1, v.Tokens.Length);
        int fimSuf = ReadId(file, "tokenizer.ggml.suffix_token_id", -1, v.Tokens.Length);
        int fimMid = ReadId(file, "tokenizer.ggml.middle_token_id", -1, v.Tokens.Length);
        if (fimPre < 0) Fim("tokenizer.ggml.fim_pre_token_id", FimPreTexts);
        if (fimSuf < 0) Fim("tokenizer.ggml.fim_suf_token_id", FimSufTexts);
        if (fimMid < 0) Fim("tokenizer.ggml.fim_mid_token_id", FimMidTexts);
        var eog = v.EndOfGeneration;
        foreach (int id in new[]
                 {
                     Fim("tokenizer.ggml.fim_pad_token_id", FimPadTexts),
                     Fim("tokenizer.ggml.fim_rep_token_id", FimRepTexts),
                     Fim("tokenizer.ggml.fim_sep_token_id", FimSepTexts),
                 })
        {
            if (id >= 0) eog.Add(id);
        }

        for (int id = 0; id < v.Tokens.Length; id++)
        {
            string text = v.Tokens[id];
            if (Array.IndexOf(EogTexts, text) >= 0) { eog.Add(id); MakeControl(id); }
            // gpt-oss: these structure tokens must always be rendered, so llama.cpp makes them user-defined.
            if (text is "<|channel|>" or "<|message|>" or "<|start|>" or "<|constrain|>") v.Types[id] = TokenType.UserDefined;
        }
        foreach (int id in new[] { v.Eos, v.Eot, v.Eom })
        {
            if (id >= 0) eog.Add(id);
        }

        // gpt-oss and solar-open end a message, not the generation, with <|end|>.
        bool Has(string t) => eog.Any(id => v.Tokens[id] == t);
        if (((Has("<|return|>") && (Has("<|call|>") || Has("<|calls|>"))) || ((Has("<|call|>") || Has("<|calls|>")) && Has("<|flush|>")))
            && eog.FirstOrDefault(id => v.Tokens[id] == "<|end|>", -1) is int end and >= 0)
        {
            eog.Remove(end);
            v.Types[end] = TokenType.UserDefined;
        }
        // Gemma 4 and PaddleOCR: </s> is an ordinary token there.
        if (Has("<|tool_response>") && eog.FirstOrDefault(id => v.Tokens[id] == "</s>", -1) is int s and >= 0)
        {
            eog.Remove(s);
            v.Types[s] = TokenType.Normal;
        }
    }
}
