using System.Reflection;
using System.Text;
using Liaoyuan.Engine.Tokenization;
using LLama;
using LLama.Common;
using LLama.Native;
using static Liaoyuan.Engine.Tests.Tokenization.TokenizerTestData;

namespace Liaoyuan.Engine.Tests.Tokenization;

/// <summary>
/// Trains vocabularies, writes them as GGUF, and checks that our tokenizer and llama.cpp (through
/// LLamaSharp, vocab-only) agree token for token on held-out text.
/// </summary>
public sealed class LlamaCppComparisonTests
{
    private static readonly Lazy<Dictionary<string, TrainedVocabulary>> Vocabularies = new(() =>
        new[] { "default", "llama-bpe", "qwen2", "gpt-2" }.ToDictionary(p => p, p => BpeTrainer.TrainByteLevel(Corpus, 1200, p)));

    private static readonly Lazy<TrainedVocabulary> SentencePiece = new(() => BpeTrainer.TrainSentencePiece(Corpus, 1200));

    private static readonly object NativeLock = new();

    private static LLamaWeights LoadLlama(string path)
    {
        lock (NativeLock)
        {
            NativeApi.llama_empty_call();
            return LLamaWeights.LoadFromFile(new ModelParams(path) { VocabOnly = true });
        }
    }

