using System.CommandLine;
using System.Globalization;
using Liaoyuan.Training.Model;

namespace Liaoyuan.Cli.Commands;

/// <summary>Everything `liaoyuan finetune` was asked to do.</summary>
internal sealed record FinetunePlan
{
    public required string ModelPath { get; init; }
    public required string[] DataFiles { get; init; }
    public string? EvalFile { get; init; }
    public required string Output { get; init; }
    public int? Context { get; init; }
    public required int BatchSize { get; init; }
    public required int Accumulation { get; init; }
    public int? Steps { get; init; }
    public required int Epochs { get; init; }
    public float? LearningRate { get; init; }
    public required float MinLearningRate { get; init; }
    public required int Warmup { get; init; }
    public required float WeightDecay { get; init; }
    public required float Clip { get; init; }
    public required ulong Seed { get; init; }
    public required int Threads { get; init; }
    public required bool F16 { get; init; }
    public required bool Pack { get; init; }
    public required int EvalEvery { get; init; }
    public required int EvalBatches { get; init; }
    public required int CheckpointEvery { get; init; }
    public required string CheckpointPath { get; init; }
    public required bool Resume { get; init; }
    public LoraSettings? Lora { get; init; }
    public required bool Merge { get; init; }

    public string ChartPath => Path.ChangeExtension(Output, ".loss.svg");
}

/// <summary>The flags of `liaoyuan finetune`.</summary>
internal sealed class FinetuneOptions
{
    public Option<string> Model { get; } = new("--model", "-m") { Description = "The base model (a llama-architecture GGUF; quantized weights are dequantized to fp32)", Required = true };
    public Option<string[]> Data { get; } = new("--data") { Description = "Chat data: jsonl, one {\"messages\": [{\"role\", \"content\"}, ...]} per line", Required = true, AllowMultipleArgumentsPerToken = true };
    public Option<string> Eval { get; } = new("--eval") { Description = "Held-out chat jsonl for the held-out assistant-token loss" };
    public Option<string> Out { get; } = new("--out", "-o") { Description = "Output GGUF: the fine-tuned model, or with LoRA and no --merge the adapter", Required = true };
    public Option<int> Ctx { get; } = new("--ctx") { Description = "Tokens per training window (default: the longest conversation rounded up to 64, at most the model's context and 1024)" };
    public Option<int> Batch { get; } = new("--batch") { Description = "Sequences per micro-batch (default 8)", DefaultValueFactory = _ => 8 };
    public Option<int> Accum { get; } = new("--accum") { Description = "Micro-batches accumulated per step (default 1)", DefaultValueFactory = _ => 1 };
    public Option<int> Steps { get; } = new("--steps") { Description = "Optimizer steps (default: --epochs passes over the data)" };
    public Option<int> Epochs { get; } = new("--epochs") { Description = "Passes over the data when --steps is not given (default 1)", DefaultValueFactory = _ => 1 };
    public Option<float> Lr { get; } = new("--lr") { Description = "Peak learning rate (default 5e-5, with LoRA 1e-3)" };
    public Option<float> MinLr { get; } = new("--min-lr") { Description = "Learning rate at the end of the cosine decay (default lr/10)", DefaultValueFactory = _ => -1f };
    public Option<int> Warmup { get; } = new("--warmup") { Description = "Linear warmup steps (default min(100, steps/10))", DefaultValueFactory = _ => -1 };
    public Option<float> WeightDecay { get; } = new("--weight-decay") { Description = "AdamW decoupled weight decay (default 0)" };
    public Option<float> Clip { get; } = new("--clip") { Description = "Global gradient-norm clip, 0 = off (default 1)", DefaultValueFactory = _ => 1f };
    public Option<ulong> Seed { get; } = new("--seed") { Description = "Seed for data order and LoRA initialisation (default 1)", DefaultValueFactory = _ => 1UL };
    public Option<int> Threads { get; } = new("--threads", "-t") { Description = "Worker threads (default: all cores; results do not depend on it)" };
    public Option<bool> F16 { get; } = new("--f16") { Description = "Write a full model's matrices as F16 instead of F32" };
    public Option<bool> Pack { get; } = new("--pack") { Description = "Pack several conversations into each window instead of padding each to --ctx" };
    public Option<int> EvalEvery { get; } = new("--eval-every") { Description = "Held-out loss every N steps (default 50)", DefaultValueFactory = _ => 50 };
    public Option<int> EvalBatches { get; } = new("--eval-batches") { Description = "Batches of held-out data per evaluation (default 16)", DefaultValueFactory = _ => 16 };
    public Option<int> CheckpointEvery { get; } = new("--checkpoint-every") { Description = "Checkpoint every N steps (default 100)", DefaultValueFactory = _ => 100 };
    public Option<string> Checkpoint { get; } = new("--checkpoint") { Description = "Checkpoint file (default: the output path + .ckpt)" };
    public Option<bool> Resume { get; } = new("--resume") { Description = "Continue the run saved in the checkpoint (same model and data)" };
    public Option<bool> Lora { get; } = new("--lora") { Description = "Train a LoRA adapter instead of every weight (implied by any --lora-* flag)" };
    public Option<int> LoraRank { get; } = new("--lora-rank") { Description = "LoRA rank r (default 8)" };
    public Option<float> LoraAlpha { get; } = new("--lora-alpha") { Description = "LoRA alpha; the update is scaled by alpha/r (default 16)" };
    public Option<float> LoraDropout { get; } = new("--lora-dropout") { Description = "Dropout on the adapter's input (default 0)" };
    public Option<string> LoraTargets { get; } = new("--lora-targets") { Description = "Projections to adapt, comma-separated from q,k,v,o,gate,up,down (default q,v)" };
    public Option<bool> Merge { get; } = new("--merge") { Description = "Fold the LoRA adapter into the base and write a full model" };

