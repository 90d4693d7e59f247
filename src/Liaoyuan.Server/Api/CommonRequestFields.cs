using System.Text.Json;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Server.Scheduling;

namespace Liaoyuan.Server.Api;

/// <summary>The fields chat and text completions share, validated.</summary>
internal sealed record CommonRequestFields
{
    public required string Model { get; init; }
    public bool Stream { get; init; }
    public bool IncludeUsage { get; init; }
    public int Choices { get; init; } = 1;

    /// <summary>Null when the client gave no limit: then the rest of the context is the limit.</summary>
    public int? MaxTokens { get; init; }
    public required SamplingOptions Sampling { get; init; }

    /// <summary>
    /// The extension field <c>context_length</c>: a smaller context than the model is served with (as Ollama's
    /// <c>options.num_ctx</c>), for prompt + completion together; the sequence's KV cache is sized to it.
    /// </summary>
    public int? ContextLength { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Token id → value added to its logit (-100 bans a token, 100 all but forces it).</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    public const int MaxStopStrings = 16;
    public const int MaxTopLogprobs = 20;

    public static CommonRequestFields Read(JsonElement root, ServerOptions options, bool allowZeroMaxTokens)
    {
        string model = JsonFields.RequiredString(root, "model");
        bool stream = JsonFields.Bool(root, "stream") ?? false;
        bool includeUsage = false;
        if (JsonFields.Optional(root, "stream_options") is { } streamOptions)
        {
            if (streamOptions.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType("stream_options", "an object", streamOptions);
            includeUsage = JsonFields.Bool(streamOptions, "include_usage") ?? false;
        }
        int n = (int)(JsonFields.Integer(root, "n", 1, options.MaxChoices) ?? 1);

        // max_completion_tokens is the newer name; both are accepted, the newer one wins.
        string maxName = JsonFields.Has(root, "max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
        long? max = JsonFields.Integer(root, maxName, long.MinValue, long.MaxValue);
        if (max is { } m && (m < 0 || (m == 0 && !allowZeroMaxTokens)))
            throw ApiException.BadRequest($"'{maxName}' must be at least 1, got {m}", maxName, "invalid_value");

        double temperature = JsonFields.Number(root, "temperature", 0, 2) ?? 1.0;
        double topP = JsonFields.Number(root, "top_p", 0, 1) ?? 1.0;
        long? seed = JsonFields.Integer(root, "seed", long.MinValue, long.MaxValue);
        var sampling = new SamplingOptions
        {
            // top_p 0 keeps only the most likely token: greedy decoding.
            Temperature = topP == 0 ? 0 : (float)temperature,
            TopK = 0,
            TopP = topP == 0 ? 1 : (float)topP,
            MinP = 0,
            RepeatPenalty = 1,
            PresencePenalty = (float)(JsonFields.Number(root, "presence_penalty", -2, 2) ?? 0),
            FrequencyPenalty = (float)(JsonFields.Number(root, "frequency_penalty", -2, 2) ?? 0),
            Seed = seed is { } s ? unchecked((ulong)s) : null,
        };
        return new CommonRequestFields
        {
            Model = model,
            Stream = stream,
            IncludeUsage = includeUsage,
            Choices = n,
            MaxTokens = max is { } limit ? (int)Math.Min(limit, int.MaxValue) : null,
            Sampling = sampling,
            ContextLength = (int?)JsonFields.Integer(root, "context_length", 1, int.MaxValue),
            Stop = JsonFields.StringOrStrings(root, "stop", MaxStopStrings),
            LogitBias = ReadLogitBias(root),
        };
    }

    private static Dictionary<int, float>? ReadLogitBias(JsonElement root)
    {
        if (JsonFields.Optional(root, "logit_bias") is not { } bias) return null;
        if (bias.ValueKind != JsonValueKind.Object) throw JsonFields.WrongType("logit_bias", "an object of token ids to numbers", bias);
        var result = new Dictionary<int, float>();
        foreach (var entry in bias.EnumerateObject())
        {
            if (!int.TryParse(entry.Name, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int token))
                throw ApiException.BadRequest($"'logit_bias' keys must be token ids, got '{entry.Name}'", "logit_bias", "invalid_value");
            result[token] = (float)JsonFields.Number(bias, entry.Name, -100, 100)!.Value;
        }
        return result;
    }

    /// <summary>
    /// The decode parameters of choice <paramref name="choice"/> for a prompt of <paramref name="promptTokens"/>.
    /// Each choice gets its own seed so that n &gt; 1 yields different samples, reproducibly.
    /// </summary>
    public DecodeParameters ForChoice(int choice, int promptTokens, int contextLength, int vocabularySize, string promptParam,
        bool logprobs = false, int topLogprobs = 0, bool scorePrompt = false, ITokenConstraint? constraint = null)
    {
        int context = contextLength;
        string limit = $"This model's maximum context length is {context} tokens";
        if (ContextLength is { } requested)
        {
            if (requested > contextLength)
                throw ApiException.BadRequest($"'context_length' is {requested}, but this model is served with a context of {contextLength} tokens",
                    "context_length", "invalid_value");
            context = requested;
            limit = $"The requested context length is {context} tokens";
        }
        if (promptTokens >= context)
            throw ApiException.BadRequest(
                $"{limit}, but the prompt has {promptTokens} tokens (at least one more is needed to generate)",
                promptParam, "context_length_exceeded");
        if (MaxTokens is { } max && promptTokens + max > context)
            throw ApiException.BadRequest(
                $"{limit}. However, you requested {promptTokens + max} tokens ({promptTokens} in the prompt, {max} for the completion). Please reduce the prompt or the completion length.",
                "max_tokens", "context_length_exceeded");
        if (LogitBias?.Keys.FirstOrDefault(token => token >= vocabularySize) is { } outside && outside >= vocabularySize)
            throw ApiException.BadRequest($"'logit_bias' names token {outside}, outside the vocabulary of {vocabularySize}", "logit_bias", "invalid_value");
        return new DecodeParameters
        {
            LogitBias = LogitBias,
            MaxTokens = MaxTokens ?? context - promptTokens,
            ContextLength = ContextLength ?? 0,
            Sampling = Sampling with { Seed = Sampling.Seed is { } seed ? unchecked(seed + (ulong)choice) : null },
            Stop = Stop,
            Logprobs = logprobs,
            TopLogprobs = topLogprobs,
            ScorePrompt = scorePrompt,
            Constraint = constraint,
        };
    }
}
