using System.Runtime.InteropServices;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Training.Model;

namespace Liaoyuan.Training.Export;

/// <summary>
/// Writes a trained model as a `llama` GGUF that llama.cpp and our engine load: the hyperparameter keys llama.cpp
/// reads, the tokenizer's fields, and the tensors under their llama.cpp names. Matrices are F32 or F16; norm gains
/// stay F32 as llama.cpp's converters keep them. A tied model has no output.weight (llama.cpp and the engine then
/// use token_embd.weight for the output projection).
/// </summary>
public static class GgufExport
{
    public static void Write(string path, LlamaTrainingModel model, Action<GgufWriter> writeTokenizer, GgmlType matrixType = GgmlType.F32, string name = "liaoyuan")
    {
        CheckMatrixType(matrixType);
        var s = model.Shape;
        var w = new GgufWriter();
        w.Set("general.architecture", "llama");
        w.Set("general.name", name);
        // llama_ftype: 0 = all F32, 1 = mostly F16.
        w.Set("general.file_type", matrixType == GgmlType.F16 ? 1u : 0u);
        w.Set("llama.context_length", (uint)s.Context);
        w.Set("llama.embedding_length", (uint)s.Dim);
        w.Set("llama.block_count", (uint)s.Layers);
        w.Set("llama.feed_forward_length", (uint)s.FeedForward);
        w.Set("llama.attention.head_count", (uint)s.Heads);
        w.Set("llama.attention.head_count_kv", (uint)s.KvHeads);
        w.Set("llama.attention.layer_norm_rms_epsilon", s.RmsEpsilon);
        w.Set("llama.rope.freq_base", s.RopeBase);
        w.Set("llama.rope.dimension_count", (uint)s.HeadDim);
        w.Set("llama.vocab_size", (uint)s.Vocab);
        writeTokenizer(w);
        AddTensors(w, model.Parameters, matrixType);
        w.Write(path);
    }

    /// <summary>
    /// Writes a fine-tuned model: every metadata entry of the base file it came from (tokenizer, chat template,
    /// context length, ...) and the model's tensors.
    /// </summary>
    public static void WriteFineTuned(string path, LlamaTrainingModel model, GgufFile baseModel, GgmlType matrixType = GgmlType.F32)
    {
        CheckMatrixType(matrixType);
        if (model.Adapters.Count > 0) throw new ArgumentException("merge the LoRA adapters before writing a full model, or write the adapter");
        var w = new GgufWriter();
        foreach (var (key, value) in baseModel.MetadataList)
            if (key is not ("general.file_type" or "general.alignment")) w.Set(key, value);
        w.Set("general.file_type", matrixType == GgmlType.F16 ? 1u : 0u);
        AddTensors(w, model.Parameters, matrixType);
        w.Write(path);
    }

    /// <summary>
    /// Writes the model's LoRA pairs as a llama.cpp LoRA adapter: general.type "adapter", adapter.type "lora",
    /// adapter.lora.alpha, and each pair as &lt;base tensor&gt;.lora_a [in, rank] and .lora_b [rank, out] in F32.
    /// llama.cpp scales B·A by alpha / rank (rank read from lora_b), as training did.
    /// </summary>
    public static void WriteAdapter(string path, LlamaTrainingModel model, float alpha, string name = "liaoyuan-lora")
    {
        if (model.Adapters.Count == 0) throw new ArgumentException("the model has no LoRA adapters to write");
        var w = new GgufWriter();
        w.Set("general.architecture", PretrainedModel.Architecture);
        w.Set("general.type", "adapter");
        w.Set("general.name", name);
        w.Set("adapter.type", "lora");
        w.Set("adapter.lora.alpha", alpha);
        AddTensors(w, model.Adapters.SelectMany(a => new[] { a.A, a.B }), GgmlType.F32);
        w.Write(path);
    }

    private static void CheckMatrixType(GgmlType matrixType)
    {
        if (matrixType is not (GgmlType.F32 or GgmlType.F16))
            throw new ArgumentException($"export writes F32 or F16 matrices, not {matrixType}", nameof(matrixType));
    }

    private static void AddTensors(GgufWriter w, IEnumerable<Parameter> parameters, GgmlType matrixType)
    {
        foreach (var p in parameters)
        {
            var type = p.Shape.Length == 1 ? GgmlType.F32 : matrixType;
            w.AddTensor(p.Name, type, p.Shape, Encode(p, type));
        }
    }

    private static byte[] Encode(Parameter p, GgmlType type)
    {
        if (type == GgmlType.F32) return MemoryMarshal.AsBytes(p.Value.AsSpan()).ToArray();
        int columns = (int)p.Shape[0];
        int rowBytes = (int)GgmlTypeInfo.RowBytes(type, columns);
        int rows = p.Value.Length / columns;
        var bytes = new byte[(long)rowBytes * rows];
        for (int r = 0; r < rows; r++)
            Quantizer.QuantizeRow(type, p.Value.AsSpan(r * columns, columns), bytes.AsSpan(r * rowBytes, rowBytes));
        return bytes;
    }
}
