using System.Diagnostics;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Quantization;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Engine.Quantization;

/// <summary>A quantization that cannot be done as asked (a type with no fallback, a tensor type with no float conversion, ...).</summary>
public sealed class QuantizationException(string message) : Exception(message);

/// <summary>Reported after each tensor is written.</summary>
public sealed record TensorProgress(int Index, int Count, TensorPlan Tensor);

/// <summary>What a quantization produced.</summary>
public sealed record QuantizationSummary(
    long InputBytes, long OutputBytes, TimeSpan Elapsed, IReadOnlyList<TensorPlan> Tensors, bool Requantized)
{
    public int Converted => Tensors.Count(t => t.Converts);
    public int FellBack => Tensors.Count(t => t.FellBack);
}

/// <summary>
/// Writes a quantized copy of a GGUF model, producing the file llama.cpp's quantizer produces for the same input
/// and target (no importance matrix): the same metadata, tensor order, types and bytes. Source tensors may be F32,
/// F16, BF16 or already quantized (those are expanded to floats first, so requantizing loses more precision than
/// quantizing the original). Tensors are converted one at a time in bounded slabs, so memory stays small however
/// large the model is.
/// </summary>
public static class ModelQuantizer
{
    // Floats per slab: the unit of reading, converting and writing (16 MiB of floats).
    private const long SlabElements = 4L << 20;

    // Rows are handed to threads in chunks of at least this many elements, so small tensors stay on one thread.
    private const long ChunkElements = 32 * 512;

    public const uint QuantizationVersion = 2;

    public static QuantizationSummary Quantize(string inputPath, string outputPath, QuantizationTarget target,
        int threads = 0, Action<TensorProgress>? progress = null, CancellationToken cancel = default)
    {
        if (SamePath(inputPath, outputPath))
            throw new QuantizationException($"the output {outputPath} is the input file; choose another path");
        var clock = Stopwatch.StartNew();
        using var input = GgufFile.Open(inputPath);
        var plan = TensorTypeChooser.Plan(input, target);
        foreach (var t in plan.Where(t => t.Converts)) CheckConvertible(t);

        var writer = new GgufWriter();
        foreach (var (key, value) in input.MetadataList)
        {
            // llama.cpp re-adds these two at the end (so they follow the copied keys), and drops split markers
            // because the output is always one file.
            if (key is "general.quantization_version" or "general.file_type" or "split.no" or "split.count" or "split.tensors.count")
                continue;
            writer.Set(key, value);
        }
        writer.Set("general.quantization_version", QuantizationVersion);
        writer.Set("general.file_type", (uint)target.FileType);

        var options = new ParallelOptions
        {
            MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount,
            CancellationToken = cancel,
        };
        for (int i = 0; i < plan.Count; i++)
        {
            var tensor = plan[i];
            int index = i;
            writer.AddTensor(tensor.Name, tensor.Type, tensor.Shape, stream =>
            {
                cancel.ThrowIfCancellationRequested();
                if (tensor.Converts) Convert(input, tensor, stream, options);
                else Copy(input, tensor.Source, stream);
                progress?.Invoke(new TensorProgress(index + 1, plan.Count, tensor));
            });
        }
        writer.Write(outputPath);
        bool requantized = plan.Any(t => t.Converts && GgmlTypeInfo.BlockSize(t.Source.Type) > 1);
        return new QuantizationSummary(input.FileSize, new FileInfo(outputPath).Length, clock.Elapsed, plan, requantized);
    }

    private static bool SamePath(string a, string b)
    {
        string fa = Path.GetFullPath(a), fb = Path.GetFullPath(b);
        if (string.Equals(fa, fb, StringComparison.Ordinal)) return true;
        // Different spellings of one file (links, case-insensitive file systems) are caught by resolving links.
        var ia = new FileInfo(fa);
        var ib = new FileInfo(fb);
        if (!ia.Exists || !ib.Exists) return false;
        string ra = ia.ResolveLinkTarget(true)?.FullName ?? fa, rb = ib.ResolveLinkTarget(true)?.FullName ?? fb;
        return string.Equals(ra, rb, StringComparison.Ordinal);
    }

    /// <summary>Fails before anything is written if a tensor's source type cannot be expanded to floats.</summary>
    private static void CheckConvertible(TensorPlan tensor)
    {
        var source = tensor.Source.Type;
        bool readable = source is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16 or GgmlType.Q4_0 or GgmlType.Q4_1
            or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;
        if (!readable)
            throw new QuantizationException($"tensor '{tensor.Name}' is {source}, which cannot be converted to {tensor.Type}");
    }

    private static unsafe void Copy(GgufFile input, GgufTensorInfo tensor, Stream stream)
    {
        byte* start = input.TensorPointer(tensor);
        for (long done = 0; done < tensor.ByteSize;)
        {
            int length = (int)Math.Min(tensor.ByteSize - done, 1L << 30);
            stream.Write(new ReadOnlySpan<byte>(start + done, length));
            done += length;
        }
    }

    /// <summary>
    /// Converts a tensor slab by slab: each slab's rows are expanded to floats and quantized in parallel chunks
    /// into one buffer, which is then written. Rows are independent, so the bytes do not depend on the threading.
    /// </summary>
    private static unsafe void Convert(GgufFile input, TensorPlan tensor, Stream stream, ParallelOptions options)
    {
        var source = tensor.Source;
        int rowLength = checked((int)source.RowLength);
        long rows = source.RowCount;
        int sourceRowBytes = (int)GgmlTypeInfo.RowBytes(source.Type, rowLength);
        int targetRowBytes = (int)GgmlTypeInfo.RowBytes(tensor.Type, rowLength);
        long slabRows = Math.Max(1, SlabElements / rowLength);
        long chunkRows = Math.Max(1, ChunkElements / rowLength);
        nint sourceBase = (nint)input.TensorPointer(source);
        var buffer = new byte[checked((int)(Math.Min(slabRows, rows) * targetRowBytes))];

        for (long first = 0; first < rows; first += slabRows)
        {
            long count = Math.Min(slabRows, rows - first);
            long chunks = (count + chunkRows - 1) / chunkRows;
            long slabFirst = first;
            Parallel.For(0L, chunks, options, () => new float[rowLength], (chunk, _, floats) =>
            {
                long begin = chunk * chunkRows, end = Math.Min(count, begin + chunkRows);
                for (long r = begin; r < end; r++)
                {
                    var row = new ReadOnlySpan<byte>((byte*)(sourceBase + (slabFirst + r) * sourceRowBytes), sourceRowBytes);
                    Quantizer.DequantizeRow(source.Type, row, floats);
                    Quantizer.QuantizeRow(tensor.Type, floats, buffer.AsSpan((int)(r * targetRowBytes), targetRowBytes));
                }
                return floats;
            }, _ => { });
            stream.Write(buffer, 0, (int)(count * targetRowBytes));
        }
    }
}