    private Option[] AllOptions =>
    [
        Model, Data, Eval, Out, Ctx, Batch, Accum, Steps, Epochs, Lr, MinLr, Warmup, WeightDecay, Clip, Seed, Threads, F16, Pack,
        EvalEvery, EvalBatches, CheckpointEvery, Checkpoint, Resume, Lora, LoraRank, LoraAlpha, LoraDropout, LoraTargets, Merge,
    ];

    public void AddTo(Command command)
    {
        foreach (var option in AllOptions) command.Options.Add(option);
    }

    public FinetunePlan Read(ParseResult parse)
    {
        bool Given(Option option) => parse.GetResult(option) is { Implicit: false };
        bool lora = parse.GetValue(Lora) || Given(LoraRank) || Given(LoraAlpha) || Given(LoraDropout) || Given(LoraTargets);
        LoraSettings? loraSettings = null;
        if (lora)
        {
            var defaults = new LoraSettings();
            loraSettings = new LoraSettings
            {
                Rank = Given(LoraRank) ? parse.GetValue(LoraRank) : defaults.Rank,
                Alpha = Given(LoraAlpha) ? parse.GetValue(LoraAlpha) : defaults.Alpha,
                Dropout = parse.GetValue(LoraDropout),
                Targets = Given(LoraTargets)
                    ? (parse.GetValue(LoraTargets) ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                    : defaults.Targets,
            };
            try
            {
                loraSettings.Validate();
            }
            catch (ArgumentException e)
            {
                throw new UserInputException(e.Message);
            }
        }
        bool merge = parse.GetValue(Merge);
        if (merge && !lora) throw new UserInputException("--merge folds a LoRA adapter into the base; give --lora (or --lora-rank ...) too");
        string output = parse.GetValue(Out)!;
        var plan = new FinetunePlan
        {
            ModelPath = parse.GetValue(Model)!,
            DataFiles = parse.GetValue(Data) ?? [],
            EvalFile = parse.GetValue(Eval),
            Output = output,
            Context = Given(Ctx) ? parse.GetValue(Ctx) : null,
            BatchSize = parse.GetValue(Batch),
            Accumulation = parse.GetValue(Accum),
            Steps = Given(Steps) ? parse.GetValue(Steps) : null,
            Epochs = parse.GetValue(Epochs),
            LearningRate = Given(Lr) ? parse.GetValue(Lr) : null,
            MinLearningRate = parse.GetValue(MinLr),
            Warmup = parse.GetValue(Warmup),
            WeightDecay = parse.GetValue(WeightDecay),
            Clip = parse.GetValue(Clip),
            Seed = parse.GetValue(Seed),
            Threads = parse.GetValue(Threads),
            F16 = parse.GetValue(F16),
            Pack = parse.GetValue(Pack),
            EvalEvery = parse.GetValue(EvalEvery),
            EvalBatches = parse.GetValue(EvalBatches),
            CheckpointEvery = parse.GetValue(CheckpointEvery),
            CheckpointPath = parse.GetValue(Checkpoint) ?? output + ".ckpt",
            Resume = parse.GetValue(Resume),
            Lora = loraSettings,
            Merge = merge,
        };
        if (plan.DataFiles.Length == 0) throw new UserInputException("no training data: give --data FILE.jsonl");
        if (plan.Context is <= 0) throw new UserInputException($"--ctx must be positive, got {plan.Context}");
        if (plan.BatchSize <= 0 || plan.Accumulation <= 0) throw new UserInputException("--batch and --accum must be positive");
        if (plan.Steps is <= 0) throw new UserInputException($"--steps must be positive, got {plan.Steps}");
        if (plan.Epochs <= 0) throw new UserInputException($"--epochs must be positive, got {plan.Epochs}");
        if (plan.LearningRate is { } rate && !(rate > 0)) throw new UserInputException($"--lr must be positive, got {rate.ToString(CultureInfo.InvariantCulture)}");
        if (plan.CheckpointEvery <= 0 || plan.EvalEvery <= 0 || plan.EvalBatches <= 0)
            throw new UserInputException("--checkpoint-every, --eval-every and --eval-batches must be positive");
        if (plan.Threads < 0) throw new UserInputException($"--threads must be ≥ 0, got {plan.Threads}");
        if (plan.WeightDecay < 0) throw new UserInputException("--weight-decay must be ≥ 0");
        return plan;
    }
}
