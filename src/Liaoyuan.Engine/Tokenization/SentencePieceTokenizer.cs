using System.Text;

namespace Liaoyuan.Engine.Tokenization;

/// <summary>
/// tokenizer.ggml.model = "llama": llama.cpp's SentencePiece-BPE. Spaces become ▁, adjacent pieces are
/// merged while their concatenation is a token, highest score first (leftmost on ties), and characters
/// that are not tokens fall back to &lt;0xXX&gt; byte tokens.
/// </summary>
internal sealed class SentencePieceTokenizer(VocabularyData v) : Tokenizer(v)
{
    private const char Space = '\u2581';
    private readonly Dictionary<string, int> _ids = v.Ids;
    private readonly float[] _scores = v.Scores;

    private protected override void EncodeText(string text, bool afterSpecial, List<int> output)
    {
        string s = (AddSpacePrefix && afterSpecial ? " " + text : text).Replace(' ', Space);
        if (s.Length == 0) return;

        // One symbol per code point, as UTF-16 ranges [start, start + len).
        var start = new List<int>(s.Length);
        for (int i = 0; i < s.Length; i += char.IsSurrogatePair(s, i) ? 2 : 1) start.Add(i);
        int n = start.Count;
        var len = new int[n];
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++)
        {
            len[i] = (i + 1 < n ? start[i + 1] : s.Length) - start[i];
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }

        var queue = new PriorityQueue<(int Left, int Right, int Size), (float NegScore, int Left)>();
        void Offer(int left, int right)
        {
            if (left < 0 || right < 0) return;
            int size = len[left] + len[right];
            if (_ids.TryGetValue(s.Substring(start[left], size), out int id))
                queue.Enqueue((left, right, size), (-_scores[id], left));
        }
        for (int i = 0; i + 1 < n; i++) Offer(i, i + 1);

        while (queue.TryDequeue(out var c, out _))
        {
            // A pair is stale once either side has grown or been absorbed; sizes only ever grow.
            if (len[c.Left] == 0 || len[c.Right] == 0 || len[c.Left] + len[c.Right] != c.Size) continue;
            len[c.Left] += len[c.Right];
            len[c.Right] = 0;
            next[c.Left] = next[c.Right];
            if (next[c.Left] >= 0) prev[next[c.Left]] = c.Left;
            Offer(prev[c.Left], c.Left);
            Offer(c.Left, next[c.Left]);
        }

        for (int i = 0; i >= 0; i = next[i])
        {
            string piece = s.Substring(start[i], len[i]);
            if (_ids.TryGetValue(piece, out int id)) { output.Add(id); continue; }
            foreach (byte b in Encoding.UTF8.GetBytes(piece)) output.Add(ByteToken(b));
        }
    }

    private int ByteToken(byte b)
    {
        if (_ids.TryGetValue($"<0x{b:X2}>", out int id)) return id;
        if (b < 0x80 && _ids.TryGetValue(((char)b).ToString(), out id)) return id;
        // llama.cpp aborts here; a vocabulary without byte tokens gets the unknown token from us.
        return UnknownId >= 0 ? UnknownId : throw new InvalidOperationException($"the vocabulary has no token for byte 0x{b:X2}");
    }

    private protected override byte[] ComputePiece(int id)
    {
        string text = TokenText(id);
        return GetTokenType(id) switch
        {
            TokenType.Control or TokenType.UserDefined or TokenType.Unknown => Encoding.UTF8.GetBytes(text),
            TokenType.Normal => Encoding.UTF8.GetBytes(text.Replace(Space, ' ')),
            TokenType.Byte => [ParseByteToken(text)],
            _ => [],
        };
    }
}
