using System.Diagnostics;
using System.Text;
using Liaoyuan.Engine.Tokenization;
using static Liaoyuan.Engine.Tests.Tokenization.TokenizerTestData;

namespace Liaoyuan.Engine.Tests.Tokenization;

public sealed class BpeTrainerTests
{
    [Fact]
    public void ByteLevelLayout_BytesThenMergesThenSpecials()
    {
        var v = BpeTrainer.TrainByteLevel(Corpus, 700, "qwen2");
        Assert.Equal(700, v.Tokens.Count);
        for (int b = 0; b < 256; b++) Assert.Equal(ByteLevel.Encode((byte)b).ToString(), v.Tokens[b]);
        Assert.Equal(["<|endoftext|>", "<|im_start|>", "<|im_end|>"], v.Tokens.TakeLast(3));
        Assert.All(v.Tokens.TakeLast(3), t => Assert.Equal(TokenType.Control, v.Types[v.IdOf(t)]));
        // Each merge joins two existing tokens into a token of the vocabulary.
        Assert.All(v.Merges!, m =>
        {
            string[] parts = m.Split(' ');
            Assert.Equal(2, parts.Length);
            Assert.True(v.IdOf(parts[0] + parts[1]) >= 256);
        });
        Assert.Equal(v.Tokens.Count, v.Tokens.Distinct().Count());
    }

    [Fact]
    public void TrainingIsDeterministic()
    {
        var a = BpeTrainer.TrainByteLevel(Corpus, 500, "default");
        var b = BpeTrainer.TrainByteLevel(Corpus.ToArray(), 500, "default");
        Assert.Equal(a.Tokens, b.Tokens);
        Assert.Equal(a.Merges, b.Merges);
    }

    [Fact]
    public void TrainedVocabularyCompressesItsCorpus()
    {
        var t = Load(WriteModel(BpeTrainer.TrainByteLevel(Corpus, 1500, "qwen2"), "compress"));
        int bytes = Corpus.Sum(Encoding.UTF8.GetByteCount);
        int tokens = Corpus.Sum(s => t.Encode(s).Length);
        Assert.True(tokens * 2 < bytes, $"{tokens} tokens for {bytes} bytes");
    }

    [Fact]
    public void TrainsFourThousandTokensOnAMegabyteInSeconds()
    {
        // Pseudo-words from random syllables and random CJK characters, so there are thousands of pairs to learn.
        var rng = new Random(7);
        string[] syllables = ["ka", "to", "ri", "men", "sho", "la", "ven", "tur", "qu", "ix", "ble", "str", "an", "ed", "ing", "ou"];
        var texts = new List<string>();
        int size = 0;
        while (size < 1_000_000)
        {
            var line = new StringBuilder(Corpus[rng.Next(Corpus.Length)]);
            for (int w = 0; w < 40; w++)
            {
                line.Append(' ');
                for (int k = rng.Next(1, 4); k > 0; k--) line.Append(syllables[rng.Next(syllables.Length)]);
                if (rng.Next(4) == 0) line.Append((char)(0x4E00 + rng.Next(300)));
            }
            texts.Add(line.ToString());
            size += Encoding.UTF8.GetByteCount(texts[^1]);
        }
        var clock = Stopwatch.StartNew();
        var v = BpeTrainer.TrainByteLevel(texts, 4000, "qwen2", minFrequency: 2);
        clock.Stop();
        Assert.Equal(4000, v.Tokens.Count);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed}");
    }

    [Fact]
    public void SentencePieceLayout()
    {
        var v = BpeTrainer.TrainSentencePiece(Corpus, 800);
        Assert.Equal("llama", v.Model);
        Assert.Equal(["<unk>", "<s>", "</s>", "<0x00>"], v.Tokens.Take(4));
        Assert.Equal(TokenType.Unknown, v.Types[0]);
        Assert.Equal(TokenType.Byte, v.Types[3 + 255]);
        Assert.Equal("<0xFF>", v.Tokens[3 + 255]);
        Assert.Contains("▁the", v.Tokens);
        var t = Load(WriteModel(v, "spm-layout"));
        foreach (string s in HeldOut) Assert.Equal(s, t.Decode(t.Encode(s, parseSpecial: false)));
    }
}
