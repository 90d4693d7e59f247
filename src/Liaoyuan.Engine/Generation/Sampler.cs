namespace Liaoyuan.Engine.Generation;

/// <summary>
/// Picks the next token from logits with llama.cpp's chain order: penalties, top-k, top-p, min-p, temperature,
/// then a draw from the remaining distribution (or the arg-max when greedy).
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;
    private float[] _work = [];
    private int[] _order = [];

    public Sampler(SamplingOptions options)
    {
        string? problem = options.Validate();
        if (problem is not null) throw new ArgumentException(problem);
        _options = options;
        _random = options.Seed is { } seed ? new Random(unchecked((int)seed ^ (int)(seed >> 32))) : new Random();
    }

    public int Sample(ReadOnlySpan<float> logits, IReadOnlyList<int> history)
    {
        if (_work.Length < logits.Length)
        {
            _work = new float[logits.Length];
            _order = new int[logits.Length];
        }
        var work = _work.AsSpan(0, logits.Length);
        logits.CopyTo(work);
        ApplyPenalties(work, history);
        if (_options.Temperature <= 0) return ArgMax(work);

        // Candidates sorted by logit, best first; later filters only shrink the kept prefix.
        int n = logits.Length;
        var order = _order.AsSpan(0, n);
        for (int i = 0; i < n; i++) order[i] = i;
        var keys = _work;
        order.Sort((a, b) => keys[b].CompareTo(keys[a]) != 0 ? keys[b].CompareTo(keys[a]) : a.CompareTo(b));
        int kept = _options.TopK > 0 ? Math.Min(_options.TopK, n) : n;

        Span<double> probabilities = new double[kept];
        Softmax(work, order[..kept], probabilities, 1.0f);
        if (_options.TopP < 1)
        {
            double cumulative = 0;
            for (int i = 0; i < kept; i++)
            {
                cumulative += probabilities[i];
                if (cumulative >= _options.TopP) { kept = i + 1; break; }
            }
        }
        if (_options.MinP > 0)
        {
            double threshold = probabilities[0] * _options.MinP;
            int i = 1;
            while (i < kept && probabilities[i] >= threshold) i++;
            kept = i;
        }
        Softmax(work, order[..kept], probabilities[..kept], _options.Temperature);
        double draw = _random.NextDouble(), sum = 0;
        for (int i = 0; i < kept; i++)
        {
            sum += probabilities[i];
            if (draw < sum) return order[i];
        }
        return order[kept - 1];
    }

    private void ApplyPenalties(Span<float> logits, IReadOnlyList<int> history)
    {
        bool any = _options.RepeatPenalty != 1 || _options.PresencePenalty != 0 || _options.FrequencyPenalty != 0;
        if (!any || history.Count == 0) return;
        int window = _options.RepeatLastN < 0 ? history.Count : Math.Min(_options.RepeatLastN, history.Count);
        var counts = new Dictionary<int, int>();
        for (int i = history.Count - window; i < history.Count; i++)
            counts[history[i]] = counts.GetValueOrDefault(history[i]) + 1;
        foreach (var (token, count) in counts)
        {
            if ((uint)token >= (uint)logits.Length) continue;
            ref float l = ref logits[token];
            l = l <= 0 ? l * _options.RepeatPenalty : l / _options.RepeatPenalty;
            l -= count * _options.FrequencyPenalty + _options.PresencePenalty;
        }
    }

    public static int ArgMax(ReadOnlySpan<float> values)
    {
        int best = 0;
        for (int i = 1; i < values.Length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    private static void Softmax(ReadOnlySpan<float> logits, ReadOnlySpan<int> candidates, Span<double> probabilities, float temperature)
    {
        double max = logits[candidates[0]] / temperature, total = 0;
        for (int i = 0; i < candidates.Length; i++)
        {
            probabilities[i] = Math.Exp(logits[candidates[i]] / temperature - max);
            total += probabilities[i];
        }
        for (int i = 0; i < candidates.Length; i++) probabilities[i] /= total;
    }
}
