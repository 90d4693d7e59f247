using System.Text.RegularExpressions;

namespace Liaoyuan.Server.Store;

/// <summary>The hubs models can be pulled from.</summary>
public enum ModelHub
{
    HuggingFace,
    ModelScope,
}

/// <summary>
/// A store name as users type it, Ollama style: <c>hf.co/ORG/REPO[:QUANT]</c> or <c>modelscope.cn/ORG/REPO[:QUANT]</c>.
/// Every part becomes a folder name in the store, so parsing is strict: no empty parts, no dot segments, no
/// separators other than '/', nothing that could leave the store folder.
/// </summary>
public sealed partial record ModelName(ModelHub Hub, string Organization, string Repository, string? Quant)
{
    public const string HuggingFaceHost = "hf.co";
    public const string ModelScopeHost = "modelscope.cn";

    public string Host => Hub == ModelHub.HuggingFace ? HuggingFaceHost : ModelScopeHost;

    /// <summary>ORG/REPO, the id both hubs use in their URLs.</summary>
    public string RepoId => $"{Organization}/{Repository}";

    /// <summary>host/ORG/REPO without the quant.</summary>
    public string Repo => $"{Host}/{RepoId}";

    public override string ToString() => Quant is null ? Repo : $"{Repo}:{Quant}";

    public ModelName WithQuant(string quant) => this with { Quant = quant };

    /// <summary>True when <paramref name="text"/> is meant as a store name (starts with a known hub host).</summary>
    public static bool LooksLikeStoreName(string text)
    {
        int slash = text.IndexOf('/');
        return slash > 0 && HubOf(text[..slash]) is not null;
    }

    public static ModelName Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw Bad(text, "the name is empty");
        if (text.Contains('\\')) throw Bad(text, "backslashes are not allowed");
        if (text.Contains("://", StringComparison.Ordinal)) throw Bad(text, "give the name without a URL scheme, e.g. hf.co/ORG/REPO:Q4_K_M");
        if (text.StartsWith('/') || Path.IsPathRooted(text)) throw Bad(text, "a store name is not a path");

        string? quant = null;
        int colon = text.LastIndexOf(':');
        string path = text;
        if (colon >= 0)
        {
            if (colon < text.LastIndexOf('/')) throw Bad(text, "':' may only separate the quant at the end");
            quant = text[(colon + 1)..];
            path = text[..colon];
            if (!QuantPattern().IsMatch(quant) || quant.Contains("..", StringComparison.Ordinal)) throw Bad(text, $"'{quant}' is not a quant name (letters, digits, '_', '-', '.')");
        }

        string[] parts = path.Split('/');
        if (parts.Length != 3) throw Bad(text, "expected HOST/ORG/REPO[:QUANT] with HOST hf.co or modelscope.cn");
        var hub = HubOf(parts[0]) ?? throw Bad(text, $"unknown hub '{parts[0]}' (use hf.co or modelscope.cn)");
        foreach (string part in parts.AsSpan(1))
        {
            if (part.Length == 0) throw Bad(text, "empty path part");
            if (part is "." or ".." || part.Contains("..", StringComparison.Ordinal)) throw Bad(text, $"'{part}' is not allowed in a name");
            if (!PartPattern().IsMatch(part)) throw Bad(text, $"'{part}' is not a valid organization or repository name (letters, digits, '_', '-', '.')");
        }
        return new ModelName(hub, parts[1], parts[2], quant);
    }

    private static ModelHub? HubOf(string host) => host.ToLowerInvariant() switch
    {
        "hf.co" or "huggingface.co" => ModelHub.HuggingFace,
        "modelscope.cn" or "www.modelscope.cn" => ModelHub.ModelScope,
        _ => null,
    };

    private static ModelStoreException Bad(string text, string why) => new($"'{text}' is not a valid model name: {why}");

    // Both hubs allow letters, digits, '-', '_' and '.' in organization and repository names; the first character
    // may not be '.' or '-', which also rules out "." and "..".
    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9._-]{0,95}$")]
    private static partial Regex PartPattern();

    [GeneratedRegex("^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$")]
    private static partial Regex QuantPattern();
}
