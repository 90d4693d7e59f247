using System.CommandLine;
using Liaoyuan.Training.Data;

namespace Liaoyuan.Cli.Commands;

/// <summary>
/// `liaoyuan data prepare (--tokenizer T | --vocab N) --out DIR FILES...`: tokenizes text once into memory-mapped
/// token shards with a held-out split, for `liaoyuan train --data DIR`.
/// </summary>
internal static class DataCommand
{
    public static Command Create(Terminal terminal)
    {
        var tokenizer = new Option<string>("--tokenizer") { Description = "Tokenize with the tokenizer of this GGUF" };
        var vocab = new Option<int>("--vocab") { Description = "Train a byte-level BPE tokenizer of this size on the files instead" };
        var output = new Option<string>("--out", "-o") { Description = "Folder for the shards and tokenizer.gguf", Required = true };
        var heldOut = new Option<double>("--holdout") { Description = "Fraction of the tokens held out for evaluation", DefaultValueFactory = _ => 0.05 };
        var shardTokens = new Option<int>("--shard-tokens") { Description = "Tokens per shard file", DefaultValueFactory = _ => 1 << 26 };
        var files = new Argument<string[]>("files") { Description = "UTF-8 text files, or .jsonl with a \"text\" field", Arity = ArgumentArity.OneOrMore };
        var prepare = new Command("prepare", "Tokenize text into memory-mapped token shards with a held-out split");
        foreach (var option in new Option[] { tokenizer, vocab, output, heldOut, shardTokens }) prepare.Options.Add(option);
        prepare.Arguments.Add(files);
        prepare.SetAction((parse, cancel) =>
        {
            string? tokenizerPath = parse.GetValue(tokenizer);
            int size = parse.GetValue(vocab);
            if (size > 0 == tokenizerPath is not null) throw new UserInputException("give either --vocab N (train a tokenizer) or --tokenizer T.gguf");
            var documents = TextCorpus.ReadDocuments(parse.GetValue(files)!).ToList();
            var chosen = tokenizerPath is not null ? TrainingTokenizer.Load(tokenizerPath) : TrainingTokenizer.Train(documents, size);
            string directory = parse.GetValue(output)!;
            var summary = PreparedData.Prepare(directory, chosen, documents, parse.GetValue(heldOut), parse.GetValue(shardTokens));
            terminal.Out.WriteLine($"{directory}: {summary.TrainTokens:N0} training tokens in {summary.TrainShards} shard(s), " +
                                   $"{summary.HeldOutTokens:N0} held out in {summary.HeldOutShards}; vocabulary {chosen.VocabSize:N0}");
            return Task.FromResult(0);
        });
        var command = new Command("data", "Training data tools");
        command.Subcommands.Add(prepare);
        return command;
    }
}
