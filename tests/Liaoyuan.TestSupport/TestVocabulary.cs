using Liaoyuan.Engine.Gguf;

namespace Liaoyuan.TestSupport;

/// <summary>A tokenizer vocabulary to put into a test model's GGUF metadata.</summary>
public sealed class TestVocabulary
{
    private readonly Action<GgufWriter> _write;

    public TestVocabulary(int size, Action<GgufWriter> write)
    {
        Size = size;
        _write = write;
    }

    public int Size { get; }

    public void WriteTo(GgufWriter writer) => _write(writer);

    /// <summary>
    /// A byte-level BPE vocabulary: the 256 byte symbols in GPT-2's byte-to-unicode mapping, the given merges
    /// (each "a b" whose concatenation becomes a token) and ChatML special tokens. <paramref name="size"/>, when
    /// given, pads it with filler tokens that BPE never produces, for benchmarks whose speed depends on the
    /// vocabulary's size, not its contents.
    /// </summary>
    public static TestVocabulary ByteLevel(string pre = "qwen2", IReadOnlyList<string>? merges = null, int size = 0)
    {
        var tokens = new List<string>();
        var types = new List<int>();
        foreach (char c in ByteSymbols()) { tokens.Add(c.ToString()); types.Add(1); }
        merges ??= [];
        foreach (string merge in merges) { tokens.Add(merge.Replace(" ", "")); types.Add(1); }
        while (tokens.Count < size - 3) { tokens.Add($"<filler{tokens.Count}>"); types.Add(4); }
        int eos = tokens.Count;
        foreach (string special in new[] { "<|endoftext|>", "<|im_start|>", "<|im_end|>" }) { tokens.Add(special); types.Add(3); }
        return new TestVocabulary(tokens.Count, w =>
        {
            w.Set("tokenizer.ggml.model", "gpt2");
            w.Set("tokenizer.ggml.pre", pre);
            w.Set("tokenizer.ggml.tokens", tokens.ToArray());
            w.Set("tokenizer.ggml.token_type", types.ToArray());
            w.Set("tokenizer.ggml.merges", merges.ToArray());
            w.Set("tokenizer.ggml.eos_token_id", (uint)eos);
            w.Set("tokenizer.ggml.bos_token_id", (uint)eos);
            w.Set("tokenizer.ggml.padding_token_id", (uint)eos);
            w.Set("tokenizer.ggml.add_bos_token", false);
        });
    }

    /// <summary>GPT-2's printable stand-ins for the 256 byte values, in byte order.</summary>
    public static char[] ByteSymbols()
    {
        var symbols = new char[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            symbols[b] = printable ? (char)b : (char)next++;
        }
        return symbols;
    }
}

/// <summary>Vocabularies trained by our own BPE trainer on <see cref="TestCorpus"/>, cached per process.</summary>
public static class TestVocabularies
{
    private static readonly Lazy<Liaoyuan.Engine.Tokenization.TrainedVocabulary> Bpe = new(() =>
        Liaoyuan.Engine.Tokenization.BpeTrainer.TrainByteLevel(CorpusLines(), 600, "qwen2", minFrequency: 1));

    private static readonly Lazy<Liaoyuan.Engine.Tokenization.TrainedVocabulary> SentencePieceVocabulary = new(() =>
        Liaoyuan.Engine.Tokenization.BpeTrainer.TrainSentencePiece(CorpusLines(), 600, minFrequency: 1));

    /// <summary>A byte-level BPE vocabulary (Qwen2 pre-tokenizer) with ChatML special tokens.</summary>
    public static TestVocabulary Multilingual() => From(Bpe.Value);

    /// <summary>A SentencePiece (`llama` model) vocabulary with byte fallback.</summary>
    public static TestVocabulary SentencePiece() => From(SentencePieceVocabulary.Value);

    private static TestVocabulary From(Liaoyuan.Engine.Tokenization.TrainedVocabulary v) => new(v.Tokens.Count, v.WriteTo);

    private static IEnumerable<string> CorpusLines() =>
        TestCorpus.Multilingual.Split('\n').Select(line => line + "\n").Concat(Enumerable.Repeat(TestCorpus.Multilingual, 3));
}
