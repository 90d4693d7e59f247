using LLama;
using LLama.Common;
using LLama.Native;

namespace Liaoyuan.TestSupport;

/// <summary>
/// llama.cpp (through LLamaSharp's CPU backend) run on the same GGUF file, as the reference our engine must match.
/// Attention runs without flash attention so its arithmetic is plain float32 (or the F16 cache) like ours.
/// With <c>loraPath</c>, llama.cpp applies that LoRA adapter GGUF at <c>loraScale</c> to every evaluation.
/// </summary>
public sealed class LlamaCppReference : IDisposable
{
    private static readonly Lock LoadLock = new();
    private readonly LLamaWeights _weights;
    private readonly LLamaContext _context;

    public LlamaCppReference(string path, int contextSize = 256, bool f32Cache = true, int threads = 2, string? loraPath = null, float loraScale = 1f)
    {
        lock (LoadLock)
        {
            NativeApi.llama_empty_call();
        }
        var parameters = new ModelParams(path)
        {
            ContextSize = (uint)contextSize,
            BatchSize = (uint)contextSize,
            UBatchSize = (uint)Math.Min(contextSize, 512),
            Threads = threads,
            BatchThreads = threads,
            GpuLayerCount = 0,
            FlashAttention = false,
            TypeK = f32Cache ? GGMLType.GGML_TYPE_F32 : GGMLType.GGML_TYPE_F16,
            TypeV = f32Cache ? GGMLType.GGML_TYPE_F32 : GGMLType.GGML_TYPE_F16,
        };
        _weights = LLamaWeights.LoadFromFile(parameters);
        _context = _weights.CreateContext(parameters);
        VocabSize = _weights.Vocab.Count;
        if (loraPath is not null)
        {
            var adapter = _weights.NativeHandle.LoadLoraFromFile(loraPath);
            _context.NativeHandle.SetLoraAdapters([(adapter, loraScale)]);
        }
    }

    public int VocabSize { get; }

    public int[] Tokenize(string text, bool addBos, bool special = true) =>
        _context.Tokenize(text, addBos, special).Select(t => (int)t).ToArray();

    /// <summary>Logits after every token of a fresh sequence (tokens × vocab).</summary>
    public float[] AllLogits(IReadOnlyList<int> tokens)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int i = 0; i < tokens.Count; i++) batch.Add((LLamaToken)tokens[i], i, LLamaSeqId.Zero, true);
        var result = _context.NativeHandle.Decode(batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama.cpp decode failed: {result}");
        var logits = new float[tokens.Count * VocabSize];
        for (int i = 0; i < tokens.Count; i++) _context.NativeHandle.GetLogitsIth(i).CopyTo(logits.AsSpan(i * VocabSize, VocabSize));
        return logits;
    }

    public float[] LastLogits(IReadOnlyList<int> tokens)
    {
        var all = AllLogits(tokens);
        return all.AsSpan((tokens.Count - 1) * VocabSize, VocabSize).ToArray();
    }

    /// <summary>Greedy continuation, decoding one token at a time as a chat client would.</summary>
    public int[] Greedy(IReadOnlyList<int> prompt, int count)
    {
        _context.NativeHandle.MemoryClear(true);
        var batch = new LLamaBatch();
        for (int i = 0; i < prompt.Count; i++) batch.Add((LLamaToken)prompt[i], i, LLamaSeqId.Zero, i == prompt.Count - 1);
        if (_context.NativeHandle.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama.cpp decode failed");
        var output = new List<int>();
        int position = prompt.Count;
        for (int n = 0; n < count; n++)
        {
            var logits = _context.NativeHandle.GetLogitsIth(batch.TokenCount - 1);
            int best = 0;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
            output.Add(best);
            batch.Clear();
            batch.Add((LLamaToken)best, position++, LLamaSeqId.Zero, true);
            if (_context.NativeHandle.Decode(batch) != DecodeResult.Ok) throw new InvalidOperationException("llama.cpp decode failed");
        }
        return output.ToArray();
    }

    /// <summary>
    /// llama-perplexity's algorithm over llama.cpp's own logits: ctx-token chunks, the first token of each replaced by
    /// BOS when the model adds one, the second half of each chunk scored.
    /// </summary>
    public double Perplexity(string text, int ctx, bool addBos, int bosId)
    {
        int[] tokens = Tokenize(text, addBos);
        int chunks = tokens.Length / ctx;
        double nll = 0;
        int count = 0;
        for (int c = 0; c < chunks; c++)
        {
            var input = tokens.AsSpan(c * ctx, ctx).ToArray();
            if (addBos) input[0] = bosId;
            float[] logits = AllLogits(input);
            for (int j = ctx / 2; j < ctx - 1; j++)
            {
                nll -= Engine.Evaluation.Perplexity.LogSoftmaxAt(logits.AsSpan(j * VocabSize, VocabSize), tokens[c * ctx + j + 1]);
                count++;
            }
        }
        return Math.Exp(nll / count);
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
