using Liaoyuan.Training.Ops;

namespace Liaoyuan.Training.Model;

/// <summary>
/// One LoRA pair on a frozen projection W [out, in]: y = W·x + s·B·(A·drop(x)) with s = alpha/rank.
/// A is stored [rank, in] and B [out, rank], which are llama.cpp's adapter layouts (ggml shapes [in, rank] and
/// [rank, out]) under the names <c>&lt;W's name&gt;.lora_a</c> / <c>.lora_b</c>. The adapter keeps its own small
/// activations (the rank-wide intermediate and, with dropout, the dropped input) between forward and backward.
/// </summary>
public sealed class LowRankAdapter
{
    private readonly float _dropout;
    private readonly ulong _site;
    private float[] _down = [], _downGrad = [], _dropped = [], _droppedGrad = [];
    private int _rows;
    private long _pass = -1;

    public LowRankAdapter(Parameter weight, int rank, float alpha, float dropout, ulong site)
    {
        Weight = weight;
        Inputs = (int)weight.Shape[0];
        Outputs = (int)weight.Shape[1];
        Rank = rank;
        Scale = alpha / rank;
        _dropout = dropout;
        _site = site;
        A = new Parameter(weight.Name + ".lora_a", [Inputs, rank], decay: true);
        B = new Parameter(weight.Name + ".lora_b", [rank, Outputs], decay: true);
    }

    public Parameter Weight { get; }
    public Parameter A { get; }
    public Parameter B { get; }
    public int Inputs { get; }
    public int Outputs { get; }
    public int Rank { get; }
    public float Scale { get; }

    /// <summary>As in the LoRA paper: A random (uniform ±1/√in, PEFT's Kaiming bound), B zero, so training starts at W.</summary>
    public void Initialize(TrainingRandom random)
    {
        float bound = 1f / MathF.Sqrt(Inputs);
        for (int i = 0; i < A.Value.Length; i++) A.Value[i] = (float)((2 * random.NextDouble() - 1) * bound);
        Array.Clear(B.Value);
    }

    /// <summary>
    /// Adds s·B·A·drop(x) to <paramref name="y"/>. <paramref name="dropoutPass"/> numbers the training pass (its masks
    /// are a pure function of it, so a resumed run draws the same ones); null means no dropout (evaluation).
    /// </summary>
    internal void Forward(Compute compute, float[] x, float[] y, int rows, long? dropoutPass)
    {
        Reserve(rows);
        float[] input = x;
        _pass = _dropout > 0 && dropoutPass is { } pass ? pass : -1;
        if (_pass >= 0)
        {
            ApplyDropout(x, _dropped, rows * Inputs);
            input = _dropped;
        }
        MatMul.Forward(compute, input, A.Value, _down, rows, Inputs, Rank);
        for (int i = 0; i < rows * Rank; i++) _down[i] *= Scale;
        MatMul.Forward(compute, _down, B.Value, y, rows, Rank, Outputs, accumulate: true);
    }

    /// <summary>Adds the gradients of A and B, and adds the adapter's share of ∂loss/∂x to <paramref name="dx"/>.</summary>
    internal void Backward(Compute compute, float[] x, float[] dy, float[] dx, int rows)
    {
        // _down holds s·A·x̃, so dB = dyᵀ·_down directly, and ∂/∂(A·x̃) = s·(dy·B).
        MatMul.Backward(compute, _down, B.Value, dy, _downGrad, B.Gradient, rows, Rank, Outputs);
        for (int i = 0; i < rows * Rank; i++) _downGrad[i] *= Scale;
        if (_pass < 0)
        {
            MatMul.Backward(compute, x, A.Value, _downGrad, dx, A.Gradient, rows, Inputs, Rank, accumulateInput: true);
            return;
        }
        MatMul.Backward(compute, _dropped, A.Value, _downGrad, _droppedGrad, A.Gradient, rows, Inputs, Rank);
        // drop(x) = mask·x/(1−p), so its gradient passes through the same mask and scale (zero where dropped).
        ApplyDropout(_droppedGrad, _droppedGrad, rows * Inputs);
        for (int i = 0; i < rows * Inputs; i++) dx[i] += _droppedGrad[i];
    }

    /// <summary>W ← W + s·B·A, in place: the merged projection computes what the pair did.</summary>
    public void MergeInto(float[] weight)
    {
        for (int o = 0; o < Outputs; o++)
        {
            var row = weight.AsSpan(o * Inputs, Inputs);
            for (int k = 0; k < Rank; k++)
            {
                float b = Scale * B.Value[o * Rank + k];
                if (b == 0) continue;
                var a = A.Value.AsSpan(k * Inputs, Inputs);
                for (int i = 0; i < Inputs; i++) row[i] += b * a[i];
            }
        }
    }

    private void Reserve(int rows)
    {
        if (_rows == rows) return;
        _rows = rows;
        _down = new float[rows * Rank];
        _downGrad = new float[rows * Rank];
        if (_dropout > 0)
        {
            _dropped = new float[rows * Inputs];
            _droppedGrad = new float[rows * Inputs];
        }
    }

    /// <summary>destination = mask·source/(1−p), the mask drawn from a hash of (site, pass, element).</summary>
    private void ApplyDropout(float[] source, float[] destination, int count)
    {
        float keep = 1f / (1f - _dropout);
        ulong threshold = (ulong)(_dropout * 18446744073709551615.0);
        ulong key = Mix(_site ^ Mix((ulong)_pass));
        for (int i = 0; i < count; i++)
            destination[i] = Mix(key + (ulong)i) < threshold ? 0f : source[i] * keep;
    }

    /// <summary>SplitMix64's finaliser: a good 64-bit hash of one word.</summary>
    private static ulong Mix(ulong z)
    {
        z += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }
}
