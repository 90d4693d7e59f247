using Liaoyuan.Engine.Gguf;

namespace Liaoyuan.Engine.Tokenization;

/// <summary>A vocabulary produced by <see cref="BpeTrainer"/>, ready to be written as tokenizer.ggml.* metadata.</summary>
public sealed class TrainedVocabulary
{
    internal TrainedVocabulary(string model, string? pre, string[] tokens, float[] scores, TokenType[] types, string[]? merges)
    {
        Model = model; Pre = pre; Tokens = tokens; Scores = scores; Types = types; Merges = merges;
    }

    /// <summary>"gpt2" (byte-level BPE) or "llama" (SentencePiece).</summary>
    public string Model { get; }
    public string? Pre { get; }
    public IReadOnlyList<string> Tokens { get; }
    public IReadOnlyList<float> Scores { get; }
    public IReadOnlyList<TokenType> Types { get; }
    /// <summary>"left right" merge rules, best first (byte-level BPE only).</summary>
    public IReadOnlyList<string>? Merges { get; }
    public int BosId { get; init; } = -1;
    public int EosId { get; init; } = -1;
    public int UnknownId { get; init; } = -1;
    public int PaddingId { get; init; } = -1;
    public bool AddBos { get; init; }
    public bool AddEos { get; init; }
    public string? ChatTemplate { get; init; }

    public int IdOf(string token)
    {
        for (int i = 0; i < Tokens.Count; i++)
        {
            if (Tokens[i] == token) return i;
        }
        return -1;
    }

    /// <summary>Writes every tokenizer.ggml.* key llama.cpp reads for this kind of vocabulary.</summary>
    public void WriteTo(GgufWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.Set("tokenizer.ggml.model", Model);
        if (Pre is not null) writer.Set("tokenizer.ggml.pre", Pre);
        writer.Set("tokenizer.ggml.tokens", Tokens.ToArray());
        writer.Set("tokenizer.ggml.scores", Scores.ToArray());
        writer.Set("tokenizer.ggml.token_type", Types.Select(t => (int)t).ToArray());
        if (Merges is not null) writer.Set("tokenizer.ggml.merges", Merges.ToArray());
        if (BosId >= 0) writer.Set("tokenizer.ggml.bos_token_id", (uint)BosId);
        if (EosId >= 0) writer.Set("tokenizer.ggml.eos_token_id", (uint)EosId);
        if (UnknownId >= 0) writer.Set("tokenizer.ggml.unknown_token_id", (uint)UnknownId);
        if (PaddingId >= 0) writer.Set("tokenizer.ggml.padding_token_id", (uint)PaddingId);
        writer.Set("tokenizer.ggml.add_bos_token", AddBos);
        writer.Set("tokenizer.ggml.add_eos_token", AddEos);
        if (Model == "llama") writer.Set("tokenizer.ggml.add_space_prefix", true);
        if (ChatTemplate is not null) writer.Set("tokenizer.chat_template", ChatTemplate);
    }
}
