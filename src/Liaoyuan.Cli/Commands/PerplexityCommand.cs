using System.CommandLine;
using System.Globalization;
using Liaoyuan.Engine.Evaluation;

namespace Liaoyuan.Cli.Commands;

/// <summary>`liaoyuan perplexity MODEL --file F --ctx N`, computed as llama-perplexity computes it.</summary>
internal static class PerplexityCommand
{
    public static Command Create(Terminal terminal)
    {
        var models = new ModelOptions();
        var file = new Option<string>("--file", "-f") { Description = "UTF-8 text to score", Required = true };
        var chunks = new Option<int>("--chunks") { Description = "Score at most this many chunks (default: all)", DefaultValueFactory = _ => -1 };
        var command = new Command("perplexity", "Perplexity over a text file, in chunks of --ctx tokens (second half of each scored)");
        models.AddTo(command);
        command.Options.Add(file);
        command.Options.Add(chunks);
        command.SetAction((parse, cancel) =>
        {
            string text = TextFiles.ReadUtf8(parse.GetValue(file)!);
            int ctx = parse.GetValue(models.Context);
            if (ctx <= 0) ctx = 512;
            using var model = models.Load(parse);
            var session = models.Session(parse, model, ctx);
            var result = Perplexity.Compute(session, model.Tokenizer, text, ctx, parse.GetValue(chunks),
                (done, total, running) => terminal.Error.WriteLine($"[{done}/{total}] {running.ToString("F4", CultureInfo.InvariantCulture)}"),
                cancel);
            terminal.Out.WriteLine($"chunks: {result.Chunks}, tokens scored: {result.TokensScored}");
            terminal.Out.WriteLine($"perplexity: {result.Value.ToString("F4", CultureInfo.InvariantCulture)}");
            return Task.FromResult(0);
        });
        return command;
    }
}
