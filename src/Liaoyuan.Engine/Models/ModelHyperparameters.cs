using Liaoyuan.Engine.Gguf;

namespace Liaoyuan.Engine.Models;

/// <summary>The shape of a decoder-only transformer, read from the `{arch}.*` GGUF keys as llama.cpp reads them.</summary>
public sealed record ModelHyperparameters
{
    public required string Architecture { get; init; }
    public required int EmbeddingLength { get; init; }
    public required int BlockCount { get; init; }
    public required int FeedForwardLength { get; init; }
    public required int HeadCount { get; init; }
    public required int KvHeadCount { get; init; }
    public required int KeyLength { get; init; }
    public required int ValueLength { get; init; }
    public required int ContextLength { get; init; }
    public required float RmsEpsilon { get; init; }
    public required int RotaryDims { get; init; }
    public required float RopeFreqBase { get; init; }
    public required float RopeFreqScale { get; init; }
    public required int VocabSize { get; init; }

    public static ModelHyperparameters Read(GgufFile file, int vocabSize)
    {
        string arch = file.GetString("general.architecture");
        int embedding = Positive(file, $"{arch}.embedding_length");
        int heads = Positive(file, $"{arch}.attention.head_count");
        int kvHeads = file.Has($"{arch}.attention.head_count_kv") ? Positive(file, $"{arch}.attention.head_count_kv") : heads;
        if (heads % kvHeads != 0)
            throw new GgufFormatException($"{file.Path}: metadata '{arch}.attention.head_count' = {heads} is not a multiple of head_count_kv = {kvHeads}");
        int keyLength = file.GetInt32($"{arch}.attention.key_length", embedding / heads);
        int valueLength = file.GetInt32($"{arch}.attention.value_length", embedding / heads);
        if (keyLength <= 0 || valueLength <= 0 || keyLength > 4096 || valueLength > 4096)
            throw new GgufFormatException($"{file.Path}: attention key/value length {keyLength}/{valueLength} is out of range");
        int rotary = file.GetInt32($"{arch}.rope.dimension_count", keyLength);
        if (rotary <= 0 || rotary > keyLength || rotary % 2 != 0)
            throw new GgufFormatException($"{file.Path}: metadata '{arch}.rope.dimension_count' = {rotary} must be even and at most the head size {keyLength}");
        float freqScale = 1.0f;
        string scaling = file.GetStringOrNull($"{arch}.rope.scaling.type") ?? "none";
        float factor = file.GetFloat($"{arch}.rope.scaling.factor", 0.0f);
        if (scaling == "linear" && factor > 0) freqScale = 1.0f / factor;
        // llama.cpp also honours rope.scale_linear from older converters.
        float scaleLinear = file.GetFloat($"{arch}.rope.scale_linear", 0.0f);
        if (scaleLinear > 0) freqScale = 1.0f / scaleLinear;
        if (scaling is not ("none" or "linear" or "llama3"))
            throw new GgufFormatException($"{file.Path}: metadata '{arch}.rope.scaling.type' = '{scaling}' is not supported (none, linear, llama3)");

        return new ModelHyperparameters
        {
            Architecture = arch,
            EmbeddingLength = embedding,
            BlockCount = Positive(file, $"{arch}.block_count"),
            FeedForwardLength = Positive(file, $"{arch}.feed_forward_length"),
            HeadCount = heads,
            KvHeadCount = kvHeads,
            KeyLength = keyLength,
            ValueLength = valueLength,
            ContextLength = Positive(file, $"{arch}.context_length"),
            RmsEpsilon = file.GetFloat($"{arch}.attention.layer_norm_rms_epsilon", 1e-5f),
            RotaryDims = rotary,
            RopeFreqBase = file.GetFloat($"{arch}.rope.freq_base", 10000.0f),
            RopeFreqScale = freqScale,
            VocabSize = vocabSize,
        };
    }

    private static int Positive(GgufFile file, string key)
    {
        int value = file.GetInt32(key);
        if (value <= 0 || value > 1 << 24) throw new GgufFormatException($"{file.Path}: metadata '{key}' = {value} is out of range");
        return value;
    }
}
