using System.Text;
using Liaoyuan.Engine.Gguf;

namespace Liaoyuan.Engine.Tokenization;

/// <summary>
/// tokenizer.ggml.model = "gpt2": words from the pre-tokenizer are written in GPT-2's byte-level
/// alphabet and merged pair by pair, lowest merge rank first (leftmost on ties), as llama.cpp does.
/// We keep our own merge loop rather than Microsoft.ML.Tokenizers' BPE because llama.cpp's details
/// (Llama 3's whole-word lookup, its regex tables, dropping pieces that are not tokens) must match.
/// </summary>
internal sealed class ByteLevelBpeTokenizer : Tokenizer
{
    private readonly PreTokenizer _pre;
    private readonly bool _ignoreMerges;
    private readonly Dictionary<long, (int Rank, int Merged)> _merges;
    private readonly int[] _byteTokens = new int[256];
    private readonly Dictionary<string, int> _ids;

    public ByteLevelBpeTokenizer(VocabularyData v, string source) : base(v)
    {
        _pre = PreTokenizer.For(v.PreKind);
        _ignoreMerges = v.IgnoreMerges;
        _ids = v.Ids;
        for (int b = 0; b < 256; b++) _byteTokens[b] = _ids.GetValueOrDefault(ByteLevel.Encode((byte)b).ToString(), -1);

        const string key = "tokenizer.ggml.merges";
        string[] merges = v.Merges!;
        _merges = new Dictionary<long, (int, int)>(merges.Length);
        for (int rank = 0; rank < merges.Length; rank++)
        {
            string m = merges[rank];
            int space = m.Length > 1 ? m.IndexOf(' ', 1) : -1; // a merge may start with a space-free "Ġ" but never a space
            if (space < 0)
                throw new GgufFormatException($"{source}: metadata '{key}'[{rank}] = '{m}' is not of the form 'left right'");
            string left = m[..space], right = m[(space + 1)..];
            if (!_ids.TryGetValue(left, out int l) || !_ids.TryGetValue(right, out int r))
                throw new GgufFormatException($"{source}: metadata '{key}'[{rank}] = '{m}' names a token that is not in the vocabulary");
            // The first listing of a pair wins, as in llama.cpp; a merged text missing from the vocabulary
            // still merges, but then falls back to single characters at the end.
            _merges.TryAdd(Key(l, r), (rank, _ids.GetValueOrDefault(left + right, -1)));
        }
    }

    private static long Key(int left, int right) => ((long)left << 32) | (uint)right;

    private protected override void EncodeText(string text, bool afterSpecial, List<int> output)
    {
        int[] cps = UnicodeClass.Codepoints(text);
        int start = 0;
        foreach (int length in _pre.Split(cps))
        {
            string word = ByteLevel.Encode(Encoding.UTF8.GetBytes(UnicodeClass.FromCodepoints(cps.AsSpan(start, length))));
            start += length;
            if (_ignoreMerges && _ids.TryGetValue(word, out int whole)) { output.Add(whole); continue; }
            MergeWord(word, output);
        }
    }

    /// <summary>BPE over one byte-level word; symbols are runs of the word held in a linked list.</summary>
    private void MergeWord(string word, List<int> output)
    {
        int n = word.Length; // byte-level characters are all single UTF-16 units
        var id = new int[n];
        var len = new int[n];
        var next = new int[n];
        var prev = new int[n];
        for (int i = 0; i < n; i++)
        {
            ByteLevel.TryDecode(word[i], out byte b);
            id[i] = _byteTokens[b];
            len[i] = 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            prev[i] = i - 1;
        }

        var queue = new PriorityQueue<(int Left, int Right, int LeftId, int RightId), (int Rank, int Left)>();
        void Offer(int left, int right)
        {
            if (left < 0 || right < 0 || id[left] < 0 || id[right] < 0) return;
            if (_merges.TryGetValue(Key(id[left], id[right]), out var m)) queue.Enqueue((left, right, id[left], id[right]), (m.Rank, left));
        }
        for (int i = 0; i + 1 < n; i++) Offer(i, i + 1);

        while (queue.TryDequeue(out var c, out _))
        {
            // Skip pairs that an earlier merge has changed.
            if (len[c.Left] == 0 || len[c.Right] == 0 || next[c.Left] != c.Right || id[c.Left] != c.LeftId || id[c.Right] != c.RightId)
                continue;
            len[c.Left] += len[c.Right];
            len[c.Right] = 0;
            id[c.Left] = _merges[Key(c.LeftId, c.RightId)].Merged;
            next[c.Left] = next[c.Right];
            if (next[c.Left] >= 0) prev[next[c.Left]] = c.Left;
            Offer(prev[c.Left], c.Left);
            Offer(c.Left, next[c.Left]);
        }

        for (int i = 0; i >= 0; i = next[i])
        {
            if (id[i] >= 0) { output.Add(id[i]); continue; }
            // Not a token: llama.cpp looks each UTF-8 byte of the piece up as a one-byte token, which
            // only ASCII characters can be, and silently drops the rest.
            foreach (byte b in Encoding.UTF8.GetBytes(word.Substring(i, len[i])))
            {
                if (b < 0x80 && _ids.TryGetValue(((char)b).ToString(), out int single)) output.Add(single);
            }
        }
    }

    private protected override byte[] ComputePiece(int id)
    {
        string text = TokenText(id);
        switch (GetTokenType(id))
        {
            case TokenType.Control or TokenType.UserDefined or TokenType.Unknown:
                return Encoding.UTF8.GetBytes(text);
            case TokenType.Byte:
                return [ParseByteToken(text)];
            case TokenType.Normal:
                var bytes = new List<byte>(text.Length);
                foreach (Rune r in text.EnumerateRunes())
                {
                    if (r.Value < 0x10000 && ByteLevel.TryDecode((char)r.Value, out byte b)) { bytes.Add(b); continue; }
                    // llama.cpp's marker for a character outside the byte-level alphabet.
                    string hex = Convert.ToHexStringLower(Encoding.UTF8.GetBytes(r.ToString()));
                    bytes.AddRange(Encoding.UTF8.GetBytes($"[UNK_BYTE_0x{hex}{text}]"));
                }
                return [.. bytes];
            default:
                return [];
        }
    }
}
