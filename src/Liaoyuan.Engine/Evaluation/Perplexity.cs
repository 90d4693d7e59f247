using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Engine.Evaluation;

public sealed record PerplexityResult(double Value, int Chunks, int TokensScored);

/// <summary>
/// Perplexity exactly as llama.cpp's llama-perplexity computes it: the text is tokenized once (with BOS if the
/// model adds one), cut into chunks of <c>ctx</c> tokens, the first token of each chunk replaced by BOS, and
/// only the second half of each chunk scored, so every scored token has at least ctx/2 tokens of context.
/// </summary>
public static class Perplexity
{
    public static PerplexityResult Compute(InferenceSession session, Tokenizer tokenizer, string text, int ctx, int maxChunks = -1,
        Action<int, int, double>? progress = null, CancellationToken cancel = default)
    {
        if (ctx < 4) throw new ArgumentException($"the perplexity context must be at least 4 tokens, got {ctx}");
        if (ctx > session.ContextLength) throw new ArgumentException($"the perplexity context {ctx} exceeds the session's {session.ContextLength}");
        int[] tokens = tokenizer.Encode(text, addSpecial: true, parseSpecial: true);
        if (tokens.Length < 2 * ctx)
            throw new ArgumentException($"the text tokenizes to {tokens.Length} tokens; perplexity with --ctx {ctx} needs at least {2 * ctx}");
        int chunks = tokens.Length / ctx;
        if (maxChunks > 0) chunks = Math.Min(chunks, maxChunks);
        int vocab = session.Model.Config.VocabSize;
        int first = ctx / 2;
        var logits = new float[ctx * vocab];
        double nll = 0;
        int count = 0;
        for (int chunk = 0; chunk < chunks; chunk++)
        {
            cancel.ThrowIfCancellationRequested();
            int start = chunk * ctx;
            var input = tokens.AsSpan(start, ctx).ToArray();
            if (tokenizer.AddBos) input[0] = tokenizer.BosId;
            session.Reset();
            session.EvaluateAll(input, logits);
            for (int j = first; j < ctx - 1; j++)
            {
                nll -= LogSoftmaxAt(logits.AsSpan(j * vocab, vocab), tokens[start + j + 1]);
                count++;
            }
            progress?.Invoke(chunk + 1, chunks, Math.Exp(nll / count));
        }
        return new PerplexityResult(Math.Exp(nll / count), chunks, count);
    }

    /// <summary>log p(token) under softmax(logits), accumulated in double.</summary>
    public static double LogSoftmaxAt(ReadOnlySpan<float> logits, int token)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits) if (l > max) max = l;
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        return logits[token] - max - Math.Log(sum);
    }
}
