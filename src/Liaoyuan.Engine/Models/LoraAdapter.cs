using System.Buffers;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Engine.Models;

/// <summary>
/// One projection's low-rank update: y += s·B·(A·x), with A [rank × in] and B [out × rank] held as F32 matrices
/// and s = user scale · alpha / rank (just the user scale when the adapter's alpha is 0), as llama.cpp applies it.
/// The products go through the kernel seam like any other matrix product.
/// </summary>
public sealed unsafe class LowRankUpdate
{
    private readonly float[] _a, _b;

    internal LowRankUpdate(float[] a, float[] b, int inputs, int rank, int outputs, float scale)
    {
        // The kernels take matrices by address: the arrays come pinned (GC.AllocateArray), so the addresses stay valid.
        _a = a;
        _b = b;
        Rank = rank;
        Scale = scale;
        fixed (float* pa = _a) A = new WeightMatrix((byte*)pa, GgmlType.F32, rank, inputs);
        fixed (float* pb = _b) B = new WeightMatrix((byte*)pb, GgmlType.F32, outputs, rank);
    }

    public WeightMatrix A { get; }
    public WeightMatrix B { get; }
    public int Rank { get; }
    public float Scale { get; }

    /// <summary>Adds s·B·A·x to <paramref name="y"/> for the first <paramref name="tokens"/> rows.</summary>
    public void AddTo(IKernels kernels, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        int inputs = A.Columns, outputs = B.Rows;
        float[] down = ArrayPool<float>.Shared.Rent(tokens * Rank);
        float[] up = ArrayPool<float>.Shared.Rent(tokens * outputs);
        try
        {
            kernels.MatMul(A, x[..(tokens * inputs)], down.AsSpan(0, tokens * Rank), tokens);
            kernels.MatMul(B, down.AsSpan(0, tokens * Rank), up.AsSpan(0, tokens * outputs), tokens);
            var added = up.AsSpan(0, tokens * outputs);
            for (int i = 0; i < added.Length; i++) added[i] *= Scale;
            kernels.Add(y[..(tokens * outputs)], added);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(down);
            ArrayPool<float>.Shared.Return(up);
        }
    }
}

/// <summary>
/// An adapter's low-rank updates read for one loaded model, keyed by the address of the mapped weight each adds to.
/// Sequences carry it (<see cref="InferenceSession.Adapter"/>, <see cref="SequenceSlice.Adapter"/>), so one batched
/// pass can serve the base model and several adapters at once; it only fits the model instance it was read for.
/// </summary>
public sealed class LoraWeights
{
    internal LoraWeights(TransformerModel model, string path, IReadOnlyDictionary<nint, LowRankUpdate> updates)
    {
        Model = model;
        Path = path;
        Updates = updates;
        Bytes = updates.Values.Sum(u => 4L * (u.A.Rows * (long)u.A.Columns + u.B.Rows * (long)u.B.Columns));
    }

    public TransformerModel Model { get; }
    public string Path { get; }
    public IReadOnlyDictionary<nint, LowRankUpdate> Updates { get; }

    /// <summary>Memory the dequantized A and B matrices take.</summary>
    public long Bytes { get; }
}

/// <summary>
/// A llama.cpp LoRA adapter GGUF (general.type "adapter", adapter.type "lora", adapter.lora.alpha, tensors
/// <c>&lt;base tensor&gt;.lora_a</c> [in, rank] and <c>.lora_b</c> [rank, out]) matched against a loaded model. The
/// base weights stay as mapped; <see cref="TransformerModel"/> adds each pair's update after its projection.
/// </summary>
public static unsafe class LoraAdapter
{
    private static readonly string[] Projections = ["attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"];

    private sealed record Pair(string Name, GgufTensorInfo A, GgufTensorInfo B, GgufTensorInfo Target);

    /// <summary>
    /// Reads the adapter at <paramref name="path"/> and applies it to <paramref name="model"/> with <paramref name="scale"/>,
    /// replacing any adapter applied before; it then applies to every sequence that carries no adapter of its own.
    /// </summary>
    public static void Apply(string path, LoadedModel model, float scale = 1f) => model.Model.UseLowRankUpdates(Load(path, model, scale).Updates);

