using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Tokenization;
using static Liaoyuan.Engine.Tests.Tokenization.TokenizerTestData;

namespace Liaoyuan.Engine.Tests.Tokenization;

public sealed class TokenizerLoadingTests
{
    private static readonly string[] Bytes = Enumerable.Range(0, 256).Select(b => ByteLevel.Encode((byte)b).ToString()).ToArray();

    private static (string Path, GgufFormatException Error) LoadBroken(Action<GgufWriter> build)
    {
        var w = new GgufWriter();
        build(w);
        string path = Path.Combine(Path.GetTempPath(), $"broken-{Guid.NewGuid():N}.gguf");
        w.Write(path);
        return (path, Assert.Throws<GgufFormatException>(() => Load(path)));
    }

    private static GgufWriter Gpt2(GgufWriter w, string[]? tokens = null, string[]? merges = null) => w
        .Set("tokenizer.ggml.model", "gpt2").Set("tokenizer.ggml.pre", "qwen2")
        .Set("tokenizer.ggml.tokens", tokens ?? Bytes).Set("tokenizer.ggml.merges", merges ?? []);

    [Theory]
    [InlineData("tokens")]
    [InlineData("scores")]
    [InlineData("token_type")]
    [InlineData("merges")]
    [InlineData("merges-shape")]
    [InlineData("bos_token_id")]
    [InlineData("duplicate")]
    [InlineData("model")]
    public void BadMetadataNamesFileAndKey(string fault)
    {
        var (path, error) = LoadBroken(w =>
        {
            switch (fault)
            {
                case "tokens": w.Set("tokenizer.ggml.model", "llama"); break;
                case "scores": Gpt2(w).Set("tokenizer.ggml.scores", new float[3]); break;
                case "token_type": Gpt2(w).Set("tokenizer.ggml.token_type", new int[300]); break;
                case "merges": Gpt2(w, merges: ["Ġ nowhere"]); break;
                case "merges-shape": Gpt2(w, merges: ["nospace"]); break;
                case "bos_token_id": Gpt2(w).Set("tokenizer.ggml.bos_token_id", 999u); break;
                case "duplicate": Gpt2(w, tokens: [.. Bytes, "a"]); break;
                case "model": w.Set("tokenizer.ggml.model", "rwkv").Set("tokenizer.ggml.tokens", Bytes); break;
            }
        });
        Assert.Contains(path, error.Message);
        string key = fault switch
        {
            "merges-shape" => "merges",
            "duplicate" => "tokens",
            _ => fault,
        };
        Assert.Contains("tokenizer.ggml." + key, error.Message);
    }

    [Fact]
    public void MissingMergesIsAnError()
    {
        var (_, error) = LoadBroken(w => w.Set("tokenizer.ggml.model", "gpt2").Set("tokenizer.ggml.tokens", Bytes));
        Assert.Contains("tokenizer.ggml.merges", error.Message);
    }

    [Fact]
    public void UnknownPreTypeFallsBackToDefaultWithAWarning()
    {
        var w = Gpt2(new GgufWriter()).Set("tokenizer.ggml.pre", "no-such-pre").Set("tokenizer.chat_template", "{{ messages }}");
        string path = Path.Combine(Path.GetTempPath(), $"pre-{Guid.NewGuid():N}.gguf");
        w.Write(path);
        var t = Load(path);
        Assert.Contains(t.Warnings, m => m.Contains("no-such-pre"));
        Assert.Equal("{{ messages }}", t.ChatTemplate);
        Assert.Equal(11, t.BosId); // llama.cpp's default for gpt2 vocabularies
        Assert.False(t.AddBos);
    }

    [Fact]
    public void TrainedVocabularyRoundTripsThroughGguf()
    {
        var v = BpeTrainer.TrainByteLevel(Corpus, 500, "llama-bpe");
        var t = Load(WriteModel(v, "roundtrip"));
        Assert.Equal(v.Tokens.Count, t.VocabSize);
        Assert.Equal("gpt2", t.Model);
        Assert.Equal("llama-bpe", t.PreType);
        Assert.True(t.AddBos);
        Assert.Equal(v.IdOf("<|endoftext|>"), t.BosId);
        Assert.Equal(TokenType.Control, t.GetTokenType(v.IdOf("<|im_start|>")));
    }
}