    [Theory]
    [InlineData("default")]
    [InlineData("llama-bpe")]
    [InlineData("qwen2")]
    [InlineData("gpt-2")]
    public void ByteLevelBpe_EncodesLikeLlamaCpp(string pre)
    {
        string path = WriteModel(Vocabularies.Value[pre], "bpe-" + pre);
        AssertSameTokens(path);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SentencePiece_EncodesLikeLlamaCpp(bool addBos)
    {
        var v = SentencePiece.Value;
        string path = WriteModel(v, "spm-" + addBos, w => w.Set("tokenizer.ggml.add_bos_token", addBos));
        AssertSameTokens(path);
    }

    [Fact]
    public void SentencePiece_WithoutSpacePrefix_EncodesLikeLlamaCpp()
    {
        string path = WriteModel(SentencePiece.Value, "spm-noprefix", w => w.Set("tokenizer.ggml.add_space_prefix", false));
        AssertSameTokens(path);
    }

    private static void AssertSameTokens(string path)
    {
        var ours = Load(path);
        using var theirs = LoadLlama(path);
        var vocab = theirs.NativeHandle.Vocab;
        Assert.Equal(vocab.Count, ours.VocabSize);
        Assert.Equal(Id(vocab.BOS), ours.BosId);
        Assert.Equal(Id(vocab.EOS), ours.EosId);
        Assert.Equal(Id(vocab.EOT), ours.EotId);
        Assert.Equal(vocab.ShouldAddBOS, ours.AddBos);
        // Guard against a vacuous comparison: the trained merges must actually be in use.
        Assert.True(ours.Encode(Corpus[0], addSpecial: false).Length * 2 < Encoding.UTF8.GetByteCount(Corpus[0]));

        var failures = new List<string>();
        foreach (string text in HeldOut.Concat(Corpus.Take(12)).Concat(Fuzz(300, seed: 1)))
        {
            foreach (bool addSpecial in new[] { true, false })
            {
                foreach (bool parseSpecial in new[] { true, false })
                {
                    int[] expected = theirs.Tokenize(text, addSpecial, parseSpecial, Encoding.UTF8).Select(t => (int)t).ToArray();
                    int[] actual = ours.Encode(text, addSpecial, parseSpecial);
                    if (!expected.SequenceEqual(actual))
                        failures.Add($"'{Escape(text)}' add={addSpecial} parse={parseSpecial}: llama.cpp {Show(expected)} ours {Show(actual)}");
                }
            }
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("llama-bpe")]
    [InlineData("spm")]
    public void PiecesAndEndOfGeneration_MatchLlamaCpp(string kind)
    {
        string path = kind == "spm" ? WriteModel(SentencePiece.Value, "spm") : WriteModel(Vocabularies.Value[kind], "bpe-" + kind);
        var ours = Load(path);
        using var theirs = LoadLlama(path);
        var vocab = theirs.NativeHandle.Vocab;
        var buffer = new byte[256];
        for (int id = 0; id < ours.VocabSize; id++)
        {
            int n = NativeApi.llama_token_to_piece(vocab, (LLamaToken)id, buffer, 0, true);
            Assert.True(n >= 0, $"piece of {id} longer than the buffer");
            Assert.Equal(Convert.ToHexString(buffer, 0, n), Convert.ToHexString(ours.TokenBytes(id)));
            Assert.Equal(((LLamaToken)id).IsEndOfGeneration(vocab), ours.IsEndOfGeneration(id));
            Assert.Equal(((LLamaToken)id).IsControl(vocab), ours.GetTokenType(id) == TokenType.Control);
        }
    }

    [Theory]
    [InlineData("default")]
    [InlineData("qwen2")]
    [InlineData("spm")]
    public unsafe void Detokenize_MatchesLlamaCpp(string kind)
    {
        string path = kind == "spm" ? WriteModel(SentencePiece.Value, "spm") : WriteModel(Vocabularies.Value[kind], "bpe-" + kind);
        var ours = Load(path);
        using var theirs = LoadLlama(path);
        nint native = VocabPointer(theirs.NativeHandle.Vocab);
        var detokenize = (delegate* unmanaged<nint, int*, int, byte*, int, byte, byte, int>)LlamaExport("llama_detokenize");
        var buffer = new byte[4096];
        string[] extra = ["Hello , world . It 's fine ' quoted ' and I 'm sure , they 've , we 're , I 'll , you 'd , don 't"];
        foreach (string text in HeldOut.Concat(extra).Concat(Fuzz(100, seed: 2)))
        {
            foreach (bool addSpecial in new[] { true, false })
            {
                int[] ids = ours.Encode(text, addSpecial);
                foreach (var (remove, unparse) in new[] { (false, false), (true, false), (false, true), (true, true) })
                {
                    int n;
                    fixed (int* t = ids)
                    fixed (byte* b = buffer)
                    {
                        n = detokenize(native, t, ids.Length, b, buffer.Length, remove ? (byte)1 : (byte)0, unparse ? (byte)1 : (byte)0);
                    }
                    Assert.True(n >= 0);
                    string expected = Encoding.UTF8.GetString(buffer, 0, n);
                    Assert.Equal(expected, ours.Detokenize(ids, remove, unparse));
                }
            }
        }
    }

    // LLamaSharp keeps the llama_vocab pointer and llama_detokenize's binding internal, so we take the
    // pointer by reflection and call the export of the libllama it already loaded.
    private static unsafe nint VocabPointer(SafeLlamaModelHandle.Vocabulary vocab)
    {
        const BindingFlags all = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
        foreach (var f in vocab.GetType().GetFields(all).Where(f => f.FieldType.IsPointer))
            return (nint)Pointer.Unbox(f.GetValue(vocab)!);
        foreach (var p in vocab.GetType().GetProperties(all).Where(p => p.PropertyType.IsPointer))
            return (nint)Pointer.Unbox(p.GetValue(vocab)!);
        throw new InvalidOperationException("LLamaSharp's Vocabulary has no native pointer member");
    }

    private static nint LlamaExport(string name)
    {
        string library = File.ReadLines("/proc/self/maps")
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries).LastOrDefault() ?? "")
            .First(p => Path.GetFileName(p) == "libllama.so");
        return System.Runtime.InteropServices.NativeLibrary.GetExport(System.Runtime.InteropServices.NativeLibrary.Load(library), name);
    }

    private static int Id(LLamaToken? token) => token is { } t ? (int)t : -1;
}
