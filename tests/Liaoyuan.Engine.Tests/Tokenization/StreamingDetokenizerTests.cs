using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Tokenization;
using static Liaoyuan.Engine.Tests.Tokenization.TokenizerTestData;

namespace Liaoyuan.Engine.Tests.Tokenization;

public sealed class StreamingDetokenizerTests
{
    /// <summary>Only the 256 byte tokens, so every UTF-8 byte is its own token.</summary>
    private static Tokenizer BytesOnly()
    {
        var tokens = Enumerable.Range(0, 256).Select(b => ByteLevel.Encode((byte)b).ToString()).ToArray();
        var w = new GgufWriter().Set("tokenizer.ggml.model", "gpt2").Set("tokenizer.ggml.pre", "qwen2")
            .Set("tokenizer.ggml.tokens", tokens).Set("tokenizer.ggml.merges", Array.Empty<string>());
        string path = Path.Combine(Path.GetTempPath(), $"bytes-{Guid.NewGuid():N}.gguf");
        w.Write(path);
        return Load(path);
    }

    [Fact]
    public void NeverSplitsThreeOrFourByteCharacters()
    {
        var t = BytesOnly();
        const string text = "a中文😀b🦀é€";
        int[] ids = t.Encode(text);
        Assert.Equal(System.Text.Encoding.UTF8.GetByteCount(text), ids.Length);

        var stream = t.CreateStreamingDetokenizer();
        var chunks = ids.Select(stream.Push).ToList();
        chunks.Add(stream.Flush());
        Assert.Equal(text, string.Concat(chunks));
        Assert.DoesNotContain(chunks, c => c.Contains('\uFFFD'));
        // The first three bytes of 中 give nothing until the third arrives.
        Assert.Equal(["a", "", "", "中"], chunks.Take(4));
        // 😀 is four bytes: three held back, then the whole surrogate pair at once.
        int emoji = 1 + 3 + 3;
        Assert.Equal(["", "", "", "😀"], chunks.Skip(emoji).Take(4));
    }

    [Fact]
    public void FlushReleasesAnUnfinishedCharacterAsReplacement()
    {
        var t = BytesOnly();
        int[] ids = t.Encode("😀");
        var stream = t.CreateStreamingDetokenizer();
        Assert.Equal("", stream.Push(ids[0]) + stream.Push(ids[1]));
        Assert.Equal("\uFFFD", stream.Flush());
    }

    [Fact]
    public void MatchesDecodeOnRealVocabularies()
    {
        var v = BpeTrainer.TrainByteLevel(Corpus, 600, "qwen2");
        var t = Load(WriteModel(v, "stream"));
        foreach (string s in HeldOut.Concat(Corpus))
        {
            int[] ids = t.Encode(s);
            var stream = t.CreateStreamingDetokenizer(renderSpecial: true);
            string streamed = string.Concat(ids.Select(stream.Push)) + stream.Flush();
            Assert.Equal(t.Decode(ids, renderSpecial: true), streamed);
            Assert.Equal(s, streamed);
        }
    }
}
