using Liaoyuan.TestSupport;
using Liaoyuan.Training.Data;

namespace Liaoyuan.Training.Tests.Data;

public sealed class TokenDataTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(300)]      // two-byte ids
    [InlineData(100_000)]  // four-byte ids
    public void A_shard_reads_back_the_tokens_it_was_written_with(int vocab)
    {
        var random = new Random(vocab);
        int[] tokens = Enumerable.Range(0, 1000).Select(_ => random.Next(vocab)).ToArray();
        string path = _dir.File($"t{vocab}.tok");
        TokenShard.Write(path, tokens, vocab);
        using var shard = new TokenShard(path);
        Assert.Equal(tokens.Length, shard.Length);
        var back = new int[tokens.Length];
        shard.CopyTo(0, back);
        Assert.Equal(tokens, back);
        Assert.Equal(20 + tokens.Length * (vocab <= 65536 ? 2 : 4), new FileInfo(path).Length);
    }

    [Fact]
    public void Concatenated_shards_read_across_their_boundaries()
    {
        int[] a = [1, 2, 3], b = [4, 5], c = [6, 7, 8, 9];
        var joined = new ConcatenatedTokens([a, b, c]);
        var window = new int[6];
        joined.CopyTo(2, window);
        Assert.Equal([3, 4, 5, 6, 7, 8], window);
        Assert.Throws<ArgumentOutOfRangeException>(() => joined.CopyTo(5, new int[5]));
    }

    [Fact]
    public void A_damaged_shard_is_reported()
    {
        string path = _dir.File("bad.tok");
        TokenShard.Write(path, [1, 2, 3], 300);
        File.WriteAllBytes(path, File.ReadAllBytes(path)[..^1]);
        Assert.Throws<InvalidDataException>(() => new TokenShard(path));
    }

    /// <summary>Prepared shards feed the trainer exactly the tokens the text would have, so training is unchanged.</summary>
    [Fact]
    public void Training_on_prepared_shards_equals_training_on_the_tokenized_text()
    {
        var tokenizer = TrainingTokenizer.Train(TestCorpus.Multilingual.Split('\n'), 300);
        var documents = Enumerable.Repeat(TestCorpus.Multilingual, 4).ToList();
        var summary = PreparedData.Prepare(_dir.Path, tokenizer, documents, heldOutFraction: 0.1, shardTokens: 300);
        Assert.True(summary.TrainShards > 1, "the test needs several shards");
        int[] tokens = TextCorpus.Tokenize(tokenizer.Tokenizer, documents);
        Assert.Equal(tokens.Length, summary.TrainTokens + summary.HeldOutTokens);

        using var prepared = PreparedData.Open(_dir.Path);
        Assert.Equal(300, prepared.Tokenizer.VocabSize);
        var settings = new TrainingSettings { Shape = TinyModels.Shape() with { Vocab = 300 }, BatchSize = 2, Steps = 3, Seed = 9 };
        var fromShards = new Trainer(settings, prepared.Train, threads: 2);
        var fromMemory = new Trainer(settings, tokens[..(int)summary.TrainTokens], threads: 2);
        for (int i = 0; i < 3; i++) Assert.Equal(fromMemory.TrainStep().Loss, fromShards.TrainStep().Loss);
        Assert.Equal(fromMemory.Evaluate(tokens[(int)summary.TrainTokens..], 1), fromShards.Evaluate(prepared.HeldOut, 1));
    }
}
