using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Tokenization;
using static Liaoyuan.Engine.Tests.Tokenization.TokenizerTestData;

namespace Liaoyuan.Engine.Tests.Tokenization;

public sealed class ByteLevelBpeTokenizerTests
{
    /// <summary>256 byte tokens, a few merged words, and special tokens of each kind.</summary>
    private static Tokenizer Tiny(string pre = "qwen2")
    {
        var tokens = Enumerable.Range(0, 256).Select(b => ByteLevel.Encode((byte)b).ToString()).ToList();
        string[] merges = ["h e", "l l", "he ll", "hell o", "Ġ w", "Ġw o"];
        tokens.AddRange(["he", "ll", "hell", "hello", "Ġw", "Ġwo", "xyz", "<|im_start|>", "<|im_end|>", "<tool>"]);
        var types = Enumerable.Repeat((int)TokenType.Normal, tokens.Count).ToArray();
        types[^3] = types[^2] = (int)TokenType.Control;
        types[^1] = (int)TokenType.UserDefined;
        var w = new GgufWriter()
            .Set("tokenizer.ggml.model", "gpt2").Set("tokenizer.ggml.pre", pre)
            .Set("tokenizer.ggml.tokens", tokens.ToArray()).Set("tokenizer.ggml.token_type", types)
            .Set("tokenizer.ggml.merges", merges)
            .Set("tokenizer.ggml.bos_token_id", (uint)(tokens.Count - 3)).Set("tokenizer.ggml.eos_token_id", (uint)(tokens.Count - 2));
        string path = Path.Combine(Path.GetTempPath(), $"tiny-bpe-{Guid.NewGuid():N}.gguf");
        w.Write(path);
        return Load(path);
    }

    [Fact]
    public void MergesApplyInRankOrder()
    {
        var t = Tiny();
        Assert.Equal([t.TokenId("hello"), t.TokenId("Ġwo"), 'r', 'l', 'd'], t.Encode("hello world"));
    }

    [Fact]
    public void Llama3LooksUpWholeWordsBeforeMerging()
    {
        Assert.Equal([Tiny("llama-bpe").TokenId("xyz")], Tiny("llama-bpe").Encode("xyz", addSpecial: false));
        Assert.Equal(['x', 'y', 'z'], Tiny("qwen2").Encode("xyz"));
    }

    [Fact]
    public void AddBosDefaultsFollowThePreType()
    {
        Assert.False(Tiny("qwen2").AddBos);
        var llama3 = Tiny("llama-bpe");
        Assert.True(llama3.AddBos);
        Assert.Equal(llama3.BosId, llama3.Encode("hi")[0]);
    }

    [Fact]
    public void ControlTokensAreParsedOnlyWhenAsked_UserDefinedAlways()
    {
        var t = Tiny();
        int start = t.TokenId("<|im_start|>"), tool = t.TokenId("<tool>");
        Assert.Equal([start, 'h', 'i', tool], t.Encode("<|im_start|>hi<tool>"));
        int[] literal = t.Encode("<|im_start|>hi<tool>", parseSpecial: false);
        Assert.DoesNotContain(start, literal);
        Assert.Equal(tool, literal[^1]);
    }

    [Fact]
    public void EndOfGenerationIncludesEosAndImEnd()
    {
        var t = Tiny();
        Assert.True(t.IsEndOfGeneration(t.TokenId("<|im_end|>")));
        Assert.Equal(t.TokenId("<|im_end|>"), t.EotId);
        Assert.False(t.IsEndOfGeneration(t.TokenId("hello")));
    }

    [Fact]
    public void TokenBytesUndoTheByteLevelAlphabet()
    {
        var t = Tiny();
        Assert.Equal(" wo"u8.ToArray(), t.TokenBytes(t.TokenId("Ġwo")));
        Assert.Equal(new byte[] { 0xE4 }, t.TokenBytes(t.TokenId(ByteLevel.Encode(0xE4).ToString())));
        Assert.Equal("<|im_end|>"u8.ToArray(), t.TokenBytes(t.TokenId("<|im_end|>")));
    }

    [Fact]
    public void DecodeInvertsEncode()
    {
        var t = Tiny();
        foreach (string s in HeldOut)
        {
            Assert.Equal(s, t.Decode(t.Encode(s, parseSpecial: false)));
            Assert.Equal(s, t.Decode(t.Encode(s), renderSpecial: true));
        }
    }
}
