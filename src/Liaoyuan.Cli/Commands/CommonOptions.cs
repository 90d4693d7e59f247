using System.CommandLine;
using System.Text;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Cli.Commands;

/// <summary>Arguments and options shared by the commands that load a model.</summary>
internal sealed class ModelOptions
{
    public Argument<string?> Model { get; } = new("model")
    {
        Description = "A GGUF file or a model-store name such as hf.co/ORG/REPO:Q4_K_M (default: the embedded demo model)",
        Arity = ArgumentArity.ZeroOrOne,
    };

    public Option<string> Lora { get; } = new("--lora") { Description = "Apply this LoRA adapter GGUF (llama.cpp format, e.g. from `liaoyuan finetune --lora`)" };
    public Option<float> LoraScale { get; } = new("--lora-scale") { Description = "Strength of the LoRA adapter (default 1)", DefaultValueFactory = _ => 1f };

    /// <summary>The embedded models to try, in order, when no model is named.</summary>
    public string[] DefaultFiles { get; init; } = [ModelLocator.DefaultModelFile];

    public Option<int> Threads { get; } = new("--threads", "-t") { Description = "Worker threads (default: all cores)" };
    public Option<int> Context { get; } = new("--ctx", "-c") { Description = "Context length in tokens (default: the model's, at most 4096)" };
    public Option<string> KvType { get; } = new("--kv-type") { Description = "KV cache element type: f16 or f32", DefaultValueFactory = _ => "f16" };
    public Option<string?> Store { get; } = StoreOption.Create();

    public void AddTo(Command command)
    {
        command.Arguments.Add(Model);
        command.Options.Add(Lora);
        command.Options.Add(LoraScale);
        command.Options.Add(Threads);
        command.Options.Add(Context);
        command.Options.Add(KvType);
        command.Options.Add(Store);
    }

    public LoadedModel Load(ParseResult parse) => LoadPath(parse, parse.GetValue(Model));

    /// <summary>Loads <paramref name="given"/>, or the default model when it is null.</summary>
    public LoadedModel LoadPath(ParseResult parse, string? given)
    {
        string path = ModelLocator.Resolve(given, parse.GetValue(Store), DefaultFiles);
        int threads = parse.GetValue(Threads);
        if (threads < 0) throw new UserInputException($"--threads must be ≥ 0, got {threads}");
        string? lora = parse.GetValue(Lora);
        float loraScale = parse.GetValue(LoraScale);
        if (lora is not null && !File.Exists(lora)) throw new UserInputException($"{lora}: no such file");
        if (lora is null && parse.GetResult(LoraScale) is { Implicit: false }) throw new UserInputException("--lora-scale needs --lora ADAPTER.gguf");
        var model = ModelLoader.Load(path, new CpuKernels(threads));
        try
        {
            if (lora is not null) LoraAdapter.Apply(lora, model, loraScale);
            return model;
        }
        catch
        {
            model.Dispose();
            throw;
        }
    }

    public InferenceSession Session(ParseResult parse, LoadedModel model, int? contextOverride = null)
    {
        int ctx = contextOverride ?? parse.GetValue(Context);
        if (ctx < 0) throw new UserInputException($"--ctx must be ≥ 0, got {ctx}");
        var kv = parse.GetValue(KvType)?.ToLowerInvariant() switch
        {
            "f16" or null => GgmlType.F16,
            "f32" => GgmlType.F32,
            var other => throw new UserInputException($"--kv-type must be f16 or f32, got '{other}'"),
        };
        return new InferenceSession(model.Model, ctx, kv);
    }
}

/// <summary>Sampling flags, shared by run and chat.</summary>
internal sealed class SamplingFlags
{
    public Option<int> MaxTokens { get; } = new("--max-tokens", "-n") { Description = "Maximum tokens to generate", DefaultValueFactory = _ => 256 };
    public Option<float> Temperature { get; } = new("--temperature", "--temp") { Description = "Sampling temperature; 0 is greedy", DefaultValueFactory = _ => 0.8f };
    public Option<int> TopK { get; } = new("--top-k") { Description = "Keep the k most likely tokens (0 = all)", DefaultValueFactory = _ => 40 };
    public Option<float> TopP { get; } = new("--top-p") { Description = "Nucleus sampling threshold", DefaultValueFactory = _ => 0.95f };
    public Option<float> MinP { get; } = new("--min-p") { Description = "Drop tokens below this fraction of the best one's probability", DefaultValueFactory = _ => 0.05f };
    public Option<float> RepeatPenalty { get; } = new("--repeat-penalty") { Description = "Penalty for tokens among the last 64 (1 = off)", DefaultValueFactory = _ => 1.0f };
    public Option<float> PresencePenalty { get; } = new("--presence-penalty") { Description = "OpenAI-style presence penalty" };
    public Option<float> FrequencyPenalty { get; } = new("--frequency-penalty") { Description = "OpenAI-style frequency penalty" };
    public Option<ulong?> Seed { get; } = new("--seed", "-s") { Description = "Random seed for reproducible sampling" };
    public Option<string[]> Stop { get; } = new("--stop") { Description = "Stop when this text is generated (repeatable)" };

    public void AddTo(Command command)
    {
        foreach (var option in new Option[] { MaxTokens, Temperature, TopK, TopP, MinP, RepeatPenalty, PresencePenalty, FrequencyPenalty, Seed, Stop })
            command.Options.Add(option);
    }

    public GenerationOptions Read(ParseResult parse)
    {
        var sampling = new SamplingOptions
        {
            Temperature = parse.GetValue(Temperature),
            TopK = parse.GetValue(TopK),
            TopP = parse.GetValue(TopP),
            MinP = parse.GetValue(MinP),
            RepeatPenalty = parse.GetValue(RepeatPenalty),
            PresencePenalty = parse.GetValue(PresencePenalty),
            FrequencyPenalty = parse.GetValue(FrequencyPenalty),
            Seed = parse.GetValue(Seed),
        };
        string? problem = sampling.Validate();
        if (problem is not null) throw new UserInputException(problem);
        int max = parse.GetValue(MaxTokens);
        if (max <= 0) throw new UserInputException($"--max-tokens must be > 0, got {max}");
        return new GenerationOptions { MaxTokens = max, Sampling = sampling, Stop = parse.GetValue(Stop) ?? [] };
    }
}

internal static class TextFiles
{
    private static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);

    /// <summary>Reads a UTF-8 text file, naming the byte offset of the first invalid sequence if there is one.</summary>
    public static string ReadUtf8(string path)
    {
        if (!File.Exists(path)) throw new UserInputException($"{path}: no such file");
        byte[] bytes = File.ReadAllBytes(path);
        try
        {
            int skip = bytes.AsSpan().StartsWith(Encoding.UTF8.Preamble) ? 3 : 0;
            return Strict.GetString(bytes, skip, bytes.Length - skip);
        }
        catch (DecoderFallbackException e)
        {
            throw new UserInputException($"{path}: not valid UTF-8 at byte offset {e.Index}");
        }
    }
}
