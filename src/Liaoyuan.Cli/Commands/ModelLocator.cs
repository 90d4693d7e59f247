namespace Liaoyuan.Cli.Commands;

/// <summary>Finds the model a command should use when the user names none.</summary>
internal static class ModelLocator
{
    public const string DefaultModelFile = "liaoyuan-demo.gguf";

    public static string Resolve(string? given)
    {
        if (!string.IsNullOrEmpty(given))
        {
            if (!File.Exists(given)) throw new UserInputException($"{given}: no such model file");
            return given;
        }
        string? fromEnvironment = Environment.GetEnvironmentVariable("LIAOYUAN_MODEL");
        if (!string.IsNullOrEmpty(fromEnvironment)) return Resolve(fromEnvironment);
        foreach (string candidate in DefaultCandidates())
        {
            if (File.Exists(candidate)) return candidate;
        }
        throw new UserInputException(
            $"no model given and the embedded default model ({DefaultModelFile}) was not found; pass a GGUF path or set LIAOYUAN_MODEL");
    }

    private static IEnumerable<string> DefaultCandidates()
    {
        yield return Path.Combine(AppContext.BaseDirectory, "models", DefaultModelFile);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            yield return Path.Combine(dir.FullName, "models", DefaultModelFile);
    }
}
