using System.CommandLine;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Cli.Commands;

/// <summary>`liaoyuan tokenize MODEL --file F`: token ids, space-separated, on one line.</summary>
internal static class TokenizeCommand
{
    public static Command Create(Terminal terminal)
    {
        var model = new Argument<string>("model") { Description = "Path to a GGUF model" };
        var file = new Option<string>("--file", "-f") { Description = "UTF-8 text file to tokenize", Required = true };
        var command = new Command("tokenize", "Print the token ids of a text file's contents") { model, file };
        command.SetAction(parse =>
        {
            string path = ModelLocator.Resolve(parse.GetValue(model));
            string text = TextFiles.ReadUtf8(parse.GetValue(file)!);
            using var gguf = GgufFile.Open(path);
            var tokenizer = Tokenizer.FromGguf(gguf);
            int[] ids = tokenizer.Encode(text, addSpecial: true, parseSpecial: true);
            terminal.Out.WriteLine(string.Join(' ', ids));
            return 0;
        });
        return command;
    }
}
