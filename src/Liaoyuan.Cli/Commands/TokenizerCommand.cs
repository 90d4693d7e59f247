using System.CommandLine;
using Liaoyuan.Training.Data;

namespace Liaoyuan.Cli.Commands;

/// <summary>`liaoyuan tokenizer train --vocab N --out T.gguf FILES...`: a byte-level BPE vocabulary in GGUF tokenizer fields.</summary>
internal static class TokenizerCommand
{
    public static Command Create(Terminal terminal)
    {
        var vocab = new Option<int>("--vocab") { Description = "Vocabulary size, including 256 byte tokens and the special tokens", Required = true };
        var output = new Option<string>("--out", "-o") { Description = "The GGUF file to write (tokenizer fields only)", Required = true };
        var pre = new Option<string>("--pre") { Description = "Pre-tokenizer (tokenizer.ggml.pre), e.g. qwen2 or llama-bpe", DefaultValueFactory = _ => "qwen2" };
        var files = new Argument<string[]>("files") { Description = "UTF-8 text files, or .jsonl with a \"text\" field", Arity = ArgumentArity.OneOrMore };
        var train = new Command("train", "Train a byte-level BPE tokenizer with ChatML special tokens");
        train.Options.Add(vocab);
        train.Options.Add(output);
        train.Options.Add(pre);
        train.Arguments.Add(files);
        train.SetAction((parse, cancel) =>
        {
            int size = parse.GetValue(vocab);
            var documents = TextCorpus.ReadDocuments(parse.GetValue(files)!);
            var tokenizer = TrainingTokenizer.Train(documents, size, parse.GetValue(pre)!);
            string path = parse.GetValue(output)!;
            tokenizer.Save(path);
            terminal.Out.WriteLine($"{path}: {tokenizer.VocabSize} tokens");
            return Task.FromResult(0);
        });
        var command = new Command("tokenizer", "Tokenizer tools");
        command.Subcommands.Add(train);
        return command;
    }
}
