using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Engine.Quantization;

/// <summary>
/// llama.cpp's <c>llama_ftype</c> numbers, which quantized files record in <c>general.file_type</c>; only the
/// ones this quantizer can write are listed.
/// </summary>
public enum LlamaFileType : uint
{
    AllF32 = 0,
    MostlyF16 = 1,
    MostlyQ4_0 = 2,
    MostlyQ4_1 = 3,
    MostlyQ8_0 = 7,
    MostlyQ5_0 = 8,
    MostlyQ5_1 = 9,
    MostlyQ4_K_S = 14,
    MostlyQ4_K_M = 15,
    MostlyQ5_K_S = 16,
    MostlyQ5_K_M = 17,
    MostlyQ6_K = 18,
    MostlyBF16 = 32,
}

/// <summary>
/// A quantization the user can ask for by name (the names llama-quantize accepts), the file type it records and
/// the tensor type most weights get before the per-tensor mixture rules adjust some of them.
/// </summary>
public sealed record QuantizationTarget(string Name, LlamaFileType FileType, GgmlType DefaultType)
{
    public static IReadOnlyList<QuantizationTarget> All { get; } =
    [
        new("Q4_0", LlamaFileType.MostlyQ4_0, GgmlType.Q4_0),
        new("Q4_1", LlamaFileType.MostlyQ4_1, GgmlType.Q4_1),
        new("Q5_0", LlamaFileType.MostlyQ5_0, GgmlType.Q5_0),
        new("Q5_1", LlamaFileType.MostlyQ5_1, GgmlType.Q5_1),
        new("Q8_0", LlamaFileType.MostlyQ8_0, GgmlType.Q8_0),
        new("Q4_K_S", LlamaFileType.MostlyQ4_K_S, GgmlType.Q4_K),
        new("Q4_K_M", LlamaFileType.MostlyQ4_K_M, GgmlType.Q4_K),
        new("Q5_K_S", LlamaFileType.MostlyQ5_K_S, GgmlType.Q5_K),
        new("Q5_K_M", LlamaFileType.MostlyQ5_K_M, GgmlType.Q5_K),
        new("Q6_K", LlamaFileType.MostlyQ6_K, GgmlType.Q6_K),
        new("F16", LlamaFileType.MostlyF16, GgmlType.F16),
        new("BF16", LlamaFileType.MostlyBF16, GgmlType.BF16),
        new("F32", LlamaFileType.AllF32, GgmlType.F32),
    ];

    /// <summary>The target called <paramref name="name"/> (case-insensitive; "Q4_K" and "Q5_K" mean their _M mixes, as in llama-quantize), or null.</summary>
    public static QuantizationTarget? Find(string name)
    {
        string key = name.Trim().ToUpperInvariant() switch
        {
            "Q4_K" => "Q4_K_M",
            "Q5_K" => "Q5_K_M",
            var other => other,
        };
        return All.FirstOrDefault(t => t.Name == key);
    }

    public static string ValidNames => string.Join(", ", All.Select(t => t.Name));

    /// <summary>Whether the default type is a block quantization (then the mixture rules and fallbacks apply).</summary>
    public bool IsQuantized => DefaultType is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16);
}
