using System.Runtime.InteropServices;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.TestSupport;

/// <summary>The shape of a random-weight test model.</summary>
public sealed record TestModelShape
{
    public string Architecture { get; init; } = "llama";
    public int Embedding { get; init; } = 64;
    public int Layers { get; init; } = 2;
    public int Heads { get; init; } = 4;
    public int KvHeads { get; init; } = 2;
    public int HeadDim { get; init; } = 16;
    public int FeedForward { get; init; } = 128;
    public int Context { get; init; } = 256;
    public bool TiedOutput { get; init; }
    public bool Llama3RopeFactors { get; init; }
    public float RopeBase { get; init; } = 10000f;
    /// <summary>Type of the big matrices; norms stay F32 as llama.cpp's converters write them.</summary>
    public GgmlType MatrixType { get; init; } = GgmlType.F32;
    /// <summary>Type of the token embedding (llama.cpp keeps it quantized too, usually Q8_0 / Q6_K / Q4_K).</summary>
    public GgmlType? EmbeddingType { get; init; }
    public int Seed { get; init; } = 1234;
    /// <summary>Standard deviation of the logits for unit-RMS hidden states; large values make greedy decoding robust.</summary>
    public float OutputScale { get; init; } = 3.0f;
}

/// <summary>
/// Writes random-weight Llama-family GGUF files with the project's own writer, in llama.cpp's tensor names and
/// layouts, so the same file can be run by our engine and by llama.cpp.
/// </summary>
public static class TestModelBuilder
{
    public static void Write(string path, TestModelShape shape, TestVocabulary vocabulary)
    {
        var random = new Random(shape.Seed);
        var w = new GgufWriter();
        string a = shape.Architecture;
        w.Set("general.architecture", a);
        w.Set("general.name", $"liaoyuan-test-{a}");
        w.Set($"{a}.context_length", (uint)shape.Context);
        w.Set($"{a}.embedding_length", (uint)shape.Embedding);
        w.Set($"{a}.block_count", (uint)shape.Layers);
        w.Set($"{a}.feed_forward_length", (uint)shape.FeedForward);
        w.Set($"{a}.attention.head_count", (uint)shape.Heads);
        w.Set($"{a}.attention.head_count_kv", (uint)shape.KvHeads);
        w.Set($"{a}.attention.layer_norm_rms_epsilon", 1e-6f);
        w.Set($"{a}.rope.freq_base", shape.RopeBase);
        if (shape.HeadDim != shape.Embedding / shape.Heads || a == "qwen3")
        {
            w.Set($"{a}.attention.key_length", (uint)shape.HeadDim);
            w.Set($"{a}.attention.value_length", (uint)shape.HeadDim);
        }
        w.Set($"{a}.rope.dimension_count", (uint)shape.HeadDim);
        vocabulary.WriteTo(w);

        int embd = shape.Embedding, vocab = vocabulary.Size;
        int qWidth = shape.Heads * shape.HeadDim, kvWidth = shape.KvHeads * shape.HeadDim;
        Matrix(w, random, "token_embd.weight", embd, vocab, shape.EmbeddingType ?? shape.MatrixType, 1.0f);
        Vector(w, random, "output_norm.weight", embd, 1.0f, 0.1f);
        if (!shape.TiedOutput) Matrix(w, random, "output.weight", embd, vocab, shape.MatrixType, shape.OutputScale / MathF.Sqrt(embd));
        if (shape.Llama3RopeFactors)
        {
            // Llama 3.1's converter stores per-frequency divisors: 1 for high frequencies, up to 8 for low ones.
            var factors = new float[shape.HeadDim / 2];
            for (int i = 0; i < factors.Length; i++) factors[i] = 1.0f + 7.0f * i / (factors.Length - 1);
            F32(w, "rope_freqs.weight", factors, factors.Length);
        }
        for (int l = 0; l < shape.Layers; l++)
        {
            string p = $"blk.{l}.";
            Vector(w, random, p + "attn_norm.weight", embd, 1.0f, 0.1f);
            Matrix(w, random, p + "attn_q.weight", embd, qWidth, shape.MatrixType, 1.0f / MathF.Sqrt(embd));
            Matrix(w, random, p + "attn_k.weight", embd, kvWidth, shape.MatrixType, 1.0f / MathF.Sqrt(embd));
            Matrix(w, random, p + "attn_v.weight", embd, kvWidth, shape.MatrixType, 1.0f / MathF.Sqrt(embd));
            Matrix(w, random, p + "attn_output.weight", qWidth, embd, shape.MatrixType, 1.0f / MathF.Sqrt(qWidth));
            if (a == "qwen2")
            {
                Vector(w, random, p + "attn_q.bias", qWidth, 0.0f, 0.2f);
                Vector(w, random, p + "attn_k.bias", kvWidth, 0.0f, 0.2f);
                Vector(w, random, p + "attn_v.bias", kvWidth, 0.0f, 0.2f);
            }
            if (a == "qwen3")
            {
                Vector(w, random, p + "attn_q_norm.weight", shape.HeadDim, 1.0f, 0.1f);
                Vector(w, random, p + "attn_k_norm.weight", shape.HeadDim, 1.0f, 0.1f);
            }
            Vector(w, random, p + "ffn_norm.weight", embd, 1.0f, 0.1f);
            Matrix(w, random, p + "ffn_gate.weight", embd, shape.FeedForward, shape.MatrixType, 1.0f / MathF.Sqrt(embd));
            Matrix(w, random, p + "ffn_up.weight", embd, shape.FeedForward, shape.MatrixType, 1.0f / MathF.Sqrt(embd));
            Matrix(w, random, p + "ffn_down.weight", shape.FeedForward, embd, shape.MatrixType, 1.0f / MathF.Sqrt(shape.FeedForward));
        }
        w.Write(path);
    }

    private static float Gaussian(Random random)
    {
        double u1 = 1.0 - random.NextDouble(), u2 = random.NextDouble();
        return (float)(Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
    }

    private static void Matrix(GgufWriter w, Random random, string name, int columns, int rows, GgmlType type, float std)
    {
        var values = new float[(long)columns * rows];
        for (int i = 0; i < values.Length; i++) values[i] = Gaussian(random) * std;
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        var bytes = new byte[(long)rowBytes * rows];
        for (int r = 0; r < rows; r++)
            Quantizer.QuantizeRow(type, values.AsSpan(r * columns, columns), bytes.AsSpan(r * rowBytes, rowBytes));
        w.AddTensor(name, type, [columns, rows], bytes);
    }

    private static void Vector(GgufWriter w, Random random, string name, int length, float mean, float std)
    {
        var values = new float[length];
        for (int i = 0; i < length; i++) values[i] = mean + Gaussian(random) * std;
        F32(w, name, values, length);
    }

    private static void F32(GgufWriter w, string name, float[] values, int length) =>
        w.AddTensor(name, GgmlType.F32, [length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
}
