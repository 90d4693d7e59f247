using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Training.Model;

/// <summary>
/// Loads a `llama`-architecture GGUF into a <see cref="LlamaTrainingModel"/> for fine-tuning: every tensor
/// (F32, F16, BF16 or quantized) dequantized to fp32. The training ops implement exactly that architecture, so a
/// file that needs anything else (attention biases, NeoX RoPE, RoPE scaling, a head size other than dim/heads) is
/// refused with the reason rather than trained wrongly.
/// </summary>
public static class PretrainedModel
{
    public const string Architecture = "llama";

    /// <summary>The training shape of the model in <paramref name="file"/>, training on windows of <paramref name="context"/> tokens.</summary>
    public static LlamaShape ReadShape(GgufFile file, int context)
    {
        string arch = file.GetString("general.architecture");
        if (arch != Architecture)
            throw new GgufFormatException($"{file.Path}: fine-tuning supports the '{Architecture}' architecture, not '{arch}'");
        var embedding = file.FindTensor("token_embd.weight") ?? throw new GgufFormatException($"{file.Path}: required tensor 'token_embd.weight' is missing");
        var c = ModelHyperparameters.Read(file, checked((int)embedding.Shape[1]));
        int headDim = c.EmbeddingLength / c.HeadCount;
        if (c.KeyLength != headDim || c.ValueLength != headDim)
            throw new GgufFormatException($"{file.Path}: attention head size {c.KeyLength}/{c.ValueLength} differs from dim/heads = {headDim}, which training does not support");
        if (c.RotaryDims != headDim)
            throw new GgufFormatException($"{file.Path}: RoPE over {c.RotaryDims} of {headDim} head dimensions is not supported in training");
        if (c.RopeFreqScale != 1f || file.FindTensor("rope_freqs.weight") is not null)
            throw new GgufFormatException($"{file.Path}: RoPE frequency scaling is not supported in training");
        if (context <= 0) throw new ArgumentException($"ctx must be positive, got {context}");
        var shape = new LlamaShape
        {
            Vocab = c.VocabSize,
            Layers = c.BlockCount,
            Dim = c.EmbeddingLength,
            Heads = c.HeadCount,
            KvHeads = c.KvHeadCount,
            FeedForward = c.FeedForwardLength,
            Context = context,
            RmsEpsilon = c.RmsEpsilon,
            RopeBase = c.RopeFreqBase,
            TiedEmbeddings = file.FindTensor("output.weight") is null,
        };
        shape.Validate();
        return shape;
    }

    /// <summary>A model of <paramref name="shape"/> (from <see cref="ReadShape"/>) holding the file's weights in fp32.</summary>
    public static LlamaTrainingModel Load(GgufFile file, LlamaShape shape)
    {
        var model = new LlamaTrainingModel(shape);
        var expected = model.Parameters.Select(p => p.Name).ToHashSet();
        foreach (var tensor in file.Tensors)
            if (!expected.Contains(tensor.Name))
                throw new GgufFormatException($"{file.Path}: tensor '{tensor.Name}' is not part of the llama architecture that training implements");
        foreach (var p in model.Parameters)
        {
            var tensor = file.FindTensor(p.Name) ?? throw new GgufFormatException($"{file.Path}: required tensor '{p.Name}' is missing");
            var actual = tensor.Shape.Reverse().SkipWhile(d => d == 1).Reverse();
            var wanted = p.Shape.Reverse().SkipWhile(d => d == 1).Reverse();
            if (!actual.SequenceEqual(wanted))
                throw new GgufFormatException($"{file.Path}: tensor '{p.Name}' has shape {tensor.ShapeText}, expected [{string.Join(", ", p.Shape)}]");
            Dequantize(file, tensor, p.Value);
        }
        return model;
    }

    private static unsafe void Dequantize(GgufFile file, GgufTensorInfo tensor, float[] values)
    {
        int columns = (int)tensor.RowLength;
        long rowBytes = GgmlTypeInfo.RowBytes(tensor.Type, columns);
        byte* data = file.TensorPointer(tensor);
        try
        {
            for (long r = 0; r < tensor.RowCount; r++)
                Quantizer.DequantizeRow(tensor.Type, new ReadOnlySpan<byte>(data + r * rowBytes, (int)rowBytes), values.AsSpan((int)(r * columns), columns));
        }
        catch (NotSupportedException e)
        {
            throw new GgufFormatException($"{file.Path}: tensor '{tensor.Name}' of type {tensor.Type} cannot be read for training ({e.Message})");
        }
    }
}