    /// <summary>Reads the adapter at <paramref name="path"/> for <paramref name="model"/> without applying it to the whole model.</summary>
    public static LoraWeights Load(string path, LoadedModel model, float scale = 1f)
    {
        if (!float.IsFinite(scale)) throw new ArgumentException($"LoRA scale must be a finite number, got {scale}");
        using var file = GgufFile.Open(path);
        var (pairs, alpha) = Match(file, path, model.File);
        var updates = new Dictionary<nint, LowRankUpdate>();
        foreach (var (name, a, b, target) in pairs)
        {
            long inputs = target.Shape[0], outputs = target.Shape[1];
            int rank = (int)a.Shape[1];
            float pairScale = alpha != 0 ? scale * alpha / rank : scale;
            updates[(nint)model.File.TensorPointer(target)] =
                new LowRankUpdate(Read(file, a), Read(file, b), (int)inputs, rank, (int)outputs, pairScale);
        }
        return new LoraWeights(model.Model, path, updates);
    }

    /// <summary>
    /// Checks that the adapter at <paramref name="path"/> fits the model file <paramref name="baseFile"/> (architecture,
    /// tensor names and shapes) without reading its weights; throws a <see cref="GgufFormatException"/> naming the problem.
    /// </summary>
    public static void Check(string path, GgufFile baseFile)
    {
        using var file = GgufFile.Open(path);
        Match(file, path, baseFile);
    }

    private static (List<Pair> Pairs, float Alpha) Match(GgufFile file, string path, GgufFile baseFile)
    {
        if (file.GetStringOrNull("general.type") != "adapter")
            throw new GgufFormatException($"{path}: not an adapter (general.type is '{file.GetStringOrNull("general.type")}', expected 'adapter')");
        if (file.GetStringOrNull("adapter.type") != "lora")
            throw new GgufFormatException($"{path}: adapter.type is '{file.GetStringOrNull("adapter.type")}', expected 'lora'");
        string arch = file.GetStringOrNull("general.architecture") ?? "";
        string baseArch = baseFile.GetStringOrNull("general.architecture") ?? "";
        if (arch != baseArch)
            throw new GgufFormatException($"{path}: the adapter is for '{arch}', the model is '{baseArch}'");
        float alpha = file.GetFloat("adapter.lora.alpha", 0f);

        var halves = new Dictionary<string, (GgufTensorInfo? A, GgufTensorInfo? B)>(StringComparer.Ordinal);
        foreach (var tensor in file.Tensors)
        {
            if (tensor.Name.EndsWith(".lora_a", StringComparison.Ordinal))
                halves[tensor.Name[..^7]] = (tensor, halves.GetValueOrDefault(tensor.Name[..^7]).B);
            else if (tensor.Name.EndsWith(".lora_b", StringComparison.Ordinal))
                halves[tensor.Name[..^7]] = (halves.GetValueOrDefault(tensor.Name[..^7]).A, tensor);
            else
                throw new GgufFormatException($"{path}: tensor '{tensor.Name}' is not a LoRA tensor (.lora_a / .lora_b)");
        }

        var pairs = new List<Pair>();
        foreach (var (name, (a, b)) in halves)
        {
            if (a is null || b is null) throw new GgufFormatException($"{path}: LoRA pair for '{name}' is missing its {(a is null ? "lora_a" : "lora_b")}");
            var target = baseFile.FindTensor(name) ?? throw new GgufFormatException($"{path}: LoRA tensor '{name}' does not exist in the base model");
            if (!Projections.Any(p => name.EndsWith($".{p}.weight", StringComparison.Ordinal) && name.StartsWith("blk.", StringComparison.Ordinal)))
                throw new GgufFormatException($"{path}: LoRA on '{name}' is not supported (attention and feed-forward projections only)");
            long inputs = target.Shape[0], outputs = target.Shape[1];
            if (a.Shape.Length != 2 || b.Shape.Length != 2 || a.Shape[0] != inputs || b.Shape[1] != outputs || a.Shape[1] != b.Shape[0])
                throw new GgufFormatException($"{path}: LoRA pair for '{name}' has shapes {a.ShapeText} and {b.ShapeText}, which do not fit the base tensor {target.ShapeText}");
            pairs.Add(new Pair(name, a, b, target));
        }
        return (pairs, alpha);
    }
    private static float[] Read(GgufFile file, GgufTensorInfo tensor)
    {
        var values = GC.AllocateArray<float>(checked((int)tensor.ElementCount), pinned: true);
        int columns = (int)tensor.RowLength;
        long rowBytes = GgmlTypeInfo.RowBytes(tensor.Type, columns);
        var bytes = file.TensorBytes(tensor);
        try
        {
            for (int r = 0; r < tensor.RowCount; r++)
                Quantizer.DequantizeRow(tensor.Type, bytes.Slice((int)(r * rowBytes), (int)rowBytes), values.AsSpan(r * columns, columns));
        }
        catch (NotSupportedException e)
        {
            throw new GgufFormatException($"{file.Path}: tensor '{tensor.Name}' of type {tensor.Type} cannot be read ({e.Message})");
        }
        return values;
    }
}
