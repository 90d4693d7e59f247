using System.Globalization;

namespace Liaoyuan.Training.Data;

/// <summary>What <see cref="PreparedData.Prepare"/> wrote.</summary>
public sealed record PreparedDataSummary(long TrainTokens, long HeldOutTokens, int TrainShards, int HeldOutShards);

/// <summary>
/// A corpus tokenized ahead of training: DIR/tokenizer.gguf, DIR/train-NNNNN.tok and DIR/heldout-NNNNN.tok
/// (<see cref="TokenShard"/> files). Training memory-maps the shards instead of reading and tokenizing text.
/// </summary>
public sealed class PreparedData : IDisposable
{
    public const string TokenizerFile = "tokenizer.gguf";
    private readonly List<TokenShard> _shards;

    private PreparedData(TrainingTokenizer tokenizer, List<TokenShard> train, List<TokenShard> heldOut)
    {
        Tokenizer = tokenizer;
        _shards = [.. train, .. heldOut];
        Train = new ConcatenatedTokens(train);
        HeldOut = new ConcatenatedTokens(heldOut);
    }

    public TrainingTokenizer Tokenizer { get; }
    public TokenSource Train { get; }
    public TokenSource HeldOut { get; }

    public static bool IsPrepared(string directory) =>
        Directory.Exists(directory) && File.Exists(Path.Combine(directory, TokenizerFile)) && Directory.GetFiles(directory, "train-*.tok").Length > 0;

    /// <summary>
    /// Tokenizes <paramref name="documents"/> (each followed by the end-of-sequence token), holds out the last
    /// <paramref name="heldOutFraction"/> of the stream and writes both parts in shards of at most
    /// <paramref name="shardTokens"/> tokens, with the tokenizer beside them.
    /// </summary>
    public static PreparedDataSummary Prepare(string directory, TrainingTokenizer tokenizer, IEnumerable<string> documents,
        double heldOutFraction, int shardTokens = 1 << 26)
    {
        if (heldOutFraction is < 0 or >= 1) throw new ArgumentException($"the held-out fraction must be in [0, 1), got {heldOutFraction}");
        if (shardTokens <= 0) throw new ArgumentException($"shard size must be positive, got {shardTokens}");
        Directory.CreateDirectory(directory);
        foreach (string old in Directory.GetFiles(directory, "*.tok")) File.Delete(old);
        // The whole stream is held in memory while the split point is found; training reads it back mapped.
        int[] tokens = TextCorpus.Tokenize(tokenizer.Tokenizer, documents);
        int heldOut = (int)(tokens.LongLength * heldOutFraction);
        if (tokens.Length - heldOut < 2) throw new ArgumentException($"{tokens.Length} tokens are too few to train on");
        int trainShards = WriteShards(directory, "train", tokens.AsSpan(0, tokens.Length - heldOut), shardTokens, tokenizer.VocabSize);
        int heldOutShards = WriteShards(directory, "heldout", tokens.AsSpan(tokens.Length - heldOut), shardTokens, tokenizer.VocabSize);
        tokenizer.Save(Path.Combine(directory, TokenizerFile));
        return new PreparedDataSummary(tokens.Length - heldOut, heldOut, trainShards, heldOutShards);
    }

    public static PreparedData Open(string directory)
    {
        var tokenizer = TrainingTokenizer.Load(Path.Combine(directory, TokenizerFile));
        static List<TokenShard> Shards(string directory, string split) =>
            Directory.GetFiles(directory, $"{split}-*.tok").Order(StringComparer.Ordinal).Select(path => new TokenShard(path)).ToList();
        return new PreparedData(tokenizer, Shards(directory, "train"), Shards(directory, "heldout"));
    }

    private static int WriteShards(string directory, string split, ReadOnlySpan<int> tokens, int shardTokens, int vocabSize)
    {
        int count = 0;
        for (int start = 0; start < tokens.Length; start += shardTokens, count++)
        {
            string name = $"{split}-{count.ToString("D5", CultureInfo.InvariantCulture)}.tok";
            TokenShard.Write(Path.Combine(directory, name), tokens.Slice(start, Math.Min(shardTokens, tokens.Length - start)), vocabSize);
        }
        return count;
    }

    public void Dispose()
    {
        foreach (var shard in _shards) shard.Dispose();
    }
}
