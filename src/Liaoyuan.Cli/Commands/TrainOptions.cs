using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Liaoyuan.Training;
using Liaoyuan.Training.Data;
using Liaoyuan.Training.Model;
using Liaoyuan.Training.Optimization;

namespace Liaoyuan.Cli.Commands;

/// <summary>Everything `liaoyuan train` was asked to do, after merging the config file with the flags.</summary>
internal sealed record TrainPlan
{
    public required string[] DataFiles { get; init; }
    public int? Vocab { get; init; }
    public string? TokenizerPath { get; init; }
    public required TrainingSettings Settings { get; init; }
    public required string Output { get; init; }
    public required string CheckpointPath { get; init; }
    public required int CheckpointEvery { get; init; }
    public required int EvalEvery { get; init; }
    public required int EvalBatches { get; init; }
    public required double HeldOutFraction { get; init; }
    public required int Threads { get; init; }
    public required bool F16 { get; init; }
    public required bool Resume { get; init; }

    public string TokenizerCopyPath => CheckpointPath + ".tokenizer.gguf";
    public string ChartPath => Path.ChangeExtension(Output, ".loss.svg");
}

/// <summary>
/// The flags of `liaoyuan train`. A JSON config file may set any of them under the flag's name without dashes
/// (e.g. {"data": ["a.txt"], "kv-heads": 2}); a flag on the command line wins over the file.
/// </summary>
internal sealed class TrainOptions
{
    public Argument<string?> Config { get; } = new("config") { Description = "JSON file with any of the settings below (flags override it)", Arity = ArgumentArity.ZeroOrOne };
    public Option<string[]> Data { get; } = new("--data") { Description = "Training text (UTF-8 files, or .jsonl with a \"text\" field), or a folder from `liaoyuan data prepare`", AllowMultipleArgumentsPerToken = true };
    public Option<int> Vocab { get; } = new("--vocab") { Description = "Train a byte-level BPE tokenizer of this size on the data" };
    public Option<string> Tokenizer { get; } = new("--tokenizer") { Description = "Use the tokenizer of this GGUF (from `liaoyuan tokenizer train` or a model)" };
    public Option<int> Layers { get; } = new("--layers") { Description = "Decoder layers (default 4)" };
    public Option<int> Dim { get; } = new("--dim") { Description = "Hidden size (default 256)" };
    public Option<int> Heads { get; } = new("--heads") { Description = "Attention heads (default 4)" };
    public Option<int> KvHeads { get; } = new("--kv-heads") { Description = "Key/value heads for grouped-query attention (default: heads)" };
    public Option<int> Ffn { get; } = new("--ffn") { Description = "Feed-forward size (default: 8/3 · dim, rounded up to 32)" };
    public Option<int> Ctx { get; } = new("--ctx") { Description = "Context length in tokens (default 256)" };
    public Option<int> Batch { get; } = new("--batch") { Description = "Sequences per micro-batch (default 8)" };
    public Option<int> Accum { get; } = new("--accum") { Description = "Micro-batches accumulated per step (default 1)" };
    public Option<int> Steps { get; } = new("--steps") { Description = "Optimizer steps (default 1000)" };
    public Option<float> Lr { get; } = new("--lr") { Description = "Peak learning rate (default 6e-4)" };
    public Option<float> MinLr { get; } = new("--min-lr") { Description = "Learning rate at the end of the cosine decay (default lr/10)" };
    public Option<int> Warmup { get; } = new("--warmup") { Description = "Linear warmup steps (default min(100, steps/10))" };
    public Option<float> WeightDecay { get; } = new("--weight-decay") { Description = "AdamW decoupled weight decay (default 0.1)" };
    public Option<float> Clip { get; } = new("--clip") { Description = "Global gradient-norm clip, 0 = off (default 1)" };
    public Option<ulong> Seed { get; } = new("--seed") { Description = "Seed for initialisation and data order (default 1)" };
    public Option<int> Threads { get; } = new("--threads", "-t") { Description = "Worker threads (default: all cores; results do not depend on it)" };
    public Option<string> Out { get; } = new("--out", "-o") { Description = "The trained model (GGUF); the loss chart goes next to it (default model.gguf)" };
    public Option<bool> F16 { get; } = new("--f16") { Description = "Write the model's matrices as F16 instead of F32" };
    public Option<int> EvalEvery { get; } = new("--eval-every") { Description = "Held-out loss every N steps (default 100)" };
    public Option<int> EvalBatches { get; } = new("--eval-batches") { Description = "Batches of held-out data per evaluation (default 4)" };
    public Option<double> HeldOut { get; } = new("--holdout") { Description = "Fraction of the tokens held out for evaluation (default 0.05)" };
    public Option<int> CheckpointEvery { get; } = new("--checkpoint-every") { Description = "Checkpoint every N steps (default 100)" };
    public Option<string> Checkpoint { get; } = new("--checkpoint") { Description = "Checkpoint file (default: the output path + .ckpt)" };
    public Option<bool> Resume { get; } = new("--resume") { Description = "Continue the run saved in the checkpoint" };

