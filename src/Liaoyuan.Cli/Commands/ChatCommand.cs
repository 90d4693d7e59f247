using System.CommandLine;
using System.Text;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Templates;

namespace Liaoyuan.Cli.Commands;

/// <summary>`liaoyuan chat [MODEL]`: an interactive conversation rendered with the model's chat template.</summary>
internal static class ChatCommand
{
    private const int MinReplyRoom = 32;

    public static Command Create(Terminal terminal)
    {
        var models = new ModelOptions { DefaultFiles = [ModelLocator.ChatModelFile, ModelLocator.DefaultModelFile] };
        var sampling = new SamplingFlags();
        var system = new Option<string?>("--system") { Description = "System prompt" };
        var command = new Command("chat", "Chat with a model interactively (type /exit or end input to quit, /reset to start over)");
        models.AddTo(command);
        command.Options.Add(system);
        sampling.AddTo(command);
        command.SetAction((parse, cancel) =>
        {
            var options = sampling.Read(parse);
            using var model = models.Load(parse);
            var session = models.Session(parse, model);
            var template = ChatTemplate.FromModelOrFallback(model.Tokenizer.ChatTemplate, warning => terminal.Error.WriteLine($"warning: {warning}"));
            var generator = new Generator(session, model.Tokenizer);
            var history = new List<ChatMessage>();
            string? systemPrompt = parse.GetValue(system);
            if (!string.IsNullOrEmpty(systemPrompt)) history.Add(new ChatMessage("system", systemPrompt));
            int keep = history.Count;
            var o = terminal.Out;
            o.WriteLine($"Chatting with {Path.GetFileName(model.File.Path)} ({model.Config.Architecture}, context {session.ContextLength}). /exit to quit, /reset to start over.");
            while (!cancel.IsCancellationRequested)
            {
                o.Write("> ");
                o.Flush();
                string? line = terminal.In.ReadLine();
                if (line is null || line.Trim() == "/exit") break;
                if (line.Trim() == "/reset")
                {
                    history.RemoveRange(keep, history.Count - keep);
                    o.WriteLine("(conversation cleared)");
                    continue;
                }
                if (line.Trim().Length == 0) continue;
                history.Add(new ChatMessage("user", line));
                var tokens = ChatPrompt.Tokenize(template, model.Tokenizer, history);
                // Small models have small contexts: the oldest exchanges go first, so a long chat keeps going.
                while (tokens.Length > session.ContextLength - MinReplyRoom && history.Count - keep > 1)
                {
                    history.RemoveRange(keep, Math.Min(2, history.Count - keep - 1));
                    tokens = ChatPrompt.Tokenize(template, model.Tokenizer, history);
                    terminal.Error.WriteLine("(the oldest exchange was dropped to fit the context)");
                }
                var reply = new StringBuilder();
                try
                {
                    foreach (var piece in generator.Stream(tokens, options, cancel))
                    {
                        o.Write(piece.Text);
                        o.Flush();
                        reply.Append(piece.Text);
                    }
                }
                catch (Engine.Models.ContextOverflowException e)
                {
                    terminal.Error.WriteLine($"error: {e.Message}; use /reset");
                    history.RemoveAt(history.Count - 1);
                    continue;
                }
                o.WriteLine();
                history.Add(new ChatMessage("assistant", reply.ToString()));
            }
            return Task.FromResult(0);
        });
        return command;
    }
}
