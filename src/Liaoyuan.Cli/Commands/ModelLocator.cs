namespace Liaoyuan.Cli.Commands;

/// <summary>Finds the model a command should use when the user names none.</summary>
internal static class ModelLocator
{
    public const string DefaultModelFile = "liaoyuan-demo.gguf";

    /// <summary>The instruction-tuned demo model, the default of `chat` (raw completion stays with the base).</summary>
    public const string ChatModelFile = "liaoyuan-demo-chat.gguf";

    /// <summary>
    /// The model to load: <paramref name="given"/>, else LIAOYUAN_MODEL, else the first of
    /// <paramref name="defaultFiles"/> (default: the demo model) found in a models/ folder beside or above the program.
    /// </summary>
    public static string Resolve(string? given, params string[] defaultFiles)
    {
        if (defaultFiles.Length == 0) defaultFiles = [DefaultModelFile];
        if (!string.IsNullOrEmpty(given))
        {
            if (!File.Exists(given)) throw new UserInputException($"{given}: no such model file");
            return given;
        }
        string? fromEnvironment = Environment.GetEnvironmentVariable("LIAOYUAN_MODEL");
        if (!string.IsNullOrEmpty(fromEnvironment)) return Resolve(fromEnvironment);
        foreach (string file in defaultFiles)
        {
            foreach (string candidate in DefaultCandidates(file))
            {
                if (File.Exists(candidate)) return candidate;
            }
        }
        throw new UserInputException(
            $"no model given and the embedded default model ({string.Join(" or ", defaultFiles)}) was not found; pass a GGUF path or set LIAOYUAN_MODEL");
    }

    private static IEnumerable<string> DefaultCandidates(string file)
    {
        yield return Path.Combine(AppContext.BaseDirectory, "models", file);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            yield return Path.Combine(dir.FullName, "models", file);
    }
}
