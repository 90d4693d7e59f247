namespace Liaoyuan.Server.Scheduling;

/// <summary>Log-probabilities from raw logits, as OpenAI reports them: before penalties, temperature or top-p.</summary>
internal static class Logprobs
{
    public static TokenLogprob Of(ReadOnlySpan<float> logits, int token, int top)
    {
        float logSum = LogSumExp(logits);
        var best = new List<(int Token, float Logprob)>(top);
        if (top > 0)
        {
            // A partial selection: keep the best `top` in a small sorted list (top ≤ 20, vocabularies are large).
            for (int i = 0; i < logits.Length; i++)
            {
                float value = logits[i];
                if (best.Count == top && value <= best[^1].Logprob) continue;
                int at = best.Count;
                while (at > 0 && best[at - 1].Logprob < value) at--;
                best.Insert(at, (i, value));
                if (best.Count > top) best.RemoveAt(best.Count - 1);
            }
            for (int i = 0; i < best.Count; i++) best[i] = (best[i].Token, best[i].Logprob - logSum);
        }
        return new TokenLogprob(token, logits[token] - logSum, best);
    }

    private static float LogSumExp(ReadOnlySpan<float> logits)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits) if (l > max) max = l;
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        return max + (float)Math.Log(sum);
    }
}
