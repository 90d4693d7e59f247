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
        var pending = new List<byte>();
        var held = new StringBuilder();
        int maxStop = options.Stop.Count == 0 ? 0 : options.Stop.Max(s => s.Length);
        for (int produced = 0; ; produced++)
        {
            cancel.ThrowIfCancellationRequested();
            if (produced == options.MaxTokens) { LastFinishReason = FinishReason.Length; break; }
            int token = sampler.Sample(session.LastLogits, history);
            if (tokenizer.IsEndOfGeneration(token)) { LastFinishReason = FinishReason.Stop; break; }
            history.Add(token);
            pending.AddRange(tokenizer.TokenBytes(token));
            held.Append(TakeCompleteUtf8(pending));

            string text = held.ToString();
            int stopAt = FindStop(text, options.Stop);
            if (stopAt >= 0)
            {
                yield return new GeneratedPiece(token, text[..stopAt]);
                LastFinishReason = FinishReason.Stop;
                yield break;
            }
            // Hold back a tail that could still grow into a stop string.
            int keep = maxStop == 0 ? 0 : Math.Min(text.Length, maxStop - 1);
            while (keep > 0 && !options.Stop.Any(s => s.StartsWith(text[^keep..], StringComparison.Ordinal))) keep--;
            yield return new GeneratedPiece(token, text[..^keep]);
            held.Clear().Append(text[^keep..]);

            if (session.Position >= session.ContextLength) { LastFinishReason = FinishReason.ContextFull; break; }
            _single[0] = token;
            session.Evaluate(_single);
        }
        string tail = held.ToString() + (pending.Count > 0 ? Encoding.UTF8.GetString(pending.ToArray()) : "");
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

    private static int FindStop(string text, IReadOnlyList<string> stops)
    {
        int best = -1;
        foreach (string stop in stops)
        {
            if (stop.Length == 0) continue;
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best)) best = at;
        }
        return best;
    }

    /// <summary>Decodes and removes the longest prefix of <paramref name="bytes"/> made of complete UTF-8 characters.</summary>
    internal static string TakeCompleteUtf8(List<byte> bytes)
    {
        int end = bytes.Count;
        // Walk back over at most 3 continuation bytes to see whether the last character is complete.
        for (int back = 1; back <= Math.Min(4, bytes.Count); back++)
        {
            byte b = bytes[bytes.Count - back];
            if ((b & 0xC0) == 0x80) continue;
            int length = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
            if (length > back) end = bytes.Count - back;
            break;
        }
        string text = Encoding.UTF8.GetString(bytes.GetRange(0, end).ToArray());
        bytes.RemoveRange(0, end);
        return text;
    }
}
