using System.Text.Json;
using System.Text.Json.Serialization;

namespace Liaoyuan.Server.Store;

/// <summary>
/// An installed model as its manifest records it. The manifest is written last, after the GGUF is in place, so
/// a model with a manifest is complete; <see cref="Path"/> is where its GGUF lies (not stored, derived from the store).
/// </summary>
public sealed record StoredModel
{
    public required string Name { get; init; }
    public required string Quant { get; init; }
    public required string File { get; init; }
    public required long Size { get; init; }
    public required string Sha256 { get; init; }
    public required string Source { get; init; }
    public required DateTimeOffset PulledAt { get; init; }

    [JsonIgnore]
    public string Path { get; init; } = "";

    internal static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        WriteIndented = true,
    };
}

/// <summary>What a download that is under way fetches, kept next to the .partial file so a resume can tell the
/// bytes on disk belong to the same file on the hub.</summary>
internal sealed record PartialDownload(string Source, long? Size, string? Sha256);
