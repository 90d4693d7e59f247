using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.TestSupport;

/// <summary>How one tensor of a file compares with the same-named tensor of a reference file.</summary>
public sealed record TensorDifference(string Name, GgmlType Type, GgmlType ReferenceType, long Blocks, long DifferingBlocks)
{
    public bool SameType => Type == ReferenceType;
    public bool Identical => SameType && DifferingBlocks == 0;

    public override string ToString() => SameType
        ? $"{Name} {Type}: {DifferingBlocks}/{Blocks} blocks differ ({100.0 * DifferingBlocks / Math.Max(1, Blocks):F2}%)"
        : $"{Name}: {Type}, reference {ReferenceType}";
}

/// <summary>Tensor-by-tensor and metadata comparison of two GGUF files.</summary>
public static class GgufComparison
{
    /// <summary>Differences per tensor (reference order); a tensor missing from either file fails the assertion.</summary>
    public static IReadOnlyList<TensorDifference> CompareTensors(string path, string referencePath)
    {
        using var file = GgufFile.Open(path);
        using var reference = GgufFile.Open(referencePath);
        Assert.Equal(reference.Tensors.Select(t => t.Name), file.Tensors.Select(t => t.Name));
        var result = new List<TensorDifference>();
        foreach (var expected in reference.Tensors)
        {
            var actual = file.FindTensor(expected.Name)!;
            Assert.Equal(expected.Shape, actual.Shape);
            if (actual.Type != expected.Type)
            {
                result.Add(new TensorDifference(expected.Name, actual.Type, expected.Type, 0, 0));
                continue;
            }
            int blockBytes = GgmlTypeInfo.TypeSize(expected.Type);
            var a = file.TensorBytes(actual);
            var b = reference.TensorBytes(expected);
            long blocks = b.Length / blockBytes, differing = 0;
            for (long i = 0; i < blocks; i++)
            {
                int at = (int)(i * blockBytes);
                if (!a.Slice(at, blockBytes).SequenceEqual(b.Slice(at, blockBytes))) differing++;
            }
            result.Add(new TensorDifference(expected.Name, actual.Type, expected.Type, blocks, differing));
        }
        return result;
    }

    /// <summary>Metadata keys in order with their rendered values, for comparing two files' headers.</summary>
    public static IReadOnlyList<string> MetadataLines(string path)
    {
        using var file = GgufFile.Open(path);
        return file.MetadataList.Select(kv => $"{kv.Key} {kv.Value.Type}/{kv.Value.ElementType} {kv.Value.Describe(int.MaxValue)}").ToList();
    }
}
