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
    private readonly int[] _tokens;
    private readonly int _context;
    private int[] _order = [];
    private TrainingRandom _random;
    private ulong[] _epochState;

    public BatchSampler(int[] tokens, int context, ulong seed)
        : this(tokens, context, new DataCursor(0, 0, new TrainingRandom(seed).State))
    {
    }

    public BatchSampler(int[] tokens, int context, DataCursor cursor)
    {
        _tokens = tokens;
        _context = context;
        Windows = (tokens.Length - 1) / context;
        if (Windows < 1) throw new ArgumentException($"the data has {tokens.Length} tokens, fewer than one window of {context + 1}");
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
            int start = _order[Position++] * _context;
            Array.Copy(_tokens, start, tokens, b * _context, _context);
            Array.Copy(_tokens, start + 1, targets, b * _context, _context);
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
    public static IEnumerable<(int[] Tokens, int[] Targets)> Sequential(int[] tokens, int context, int sequences, int batches)
    {
        int windows = (tokens.Length - 1) / context;
        int used = Math.Min(batches, windows / sequences);
        for (int batch = 0; batch < used; batch++)
        {
            var x = new int[sequences * context];
            var y = new int[sequences * context];
            for (int b = 0; b < sequences; b++)
            {
                int start = (batch * sequences + b) * context;
                Array.Copy(tokens, start, x, b * context, context);
                Array.Copy(tokens, start + 1, y, b * context, context);
            }
            yield return (x, y);
        }
    }
}
