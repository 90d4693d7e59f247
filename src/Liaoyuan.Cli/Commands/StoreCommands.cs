using System.CommandLine;
using System.Globalization;
using Liaoyuan.Server.Store;

namespace Liaoyuan.Cli.Commands;

/// <summary>The --store option every command that reads the model store takes.</summary>
internal static class StoreOption
{
    public static Option<string?> Create() => new("--store")
    {
        Description = "Model store folder (default: $LIAOYUAN_STORE, else the models folder of $LIAOYUAN_DATA or ~/.liaoyuan)",
    };
}

/// <summary>`liaoyuan pull|list|rm|show`: the Ollama-style model store over Hugging Face and ModelScope.</summary>
internal static class StoreCommands
{
    public static Command Pull(Terminal terminal)
    {
        var name = new Argument<string>("name") { Description = "hf.co/ORG/REPO[:QUANT] or modelscope.cn/ORG/REPO[:QUANT]; without QUANT, Q4_K_M, else Q8_0, else the first GGUF" };
        var store = StoreOption.Create();
        var command = new Command("pull", "Download a GGUF model from Hugging Face or ModelScope into the model store (resumable, SHA-256 verified)") { name, store };
        command.SetAction(async (parse, cancel) =>
        {
            using var models = Open(parse.GetValue(store));
            string text = parse.GetValue(name)!;
            PullResult result;
            if (PullProgressView.Interactive(terminal))
            {
                result = await PullProgressView.RunWithBarAsync(progress => models.PullAsync(text, progress, cancel));
            }
            else
            {
                result = await models.PullAsync(text, new PullProgressLines(terminal.Error), cancel);
            }
            var model = result.Model;
            terminal.Out.WriteLine(result.AlreadyInstalled
                ? $"{model.Name} is up to date ({Size(model.Size)})"
                : $"pulled {model.Name} ({Size(model.Size)}, sha256 {model.Sha256})");
            return 0;
        });
        return command;
    }

    public static Command List(Terminal terminal)
    {
        var store = StoreOption.Create();
        var command = new Command("list", "List the models in the model store") { store };
        command.Aliases.Add("ls");
        command.SetAction(parse =>
        {
            using var models = Open(parse.GetValue(store));
            var all = models.List();
            if (all.Count == 0)
            {
                terminal.Out.WriteLine($"no models in {models.Root}; get one with `liaoyuan pull hf.co/ORG/REPO`");
                return 0;
            }
            var rows = all.Select(m => new[] { m.Name, Size(m.Size), m.Quant, m.PulledAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture) }).ToList();
            string[] header = ["NAME", "SIZE", "QUANT", "PULLED"];
            int[] widths = Enumerable.Range(0, header.Length).Select(i => rows.Append(header).Max(r => r[i].Length)).ToArray();
            foreach (var row in rows.Prepend(header))
                terminal.Out.WriteLine(string.Join("  ", row.Select((cell, i) => cell.PadRight(widths[i]))).TrimEnd());
            return 0;
        });
        return command;
    }

    public static Command Remove(Terminal terminal)
    {
        var name = new Argument<string>("name") { Description = "An installed model's name, as `liaoyuan list` shows it" };
        var store = StoreOption.Create();
        var command = new Command("rm", "Remove a model from the model store") { name, store };
        command.SetAction(parse =>
        {
            using var models = Open(parse.GetValue(store));
            var removed = models.Remove(parse.GetValue(name)!);
            terminal.Out.WriteLine($"removed {removed.Name} ({Size(removed.Size)})");
            return 0;
        });
        return command;
    }

    public static Command Show(Terminal terminal)
    {
        var name = new Argument<string>("model") { Description = "A store name or a GGUF file" };
        var store = StoreOption.Create();
        var command = new Command("show", "Show a model's architecture, parameters, quantization, context and chat template") { name, store };
        command.SetAction(parse =>
        {
            string given = parse.GetValue(name)!;
            StoredModel? stored = null;
            if (!File.Exists(given))
            {
                if (!ModelName.LooksLikeStoreName(given)) throw new UserInputException($"{given}: no such model file");
                using var models = Open(parse.GetValue(store));
                stored = models.Find(given) ?? throw new UserInputException($"{given}: not in the model store ({models.Root})");
            }
            string path = stored?.Path ?? given;
            var summary = ModelSummary.Read(path);
            var o = terminal.Out;
            if (stored is not null)
            {
                o.WriteLine($"name:          {stored.Name}");
                o.WriteLine($"source:        {stored.Source}");
                o.WriteLine($"sha256:        {stored.Sha256}");
                o.WriteLine($"pulled:        {stored.PulledAt.ToLocalTime().ToString("yyyy-MM-dd HH:mm:ss zzz", CultureInfo.InvariantCulture)}");
            }
            o.WriteLine($"file:          {path} ({Size(summary.FileSize)})");
            o.WriteLine($"architecture:  {summary.Architecture}{(summary.DisplayName is { } display ? $" ({display})" : "")}");
            o.WriteLine($"parameters:    {Parameters(summary.Parameters)}");
            o.WriteLine($"quantization:  {summary.FileType ?? stored?.Quant ?? "unknown"} (weights mostly {summary.WeightType})");
            o.WriteLine($"context:       {summary.ContextLength?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}");
            o.WriteLine($"embedding:     {summary.EmbeddingLength?.ToString(CultureInfo.InvariantCulture) ?? "unknown"}, {summary.Layers?.ToString(CultureInfo.InvariantCulture) ?? "?"} layers");
            o.WriteLine($"vocabulary:    {summary.VocabularySize?.ToString(CultureInfo.InvariantCulture) ?? "none"}");
            o.WriteLine($"chat template: {(summary.HasChatTemplate ? "yes" : "no (chat uses ChatML)")}");
            return 0;
        });
        return command;
    }

    private static ModelStore Open(string? store) => new(ModelStore.ResolveRoot(store));

    internal static string Size(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("F1", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("F1", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("F1", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " B",
    };

    private static string Parameters(long count) => count switch
    {
        >= 1_000_000_000 => (count / 1e9).ToString("F2", CultureInfo.InvariantCulture) + " B",
        >= 1_000_000 => (count / 1e6).ToString("F2", CultureInfo.InvariantCulture) + " M",
        _ => count.ToString("N0", CultureInfo.InvariantCulture),
    };
}
