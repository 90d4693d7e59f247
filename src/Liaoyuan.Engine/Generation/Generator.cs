using System.Text;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Engine.Generation;

public enum FinishReason
{
    /// <summary>An end-of-generation token or a stop string.</summary>
    Stop,
    /// <summary>The max-token limit.</summary>
    Length,
    /// <summary>The context is full.</summary>
    ContextFull,
}

public sealed record GenerationOptions
{
    public int MaxTokens { get; init; } = 256;
    public SamplingOptions Sampling { get; init; } = new();
    public IReadOnlyList<string> Stop { get; init; } = [];
}

/// <summary>A piece of streamed output: the token and the text it completes (possibly empty mid-character).</summary>
public readonly record struct GeneratedPiece(int Token, string Text);

public sealed record GenerationResult(string Text, int PromptTokens, int CompletionTokens, FinishReason FinishReason);

/// <summary>
/// Runs the decode loop for one sequence: reuses the cached prefix of the prompt, samples token after token,
/// streams text without splitting UTF-8 characters, and stops on end-of-generation tokens, stop strings,
/// the token limit or a full context.
/// </summary>
public sealed class Generator(InferenceSession session, Tokenizer tokenizer)
{
    private readonly int[] _single = new int[1];

    public FinishReason? LastFinishReason { get; private set; }

    public IEnumerable<GeneratedPiece> Stream(IReadOnlyList<int> prompt, GenerationOptions options, CancellationToken cancel = default)
    {
        if (prompt.Count == 0) throw new ArgumentException("the prompt is empty");
        if (options.MaxTokens <= 0) throw new ArgumentException($"max tokens must be > 0, got {options.MaxTokens}");
        if (prompt.Count >= session.ContextLength)
            throw new ContextOverflowException(prompt.Count + 1, session.ContextLength);
        var sampler = new Sampler(options.Sampling);
        LastFinishReason = null;

        int reused = CommonPrefix(session.Tokens, prompt);
        if (reused == prompt.Count) reused--; // the last prompt token must be run again to get its logits
        session.TruncateTo(reused);
        var rest = prompt.Skip(reused).ToArray();
        session.Evaluate(rest);

        var history = new List<int>(prompt);
        var text = new StopTextAssembler(options.Stop);
        for (int produced = 0; ; produced++)
        {
            cancel.ThrowIfCancellationRequested();
            if (produced == options.MaxTokens) { LastFinishReason = FinishReason.Length; break; }
            int token = sampler.Sample(session.LastLogits, history);
            if (tokenizer.IsEndOfGeneration(token)) { LastFinishReason = FinishReason.Stop; break; }
            history.Add(token);
            string piece = text.Push(tokenizer.TokenBytes(token));
            yield return new GeneratedPiece(token, piece);
            if (text.Stopped)
            {
                LastFinishReason = FinishReason.Stop;
                yield break;
            }
            if (session.Position >= session.ContextLength) { LastFinishReason = FinishReason.ContextFull; break; }
            _single[0] = token;
            session.Evaluate(_single);
        }
        string tail = text.Flush();
        if (tail.Length > 0) yield return new GeneratedPiece(-1, tail);
    }

    public GenerationResult Generate(IReadOnlyList<int> prompt, GenerationOptions options, CancellationToken cancel = default)
    {
        var text = new StringBuilder();
        int count = 0;
        foreach (var piece in Stream(prompt, options, cancel))
        {
            text.Append(piece.Text);
            if (piece.Token >= 0) count++;
        }
        return new GenerationResult(text.ToString(), prompt.Count, count, LastFinishReason ?? FinishReason.Stop);
    }

    private static int CommonPrefix(IReadOnlyList<int> a, IReadOnlyList<int> b)
    {
        int n = Math.Min(a.Count, b.Count), i = 0;
        while (i < n && a[i] == b[i]) i++;
        return i;
    }
}
