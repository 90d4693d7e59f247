namespace Liaoyuan.Training.Data;

/// <summary>Where a <see cref="BatchSampler"/> stands: enough to continue the exact sequence of batches.</summary>
public sealed record DataCursor(long Epoch, int Position, ulong[] ShuffleState);

/// <summary>
/// Cuts a token stream into non-overlapping windows of context + 1 tokens (inputs and their next-token targets)
/// and serves them in a fresh random order each epoch. The order of an epoch is drawn from the RNG state saved
/// at its start, so a cursor of (epoch, position, that state) reproduces every later batch.
/// </summary>
public sealed class BatchSampler
{
    private readonly TokenSource _tokens;
    private readonly int _context;
    private int[] _order = [];
    private TrainingRandom _random;
    private ulong[] _epochState;

    public BatchSampler(TokenSource tokens, int context, ulong seed)
        : this(tokens, context, new DataCursor(0, 0, new TrainingRandom(seed).State))
    {
    }

    public BatchSampler(TokenSource tokens, int context, DataCursor cursor)
    {
        _tokens = tokens;
        _context = context;
        Windows = (int)Math.Min(int.MaxValue, (tokens.Length - 1) / context);
        if (Windows < 1) throw new ArgumentException($"the data has {tokens.Length} tokens, fewer than one window of {context + 1}");
        if (cursor.Position < 0 || cursor.Position > Windows)
            throw new InvalidDataException($"the data cursor (window {cursor.Position}) is past the {Windows} windows of this data; did the training data change since the checkpoint?");
        Epoch = cursor.Epoch;
        Position = cursor.Position;
        _epochState = cursor.ShuffleState;
        _random = TrainingRandom.FromState(cursor.ShuffleState);
        Shuffle();
    }

    public int Windows { get; }
    public long Epoch { get; private set; }
    public int Position { get; private set; }

    public DataCursor Cursor => new(Epoch, Position, _epochState);

    /// <summary>The next <paramref name="sequences"/> windows as (inputs, targets), each sequences × context long.</summary>
    public (int[] Tokens, int[] Targets) Next(int sequences)
    {
        var tokens = new int[sequences * _context];
        var targets = new int[sequences * _context];
        for (int b = 0; b < sequences; b++)
        {
            if (Position == Windows)
            {
                Epoch++;
                Position = 0;
                _epochState = _random.State;
                Shuffle();
            }
            long start = (long)_order[Position++] * _context;
            _tokens.CopyTo(start, tokens.AsSpan(b * _context, _context));
            _tokens.CopyTo(start + 1, targets.AsSpan(b * _context, _context));
        }
        return (tokens, targets);
    }

    /// <summary>Fisher–Yates from the epoch's saved state, leaving the RNG where the next epoch's shuffle begins.</summary>
    private void Shuffle()
    {
        _random = TrainingRandom.FromState(_epochState);
        _order = Enumerable.Range(0, Windows).ToArray();
        for (int i = _order.Length - 1; i > 0; i--)
        {
            int j = _random.NextInt(i + 1);
            (_order[i], _order[j]) = (_order[j], _order[i]);
        }
    }

    /// <summary>Up to <paramref name="batches"/> batches of consecutive windows in stream order: a fixed held-out set.</summary>
    public static IEnumerable<(int[] Tokens, int[] Targets)> Sequential(TokenSource tokens, int context, int sequences, int batches)
    {
        long windows = (tokens.Length - 1) / context;
        int used = (int)Math.Min(batches, windows / sequences);
        for (int batch = 0; batch < used; batch++)
        {
            var x = new int[sequences * context];
            var y = new int[sequences * context];
            for (int b = 0; b < sequences; b++)
            {
                long start = (long)(batch * sequences + b) * context;
                tokens.CopyTo(start, x.AsSpan(b * context, context));
                tokens.CopyTo(start + 1, y.AsSpan(b * context, context));
            }
            yield return (x, y);
        }
    }
}
