using System.CommandLine;
using Liaoyuan.Engine.Generation;

namespace Liaoyuan.Cli.Commands;

/// <summary>`liaoyuan run [MODEL] --prompt P`: streams the completion of a raw prompt.</summary>
internal static class RunCommand
{
    public static Command Create(Terminal terminal)
    {
        var models = new ModelOptions();
        var sampling = new SamplingFlags();
        var prompt = new Option<string>("--prompt", "-p") { Description = "The prompt text", Required = true };
        var command = new Command("run", "Complete a raw prompt, streaming the output");
        models.AddTo(command);
        command.Options.Add(prompt);
        sampling.AddTo(command);
        command.SetAction((parse, cancel) =>
        {
            var options = sampling.Read(parse);
            using var model = models.Load(parse);
            var session = models.Session(parse, model);
            var tokens = model.Tokenizer.Encode(parse.GetValue(prompt) ?? "", addSpecial: true, parseSpecial: true);
            if (tokens.Length == 0) throw new UserInputException("the prompt is empty");
            var generator = new Generator(session, model.Tokenizer);
            foreach (var piece in generator.Stream(tokens, options, cancel))
            {
                terminal.Out.Write(piece.Text);
                terminal.Out.Flush();
            }
            terminal.Out.WriteLine();
            if (generator.LastFinishReason == FinishReason.ContextFull)
                terminal.Error.WriteLine($"note: stopped at the end of the context ({session.ContextLength} tokens)");
            return Task.FromResult(0);
        });
        return command;
    }
}