    private Option[] AllOptions =>
    [
        Data, Vocab, Tokenizer, Layers, Dim, Heads, KvHeads, Ffn, Ctx, Batch, Accum, Steps, Lr, MinLr, Warmup, WeightDecay,
        Clip, Seed, Threads, Out, F16, EvalEvery, EvalBatches, HeldOut, CheckpointEvery, Checkpoint, Resume,
    ];

    public void AddTo(Command command)
    {
        command.Arguments.Add(Config);
        foreach (var option in AllOptions) command.Options.Add(option);
    }

    public TrainPlan Read(ParseResult parse)
    {
        var config = LoadConfig(parse.GetValue(Config));
        if (config is { } settingsFile)
        {
            var known = AllOptions.Select(o => o.Name.TrimStart('-')).ToHashSet();
            foreach (var property in settingsFile.EnumerateObject())
                if (!known.Contains(property.Name))
                    throw new UserInputException($"config: unknown setting '{property.Name}' (settings are the flag names without dashes)");
        }
        T Get<T>(Option<T> option, T fallback)
        {
            var given = parse.GetResult(option);
            if (given is not null && !given.Implicit) return parse.GetValue(option)!;
            string key = option.Name.TrimStart('-');
            if (config is { } c && c.TryGetProperty(key, out var element))
            {
                try
                {
                    return element.Deserialize<T>() ?? fallback;
                }
                catch (JsonException)
                {
                    throw new UserInputException($"config '{key}': {element.GetRawText()} is not a valid {typeof(T).Name}");
                }
            }
            return fallback;
        }

        int dim = Get(Dim, 256), heads = Get(Heads, 4);
        int vocab = Get(Vocab, 0);
        string? tokenizer = Get<string?>(Tokenizer!, null);
        string[] data = Get(Data, []);
        bool prepared = data.Length == 1 && PreparedData.IsPrepared(data[0]);
        if (prepared && (vocab > 0 || tokenizer is not null))
            throw new UserInputException($"{data[0]} is already tokenized (by `liaoyuan data prepare`); drop --vocab and --tokenizer");
        if (!prepared && vocab > 0 == tokenizer is not null && !Get(Resume, false))
            throw new UserInputException("give either --vocab N (train a tokenizer) or --tokenizer T.gguf");
        string output = Get<string?>(Out!, null) ?? "model.gguf";
        int steps = Get(Steps, 1000);
        var shape = new LlamaShape
        {
            Vocab = Math.Max(vocab, 1), // replaced by the tokenizer's real size once it is known
            Layers = Get(Layers, 4),
            Dim = dim,
            Heads = heads,
            KvHeads = Get(KvHeads, heads),
            FeedForward = Get(Ffn, (8 * dim / 3 + 31) / 32 * 32),
            Context = Get(Ctx, 256),
        };
        var settings = new TrainingSettings
        {
            Shape = shape,
            BatchSize = Get(Batch, 8),
            AccumulationSteps = Get(Accum, 1),
            Steps = steps,
            LearningRate = Get(Lr, 6e-4f),
            MinLearningRate = Get(MinLr, -1f),
            WarmupSteps = Get(Warmup, -1),
            Optimizer = new AdamWSettings { WeightDecay = Get(WeightDecay, 0.1f) },
            GradientClip = Get(Clip, 1f),
            Seed = Get(Seed, 1UL),
        };
        var plan = new TrainPlan
        {
            DataFiles = data,
            Vocab = vocab > 0 ? vocab : null,
            TokenizerPath = tokenizer,
            Settings = settings,
            Output = output,
            CheckpointPath = Get<string?>(Checkpoint!, null) ?? output + ".ckpt",
            CheckpointEvery = Get(CheckpointEvery, 100),
            EvalEvery = Get(EvalEvery, 100),
            EvalBatches = Get(EvalBatches, 4),
            HeldOutFraction = Get(HeldOut, 0.05),
            Threads = Get(Threads, 0),
            F16 = Get(F16, false),
            Resume = Get(Resume, false),
        };
        if (plan.DataFiles.Length == 0) throw new UserInputException("no training data: give --data FILES");
        if (plan.CheckpointEvery <= 0 || plan.EvalEvery <= 0 || plan.EvalBatches <= 0)
            throw new UserInputException("--checkpoint-every, --eval-every and --eval-batches must be positive");
        if (plan.HeldOutFraction is < 0 or >= 1) throw new UserInputException($"--holdout must be in [0, 1), got {plan.HeldOutFraction.ToString(CultureInfo.InvariantCulture)}");
        if (plan.Threads < 0) throw new UserInputException($"--threads must be ≥ 0, got {plan.Threads}");
        return plan;
    }

    private static JsonElement? LoadConfig(string? path)
    {
        if (path is null) return null;
        if (!File.Exists(path)) throw new UserInputException($"{path}: no such config file");
        try
        {
            using var document = JsonDocument.Parse(File.ReadAllText(path));
            if (document.RootElement.ValueKind != JsonValueKind.Object) throw new UserInputException($"{path}: the config must be a JSON object");
            return document.RootElement.Clone();
        }
        catch (JsonException e)
        {
            throw new UserInputException($"{path}: not valid JSON ({e.Message})");
        }
    }
}
