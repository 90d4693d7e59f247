using System.Runtime.Intrinsics;
using Liaoyuan.Operators.Vectors;
namespace Liaoyuan.Engine.Generation;

/// <summary>
/// Vocabulary-sized work arrays for <see cref="Sampler.Sample"/>, which keeps nothing in them between calls: samplers
/// used by one thread in turn (a server's sequences) can share one set instead of each allocating ~2.4 MB for a 150k
/// vocabulary, which is garbage on the large-object heap once the sequence ends.
/// </summary>
public sealed class SamplerScratch
{
    internal float[] Work = [];
    internal int[] Order = [];
    internal double[] Probabilities = [];
    internal ulong[] Keys = [];

    /// <summary>Bytes held.</summary>
    public long Bytes => 4L * Work.Length + 4L * Order.Length + 8L * Probabilities.Length + 8L * Keys.Length;
}

/// <summary>
/// Picks the next token from logits with llama.cpp's chain order: penalties, top-k, top-p, min-p, temperature,
/// then a draw from the remaining distribution (or the arg-max when greedy). Buffers are reused between calls.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;
    private readonly Dictionary<int, int> _counts = [];
    private readonly SamplerScratch _scratch;

    /// <param name="options">How to sample.</param>
    /// <param name="scratch">Work arrays shared with other samplers of the same thread; null gives this one its own.</param>
    public Sampler(SamplingOptions options, SamplerScratch? scratch = null)
    {
        _scratch = scratch ?? new SamplerScratch();
        string? problem = options.Validate();
        if (problem is not null) throw new ArgumentException(problem);
        _options = options;
        _random = options.Seed is { } seed ? new Random(unchecked((int)seed ^ (int)(seed >> 32))) : new Random();
    }

    public int Sample(ReadOnlySpan<float> logits, IReadOnlyList<int> history)
    {
        int n = logits.Length;
        var s = _scratch;
        if (s.Work.Length < n)
        {
            s.Work = new float[n];
            s.Order = new int[n];
            s.Probabilities = new double[n];
        }
        var work = s.Work.AsSpan(0, n);
        logits.CopyTo(work);
        ApplyPenalties(work, history);
        if (_options.Temperature <= 0) return ArgMax(work);

        int kept = _options.TopK > 0 ? Math.Min(_options.TopK, n) : n;
        var order = s.Order.AsSpan(0, kept);
        if (kept < n) SelectTopK(work, order);
        else if (_options.TopP < 1 || _options.MinP > 0) SortDescending(work, order);
        else
        {
            // Nothing cuts the distribution by rank (OpenAI's defaults), so the draw needs no order, no candidate
            // list and no normalised probabilities: one pass of exponentials over the vocabulary and a draw.
            return DrawFromAll(work, _options.Temperature, _random.NextDouble());
        }

        var probabilities = s.Probabilities.AsSpan(0, kept);
        // The untempered distribution only matters to top-p and min-p; with neither (OpenAI's defaults) it would be a
        // wasted exp over the whole vocabulary for every token of every sequence.
        if (_options.TopP < 1 || _options.MinP > 0)
        {
            Softmax(work, order, probabilities, 1.0f);
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

    /// <summary>
    /// Draws from softmax(logits / T) over the whole vocabulary, overwriting <paramref name="logits"/> with the
    /// unnormalised weights exp(l/T − max/T): <paramref name="draw"/> ∈ [0, 1) scaled by their total is found by
    /// a scan of the 8-wide chunk sums, then inside one chunk, instead of dividing 150k probabilities by the total.
    /// </summary>
    internal static int DrawFromAll(Span<float> logits, float temperature, double draw)
    {
        int n = logits.Length;
        float shift = VectorMath.Max(logits) / temperature;
        int chunks = n / 8;
        Span<double> chunkSums = chunks <= 4096 ? stackalloc double[chunks] : new double[chunks];
        double total = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var t = Vector256.Create(temperature);
            var s = Vector256.Create(shift);
            for (int c = 0; c < chunks; c++, i += 8)
            {
                var e = VectorExp.Exp(Vector256.Create<float>(logits[i..]) / t - s);
                e.CopyTo(logits[i..]);
                double sum = Vector256.Sum(Vector256.WidenLower(e) + Vector256.WidenUpper(e));
                chunkSums[c] = sum;
                total += sum;
            }
        }
        else
        {
            for (int c = 0; c < chunks; c++)
            {
                double sum = 0;
                for (int lane = 0; lane < 8; lane++, i++) sum += logits[i] = MathF.Exp(logits[i] / temperature - shift);
                chunkSums[c] = sum;
                total += sum;
            }
        }
        double tail = 0;
        for (int k = i; k < n; k++) tail += logits[k] = MathF.Exp(logits[k] / temperature - shift);
        total += tail;

        double target = draw * total, cumulative = 0;
        int start = chunks * 8;
        for (int c = 0; c < chunks; c++)
        {
            if (target < cumulative + chunkSums[c])
            {
                start = c * 8;
                break;
            }
            cumulative += chunkSums[c];
        }
        int last = start;
        for (int k = start; k < n; k++)
        {
            if (logits[k] <= 0) continue;
            last = k;
            cumulative += logits[k];
            if (target < cumulative) return k;
        }
        // Rounding left the target past the last weight: the last token with any weight.
        return last;
    }

    /// <summary>
    /// Every index, best first (ties to the lower index): one primitive sort of 64-bit keys, the value's
    /// order-preserving bits above the index, instead of a comparison delegate per pair.
    /// </summary>
    private void SortDescending(ReadOnlySpan<float> values, Span<int> order)
    {
        if (_scratch.Keys.Length < values.Length) _scratch.Keys = new ulong[values.Length];
        var keys = _scratch.Keys.AsSpan(0, values.Length);
        for (int i = 0; i < values.Length; i++)
        {
            keys[i] = (ulong)DescendingKey(values[i]) << 32 | (uint)i;
        }
        keys.Sort();
        for (int i = 0; i < values.Length; i++) order[i] = (int)(uint)keys[i];
    }

    /// <summary>A key whose ascending unsigned order is the descending order of the floats (NaN not expected).</summary>
    private static uint DescendingKey(float value)
    {
        uint bits = BitConverter.SingleToUInt32Bits(value == 0 ? 0f : value);
        uint ascending = (bits & 0x80000000u) != 0 ? ~bits : bits | 0x80000000u;
        return ~ascending;
    }

    /// <summary>The k best indices, best first (ties to the lower index), by insertion into a sorted prefix.</summary>
    private static void SelectTopK(ReadOnlySpan<float> values, Span<int> best)
    {
        int k = best.Length, filled = 0;
        for (int i = 0; i < values.Length; i++)
        {
            float v = values[i];
            if (filled == k && v <= values[best[k - 1]]) continue;
            int at = filled < k ? filled++ : k - 1;
            while (at > 0 && values[best[at - 1]] < v)
            {
                best[at] = best[at - 1];
                at--;
            }
            best[at] = i;
        }
    }

    private void ApplyPenalties(Span<float> logits, IReadOnlyList<int> history)
    {
        bool any = _options.RepeatPenalty != 1 || _options.PresencePenalty != 0 || _options.FrequencyPenalty != 0;
        if (!any || history.Count == 0) return;
        int window = _options.RepeatLastN < 0 ? history.Count : Math.Min(_options.RepeatLastN, history.Count);
        _counts.Clear();
        for (int i = history.Count - window; i < history.Count; i++)
            _counts[history[i]] = _counts.GetValueOrDefault(history[i]) + 1;
        foreach (var (token, count) in _counts)
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
        // The candidates are not always ranked (no top-k, top-p or min-p leaves them in index order).
        float largest = float.NegativeInfinity;
        foreach (int candidate in candidates) largest = Math.Max(largest, logits[candidate]);
        double max = largest / temperature, total = 0;
        int done = Vector256.IsHardwareAccelerated ? VectorisedExponentials(logits, candidates, probabilities, temperature, (float)max) : 0;
        for (int i = done; i < candidates.Length; i++) probabilities[i] = Math.Exp(logits[candidates[i]] / temperature - max);
        for (int i = 0; i < candidates.Length; i++) total += probabilities[i];
        for (int i = 0; i < candidates.Length; i++) probabilities[i] /= total;
    }

    /// <summary>
    /// exp(logit / T − max) eight candidates at a time in float (a server step samples the whole 150k vocabulary for
    /// every sequence, serially); the relative error of ~2e-7 per probability does not matter to a draw. Returns how
    /// many candidates it covered.
    /// </summary>
    private static int VectorisedExponentials(ReadOnlySpan<float> logits, ReadOnlySpan<int> candidates, Span<double> probabilities, float temperature, float max)
    {
        int i = 0;
        Span<float> gathered = stackalloc float[8];
        var shift = Vector256.Create(max);
        var t = Vector256.Create(temperature);
        for (; i + 8 <= candidates.Length; i += 8)
        {
            for (int lane = 0; lane < 8; lane++) gathered[lane] = logits[candidates[i + lane]];
            var e = VectorExp.Exp(Vector256.Create<float>(gathered) / t - shift);
            Vector256.WidenLower(e).CopyTo(probabilities[i..]);
            Vector256.WidenUpper(e).CopyTo(probabilities[(i + 4)..]);
        }
        return i;
    }
}
