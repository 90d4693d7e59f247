using System.Text.RegularExpressions;

namespace Liaoyuan.Server.Store;

/// <summary>Picks the GGUF file a pull should fetch from a repository's file list.</summary>
public static partial class GgufChoice
{
    /// <summary>What a pull without a quant takes, in order of preference; after these, the first GGUF.</summary>
    public static readonly string[] DefaultQuants = ["Q4_K_M", "Q8_0"];

    /// <summary>
    /// The quant a file name carries, upper-cased ("model.Q4_K_M.gguf" → "Q4_K_M", "x-iq2_xxs.gguf" → "IQ2_XXS",
    /// "x-f16.gguf" → "F16"); without one, the file name itself, which is then what the user names it by.
    /// </summary>
    public static string QuantOf(HubFile file)
    {
        string stem = Path.GetFileNameWithoutExtension(file.FileName);
        stem = SplitSuffix().Replace(stem, "");
        var matches = QuantToken().Matches(stem);
        return matches.Count > 0 ? matches[^1].Value.ToUpperInvariant() : stem;
    }

    /// <summary>The model GGUFs in a file list: vision projectors (mmproj) are not models on their own.</summary>
    public static List<HubFile> Candidates(IEnumerable<HubFile> files) =>
        files.Where(f => f.Path.EndsWith(".gguf", StringComparison.OrdinalIgnoreCase)
                         && !f.FileName.StartsWith("mmproj", StringComparison.OrdinalIgnoreCase))
            .OrderBy(f => f.Path, StringComparer.Ordinal)
            .ToList();

    /// <summary>The file for <paramref name="name"/>'s quant (case-insensitive), or the default one when it names none.</summary>
    public static HubFile Choose(ModelName name, IReadOnlyList<HubFile> files)
    {
        var candidates = Candidates(files);
        if (candidates.Count == 0) throw new ModelStoreException($"{name.Repo} has no GGUF files");
        HubFile? chosen;
        if (name.Quant is { } wanted)
        {
            chosen = candidates.FirstOrDefault(f => string.Equals(QuantOf(f), wanted, StringComparison.OrdinalIgnoreCase));
            if (chosen is null)
                throw new ModelStoreException($"{name.Repo} has no {wanted} GGUF; available: {string.Join(", ", candidates.Select(QuantOf).Distinct())}");
        }
        else
        {
            chosen = DefaultQuants.Select(q => candidates.FirstOrDefault(f => QuantOf(f) == q)).FirstOrDefault(f => f is not null)
                     ?? candidates[0];
        }
        if (SplitSuffix().IsMatch(Path.GetFileNameWithoutExtension(chosen.FileName)))
            throw new ModelStoreException($"{name.Repo}:{QuantOf(chosen)} is split into several files ({chosen.FileName}); split GGUFs are not supported yet, choose another quant");
        return chosen;
    }

    // llama.cpp's gguf-split names the parts "NAME-00001-of-00003.gguf".
    [GeneratedRegex("-[0-9]{5}-of-[0-9]{5}$")]
    private static partial Regex SplitSuffix();

    // Quant tokens as llama.cpp's quantizer names them: Q4_0, Q4_K_M, IQ2_XXS, Q4_0_4_4, F16, BF16, F32 …,
    // standing alone between separators.
    [GeneratedRegex("(?<![A-Za-z0-9])(?:I?Q[0-9](?:_[A-Za-z0-9]+)*|BF16|F16|F32|FP16|FP32)(?![A-Za-z0-9])", RegexOptions.IgnoreCase)]
    private static partial Regex QuantToken();
}
