using System.Text;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Tokenization;
using static Liaoyuan.Engine.Tests.Tokenization.TokenizerTestData;

namespace Liaoyuan.Engine.Tests.Tokenization;

public sealed class SentencePieceTokenizerTests
{
    /// <summary>&lt;unk&gt; &lt;s&gt; &lt;/s&gt;, 256 byte tokens, then scored pieces.</summary>
    private static Tokenizer Tiny(Action<GgufWriter>? extra = null)
    {
        var tokens = new List<string> { "<unk>", "<s>", "</s>" };
        tokens.AddRange(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"));
        var pieces = new (string Text, float Score)[]
        {
            ("▁", -100), ("h", -100), ("e", -100), ("l", -100), ("o", -100), ("w", -100), ("r", -100), ("d", -100),
            ("ll", -1), ("he", -2), ("hell", -3), ("hello", -4), ("▁hello", -5), ("▁w", -6), ("or", -7), ("▁wor", -8),
        };
        tokens.AddRange(pieces.Select(p => p.Text));
        var scores = new float[3 + 256].Concat(pieces.Select(p => p.Score)).ToArray();
        var types = new[] { 2, 3, 3 }.Concat(Enumerable.Repeat(6, 256)).Concat(Enumerable.Repeat(1, pieces.Length)).ToArray();
        var w = new GgufWriter()
            .Set("tokenizer.ggml.model", "llama")
            .Set("tokenizer.ggml.tokens", tokens.ToArray()).Set("tokenizer.ggml.scores", scores).Set("tokenizer.ggml.token_type", types);
        extra?.Invoke(w);
        string path = Path.Combine(Path.GetTempPath(), $"tiny-spm-{Guid.NewGuid():N}.gguf");
        w.Write(path);
        return Load(path);
    }

    [Fact]
    public void AddsBosAndASpacePrefix_ThenMergesByScore()
    {
        var t = Tiny();
        Assert.Equal((1, 2, 0), (t.BosId, t.EosId, t.UnknownId));
        Assert.True(t.AddBos);
        Assert.Equal([1, t.TokenId("▁hello"), t.TokenId("▁wor"), t.TokenId("l"), t.TokenId("d")], t.Encode("hello world"));
    }

    [Fact]
    public void CharactersOutsideTheVocabularyFallBackToBytes()
    {
        var t = Tiny();
        int[] ids = t.Encode("中", addSpecial: false);
        byte[] utf8 = Encoding.UTF8.GetBytes("中");
        Assert.Equal(new[] { t.TokenId("▁") }.Concat(utf8.Select(b => t.TokenId($"<0x{b:X2}>"))), ids);
        Assert.Equal(utf8, ids.Skip(1).SelectMany(t.TokenBytes));
    }

    [Fact]
    public void SpecialTokensInTextAreParsed_AndTextAfterThemGetsTheSpacePrefix()
    {
        var t = Tiny();
        Assert.Equal([1, t.TokenId("▁hello"), 2, 1, t.TokenId("▁hello")], t.Encode("<s>hello</s><s>hello", addSpecial: false));
        Assert.DoesNotContain(2, t.Encode("hello</s>", parseSpecial: false));
    }

    [Fact]
    public void AddSpacePrefixCanBeTurnedOff()
    {
        var t = Tiny(w => w.Set("tokenizer.ggml.add_space_prefix", false).Set("tokenizer.ggml.add_bos_token", false));
        Assert.Equal([t.TokenId("hello")], t.Encode("hello"));
    }

    [Fact]
    public void DecodeInvertsEncode_DetokenizeKeepsLlamaCppsLeadingSpace()
    {
        var t = Tiny();
        foreach (string s in HeldOut)
        {
            Assert.Equal(s, t.Decode(t.Encode(s, parseSpecial: false)));
        }
        Assert.Equal("hello world", t.Decode(t.Encode("hello world")));
        // llama_detokenize strips the prefix space only when the first token is text.
        Assert.Equal(" hello", t.Detokenize(t.Encode("hello")));
        Assert.Equal("hello", t.Detokenize(t.Encode("hello", addSpecial: false)));
    }
}
