using Liaoyuan.Server.Store;

namespace Liaoyuan.Cli.Commands;

/// <summary>Finds the model a command should use: a GGUF path, a model-store name, or the demo model when none is named.</summary>
internal static class ModelLocator
{
    public const string DefaultModelFile = "liaoyuan-demo.gguf";

    /// <summary>The instruction-tuned demo model, the default of `chat` (raw completion stays with the base).</summary>
    public const string ChatModelFile = "liaoyuan-demo-chat.gguf";

    public static string Resolve(string? given, string? storeRoot = null, string[]? defaultFiles = null) =>
        ResolveNamed(given, storeRoot, defaultFiles).Path;

    /// <summary>
    /// The model to load: <paramref name="given"/> as an existing file path, then as a store name
    /// (hf.co/ORG/REPO[:QUANT]); else LIAOYUAN_MODEL; else the first of <paramref name="defaultFiles"/> (default: the
    /// demo model) found in a models/ folder beside or above the program. <c>StoreName</c> is the installed model's
    /// full name when the store supplied the file.
    /// </summary>
    public static (string Path, string? StoreName) ResolveNamed(string? given, string? storeRoot = null, string[]? defaultFiles = null)
    {
        defaultFiles = defaultFiles is { Length: > 0 } ? defaultFiles : [DefaultModelFile];
        if (!string.IsNullOrEmpty(given))
        {
            if (File.Exists(given)) return (given, null);
            if (!ModelName.LooksLikeStoreName(given)) throw new UserInputException($"{given}: no such model file");
            using var store = new ModelStore(ModelStore.ResolveRoot(storeRoot));
            var model = store.Find(given)
                ?? throw new UserInputException($"{given}: not a file and not in the model store ({store.Root}); get it with `liaoyuan pull {given}`");
            return (model.Path, model.Name);
        }
        string? fromEnvironment = Environment.GetEnvironmentVariable("LIAOYUAN_MODEL");
        if (!string.IsNullOrEmpty(fromEnvironment)) return ResolveNamed(fromEnvironment, storeRoot);
        foreach (string file in defaultFiles)
        {
            foreach (string candidate in DefaultCandidates(file))
            {
                if (File.Exists(candidate)) return (candidate, null);
            }
        }
        throw new UserInputException(
            $"no model given and the embedded default model ({string.Join(" or ", defaultFiles)}) was not found; pass a GGUF path or a store name, or set LIAOYUAN_MODEL");
    }

    private static IEnumerable<string> DefaultCandidates(string file)
    {
        yield return Path.Combine(AppContext.BaseDirectory, "models", file);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            yield return Path.Combine(dir.FullName, "models", file);
    }
}
