using System.CommandLine;
using Liaoyuan.Cli.Commands;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Models;

namespace Liaoyuan.Cli;

/// <summary>Where a command reads and writes; tests substitute their own writers to run the CLI in-process.</summary>
public sealed record Terminal(TextReader In, TextWriter Out, TextWriter Error)
{
    public static Terminal System => new(Console.In, Console.Out, Console.Error);
}

/// <summary>A problem with the user's input that the CLI reports as one line with exit code 2.</summary>
public sealed class UserInputException(string message) : Exception(message);

/// <summary>The `liaoyuan` command tree; callable in-process so tests drive exactly what users run.</summary>
public static class LiaoyuanCommand
{
    public const int UsageError = 2;

    public static int Run(string[] args) => Run(args, Terminal.System);

    public static int Run(string[] args, Terminal terminal)
    {
        var root = new RootCommand("Liaoyuan (燎原): a self-hosted LLM platform in C# — inference, training and an OpenAI-compatible API.");
        foreach (var command in new[]
                 {
                     InspectCommand.Create(terminal), TokenizeCommand.Create(terminal), RunCommand.Create(terminal),
                     ChatCommand.Create(terminal), PerplexityCommand.Create(terminal), EvalCommand.Create(terminal), BenchCommand.Create(terminal),
                     QuantizeCommand.Create(terminal), ServeCommand.Create(terminal),
                     FinetuneCommand.Create(terminal),
                     TrainCommand.Create(terminal), TokenizerCommand.Create(terminal), DataCommand.Create(terminal),
                     StoreCommands.Pull(terminal), StoreCommands.List(terminal), StoreCommands.Remove(terminal), StoreCommands.Show(terminal),
                     AppsCommand.Create(terminal),
                 })
        {
            root.Subcommands.Add(command);
        }

        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            foreach (var error in parsed.Errors) terminal.Error.WriteLine($"error: {error.Message}");
            terminal.Error.WriteLine("Try 'liaoyuan --help'.");
            return UsageError;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration
            {
                Output = terminal.Out,
                Error = terminal.Error,
                EnableDefaultExceptionHandler = false,
            });
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            terminal.Out.Flush();
            terminal.Error.WriteLine($"error: {OneLine(e.Message)}");
            return UsageError;
        }
    }

    private static bool IsUserFacing(Exception e) => e is GgufFormatException or UserInputException
        or ContextOverflowException or ArgumentException or IOException or UnauthorizedAccessException
        or Engine.Templates.TemplateException or OperationCanceledException or InvalidDataException
        or Server.Store.ModelStoreException;

    private static string OneLine(string message) => message.ReplaceLineEndings(" ").Trim();
}
