using System.Threading.Channels;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Models;

namespace Liaoyuan.Server.Scheduling;

/// <summary>How one sequence is decoded; built from a chat or completion request after validation.</summary>
public sealed record DecodeParameters
{
    /// <summary>Tokens to generate at most; 0 only for prompt scoring (echo), where nothing is generated.</summary>
    public required int MaxTokens { get; init; }
    public required SamplingOptions Sampling { get; init; }
    public IReadOnlyList<string> Stop { get; init; } = [];

    /// <summary>Tokens the sequence may hold, prompt included; 0 means the scheduler's context. The sequence gets a
    /// KV cache of this size, so small requests take less memory.</summary>
    public int ContextLength { get; init; }

    /// <summary>Report each generated token's log-probability.</summary>
    public bool Logprobs { get; init; }

    /// <summary>How many alternatives to report with each token's log-probability (0–20).</summary>
    public int TopLogprobs { get; init; }

    /// <summary>Score the prompt: log-probabilities of every prompt token after the first (completions' echo).</summary>
    public bool ScorePrompt { get; init; }

    /// <summary>Token id → value added to its logit before sampling.</summary>
    public IReadOnlyDictionary<int, float>? LogitBias { get; init; }

    /// <summary>Restricts which tokens may be sampled (structured output); null admits every token.</summary>
    public ITokenConstraint? Constraint { get; init; }
}

/// <summary>One sequence waiting for or being decoded by a <see cref="ModelScheduler"/>.</summary>
public sealed class SequenceRequest
{
    public SequenceRequest(IReadOnlyList<int> prompt, DecodeParameters parameters, CancellationToken cancel)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty", nameof(prompt));
        Prompt = prompt;
        Parameters = parameters;
        Cancel = cancel;
    }

    public IReadOnlyList<int> Prompt { get; }
    public DecodeParameters Parameters { get; }

    /// <summary>The LoRA adapter this sequence runs with, read for the scheduler's model; null for the model itself.</summary>
    public LoraWeights? Adapter { get; init; }

    /// <summary>Cancelled when the client goes away; the scheduler then frees the sequence's slot.</summary>
    public CancellationToken Cancel { get; }

    internal Channel<SequenceEvent> Events { get; } = Channel.CreateUnbounded<SequenceEvent>(
        new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });

    /// <summary>What the scheduler produces for this sequence, ending with <see cref="SequenceFinished"/>.</summary>
    public ChannelReader<SequenceEvent> Output => Events.Reader;

    internal long EnqueuedAt { get; set; }
}

/// <summary>A token's log-probability and the most likely alternatives at its position.</summary>
public sealed record TokenLogprob(int Token, float Logprob, IReadOnlyList<(int Token, float Logprob)> Top);

public abstract record SequenceEvent;

/// <summary>
/// A sampled token and the text it completes. Text may be empty (half a UTF-8 character, a control token, or text
/// held back while it could still become a stop string); Token is -1 for held text released at the end.
/// </summary>
public sealed record SequenceText(int Token, string Text, TokenLogprob? Logprob) : SequenceEvent;

/// <summary>Log-probabilities of the prompt tokens; the first token has none.</summary>
public sealed record SequencePromptScores(IReadOnlyList<TokenLogprob?> Tokens) : SequenceEvent;

public sealed record SequenceFinished(FinishReason Reason, int PromptTokens, int CompletionTokens) : SequenceEvent;

/// <summary>A filter over the vocabulary applied before each sampling step (JSON mode, forced tool calls).</summary>
public interface ITokenConstraint
{
    /// <summary>A fresh state for one sequence.</summary>
    ITokenConstraintState Start();
}

public interface ITokenConstraintState
{
    /// <summary>
    /// Sets the logits of tokens that would break the constraint to negative infinity, counting on at most
    /// <paramref name="tokensLeft"/> tokens (this one included) to finish the output.
    /// </summary>
    void MaskLogits(Span<float> logits, int tokensLeft);

    /// <summary>Advances past an accepted token.</summary>
    void Accept(int token);

    /// <summary>The output is complete: only end-of-generation may follow.</summary>
    bool IsComplete { get; }
}
