namespace Liaoyuan.Training.Data;

/// <summary>Where a <see cref="BatchSampler"/> stands: enough to continue the exact sequence of batches.</summary>
public sealed record DataCursor(long Epoch, int Position, ulong[] ShuffleState);

/// <summary>
/// Serves the windows of a <see cref="TrainingWindows"/> (for a token stream: non-overlapping windows of context + 1
/// tokens, inputs and their next-token targets) in a fresh random order each epoch. The order of an epoch is drawn from the RNG state saved
/// at its start, so a cursor of (epoch, position, that state) reproduces every later batch.
/// </summary>
public sealed class BatchSampler
{
    private readonly TrainingWindows _windows;
    private readonly int _context;
    private int[] _order = [];
    private TrainingRandom _random;
    private ulong[] _epochState;

    public BatchSampler(TokenSource tokens, int context, ulong seed)
        : this(tokens, context, new DataCursor(0, 0, new TrainingRandom(seed).State))
    {
    }

    public BatchSampler(TokenSource tokens, int context, DataCursor cursor)
        : this(StreamOfAtLeastOneWindow(tokens, context), cursor)
    {
    }

    private static StreamWindows StreamOfAtLeastOneWindow(TokenSource tokens, int context) =>
        tokens.Length - 1 >= context ? new StreamWindows(tokens, context)
            : throw new ArgumentException($"the data has {tokens.Length} tokens, fewer than one window of {context + 1}");

    public BatchSampler(TrainingWindows windows, ulong seed)
        : this(windows, new DataCursor(0, 0, new TrainingRandom(seed).State))
    {
    }

    public BatchSampler(TrainingWindows windows, DataCursor cursor)
    {
        _windows = windows;
        _context = windows.Context;
        Windows = windows.Count;
        if (Windows < 1) throw new ArgumentException("the data has no training window");
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
            _windows.CopyTo(_order[Position++], tokens.AsSpan(b * _context, _context), targets.AsSpan(b * _context, _context));
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
    public static IEnumerable<(int[] Tokens, int[] Targets)> Sequential(TokenSource tokens, int context, int sequences, int batches) =>
        Sequential(new StreamWindows(tokens, context), sequences, batches);

    /// <summary>
    /// Up to <paramref name="batches"/> batches of the windows in order: a fixed held-out set. With
    /// <paramref name="padLastBatch"/> a last, partial batch is filled with unscored windows rather than left out.
    /// </summary>
    public static IEnumerable<(int[] Tokens, int[] Targets)> Sequential(TrainingWindows windows, int sequences, int batches, bool padLastBatch = false)
    {
        int context = windows.Context;
        int full = windows.Count / sequences;
        int used = Math.Min(batches, padLastBatch ? (windows.Count + sequences - 1) / sequences : full);
        for (int batch = 0; batch < used; batch++)
        {
            var x = new int[sequences * context];
            var y = new int[sequences * context];
            for (int b = 0; b < sequences; b++)
            {
                int index = batch * sequences + b;
                if (index < windows.Count) windows.CopyTo(index, x.AsSpan(b * context, context), y.AsSpan(b * context, context));
                else Array.Fill(y, Ops.CrossEntropy.Ignored, b * context, context);
            }
            yield return (x, y);
        }
    }
}
