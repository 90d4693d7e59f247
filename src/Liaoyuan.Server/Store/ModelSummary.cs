using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Quantization;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Server.Store;

/// <summary>What `liaoyuan show` tells about a GGUF: its architecture, size, quantization and chat support.</summary>
public sealed record ModelSummary
{
    public required string Architecture { get; init; }
    public string? DisplayName { get; init; }
    public required long Parameters { get; init; }
    /// <summary>general.file_type as llama.cpp names it (e.g. Q4_K_M), when the file records a known one.</summary>
    public string? FileType { get; init; }
    /// <summary>The tensor type holding most of the weight bytes.</summary>
    public required GgmlType WeightType { get; init; }
    public int? ContextLength { get; init; }
    public int? EmbeddingLength { get; init; }
    public int? Layers { get; init; }
    public int? VocabularySize { get; init; }
    public required bool HasChatTemplate { get; init; }
    public required long FileSize { get; init; }

    public static ModelSummary Read(string path)
    {
        using var file = GgufFile.Open(path);
        string arch = file.GetStringOrNull("general.architecture") ?? "unknown";
        long? fileType = file.GetIntegerOrNull("general.file_type");
        var weightType = file.Tensors.Count == 0
            ? GgmlType.F32
            : file.Tensors.GroupBy(t => t.Type).MaxBy(g => g.Sum(t => t.ByteSize))!.Key;
        return new ModelSummary
        {
            Architecture = arch,
            DisplayName = file.GetStringOrNull("general.name"),
            Parameters = file.Tensors.Sum(t => t.ElementCount),
            FileType = fileType is { } ft && Enum.IsDefined((LlamaFileType)ft) ? FileTypeName((LlamaFileType)ft) : null,
            WeightType = weightType,
            ContextLength = Int32OrNull(file, $"{arch}.context_length"),
            EmbeddingLength = Int32OrNull(file, $"{arch}.embedding_length"),
            Layers = Int32OrNull(file, $"{arch}.block_count"),
            VocabularySize = file.Metadata.TryGetValue("tokenizer.ggml.tokens", out var tokens) ? tokens.Count : null,
            HasChatTemplate = file.GetStringOrNull("tokenizer.chat_template") is { Length: > 0 },
            FileSize = file.FileSize,
        };
    }

    private static string FileTypeName(LlamaFileType type) =>
        type == LlamaFileType.AllF32 ? "F32" : type.ToString().Replace("Mostly", "", StringComparison.Ordinal);

    private static int? Int32OrNull(GgufFile file, string key) =>
        file.GetIntegerOrNull(key) is { } v && v is >= 0 and <= int.MaxValue ? (int)v : null;
}
