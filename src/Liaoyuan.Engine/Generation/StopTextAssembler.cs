using System.Text;

namespace Liaoyuan.Engine.Generation;

/// <summary>
/// Turns token bytes into text for streaming: never splits a UTF-8 character, cuts the output at the first stop
/// string, and holds back a tail that could still grow into a stop string so that no part of one is ever sent.
/// </summary>
public sealed class StopTextAssembler(IReadOnlyList<string> stops)
{
    private readonly List<byte> _pending = [];
    private readonly StringBuilder _held = new();
    private readonly int _longestStop = stops.Count == 0 ? 0 : stops.Max(s => s.Length);

    public bool Stopped { get; private set; }

    /// <summary>Adds a token's bytes; returns the text that may be sent now.</summary>
    public string Push(ReadOnlySpan<byte> bytes)
    {
        if (Stopped) return "";
        foreach (byte b in bytes) _pending.Add(b);
        _held.Append(TakeCompleteUtf8(_pending));
        string text = _held.ToString();
        int stopAt = FindStop(text);
        if (stopAt >= 0)
        {
            Stopped = true;
            _held.Clear();
            _pending.Clear();
            return text[..stopAt];
        }
        int keep = _longestStop == 0 ? 0 : Math.Min(text.Length, _longestStop - 1);
        while (keep > 0 && !stops.Any(s => s.StartsWith(text[^keep..], StringComparison.Ordinal))) keep--;
        _held.Clear().Append(text[^keep..]);
        return text[..^keep];
    }

    /// <summary>The held-back text and any incomplete character (as U+FFFD), at the end of generation.</summary>
    public string Flush()
    {
        string tail = _held + (_pending.Count > 0 ? Encoding.UTF8.GetString([.. _pending]) : "");
        _held.Clear();
        _pending.Clear();
        return tail;
    }

    private int FindStop(string text)
    {
        int best = -1;
        foreach (string stop in stops)
        {
            if (stop.Length == 0) continue;
            int at = text.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (best < 0 || at < best)) best = at;
        }
        return best;
    }

    /// <summary>Decodes and removes the longest prefix of <paramref name="bytes"/> made of complete UTF-8 characters.</summary>
    public static string TakeCompleteUtf8(List<byte> bytes)
    {
        int end = bytes.Count;
        for (int back = 1; back <= Math.Min(4, bytes.Count); back++)
        {
            byte b = bytes[bytes.Count - back];
            if ((b & 0xC0) == 0x80) continue;
            int length = b < 0x80 ? 1 : (b & 0xE0) == 0xC0 ? 2 : (b & 0xF0) == 0xE0 ? 3 : (b & 0xF8) == 0xF0 ? 4 : 1;
            if (length > back) end = bytes.Count - back;
            break;
        }
        string text = Encoding.UTF8.GetString(bytes.GetRange(0, end).ToArray());
        bytes.RemoveRange(0, end);
        return text;
    }
}
