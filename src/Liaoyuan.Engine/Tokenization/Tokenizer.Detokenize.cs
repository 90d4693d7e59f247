using System.Text;

namespace Liaoyuan.Engine.Tokenization;

public abstract partial class Tokenizer
{
    /// <summary>
    /// What llama_detokenize returns for these arguments: <paramref name="removeSpecial"/> drops a leading
    /// BOS and trailing EOS that the vocabulary adds, <paramref name="unparseSpecial"/> renders control
    /// tokens; a SentencePiece prefix space is removed from the first piece only; with
    /// <see cref="CleanSpaces"/> spaces before punctuation and some contractions are removed.
    /// </summary>
    public string Detokenize(IReadOnlyList<int> ids, bool removeSpecial = false, bool unparseSpecial = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        int first = 0, count = ids.Count;
        bool stripSpace = AddSpacePrefix;
        if (removeSpecial && AddBos && count > 0 && ids[0] == BosId)
        {
            // llama.cpp then keeps the prefix space; we follow it.
            stripSpace = false;
            first++; count--;
        }
        if (removeSpecial && AddEos && count > 0 && ids[first + count - 1] == EosId) count--;

        var bytes = new List<byte>();
        for (int i = first; i < first + count; i++)
        {
            int id = ids[i];
            var type = _types[CheckId(id)];
            bool hidden = !unparseSpecial && type is TokenType.Control or TokenType.Unknown;
            if (!hidden)
            {
                byte[] piece = TokenBytes(id);
                bytes.AddRange(stripSpace && piece.Length > 0 && piece[0] == (byte)' ' ? piece.AsSpan(1) : piece);
            }
            stripSpace = false; // only ever the first token, even when it printed nothing
        }
        if (CleanSpaces) bytes = CleanUpSpaces(bytes);
        return Encoding.UTF8.GetString([.. bytes]);
    }

    /// <summary>Hugging Face's clean_up_tokenization_spaces as llama.cpp applies it, in three passes.</summary>
    private static List<byte> CleanUpSpaces(List<byte> s)
    {
        // 1. " ?", " !", " .", " ," lose the space.
        var a = new List<byte>(s.Count);
        for (int i = 0; i < s.Count; i++)
        {
            bool beforePunct = s[i] == ' ' && i + 1 < s.Count && s[i + 1] is (byte)'?' or (byte)'!' or (byte)'.' or (byte)',';
            if (!beforePunct) a.Add(s[i]);
        }

        // 2. A lone apostrophe between spaces, " ' ", loses both spaces.
        var b = new List<byte>(a.Count);
        for (int i = 0; i < a.Count; i++)
        {
            if (a[i] == ' ' && i + 2 < a.Count && a[i + 1] == '\'' && a[i + 2] == ' ')
            {
                b.Add((byte)'\'');
                i += 2;
                continue;
            }
            b.Add(a[i]);
        }

        // 3. " 's", " 'm", " 're", " 've" lose the space (" 't", " 'd", " 'll" keep it).
        var c = new List<byte>(b.Count);
        for (int i = 0; i < b.Count; i++)
        {
            if (b[i] == ' ' && i + 2 < b.Count && b[i + 1] == '\'')
            {
                byte x1 = b[i + 2];
                bool join = x1 is (byte)'s' or (byte)'m'
                    || (x1 is not ((byte)'t' or (byte)'d') && i + 3 < b.Count && (x1, b[i + 3]) is ((byte)'r', (byte)'e') or ((byte)'v', (byte)'e'));
                if (join) continue;
            }
            c.Add(b[i]);
        }
        return c;
    }
}

/// <summary>
/// Turns ids into text as they are generated. Bytes of a UTF-8 character split across tokens are held
/// back until the character is complete; <see cref="Flush"/> releases whatever is left.
/// </summary>
public sealed class StreamingDetokenizer
{
    private readonly Tokenizer _tokenizer;
    private readonly bool _renderSpecial;
    private readonly List<byte> _pending = [];
    private Tokenizer.DecodeState _state;

    internal StreamingDetokenizer(Tokenizer tokenizer, bool renderSpecial)
    {
        _tokenizer = tokenizer;
        _renderSpecial = renderSpecial;
    }

    /// <summary>Adds one id and returns the text that is now complete (possibly empty).</summary>
    public string Push(int id)
    {
        _tokenizer.AppendDecoded(id, _renderSpecial, ref _state, _pending);
        int complete = CompletePrefixLength(_pending);
        if (complete == 0) return "";
        string text = Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_pending)[..complete]);
        _pending.RemoveRange(0, complete);
        return text;
    }

    /// <summary>Returns the held-back bytes (an unfinished character becomes U+FFFD) and resets.</summary>
    public string Flush()
    {
        string text = Encoding.UTF8.GetString([.. _pending]);
        _pending.Clear();
        _state = default;
        return text;
    }

    /// <summary>Length of the longest prefix that does not end inside a character that may yet complete.</summary>
    private static int CompletePrefixLength(List<byte> bytes)
    {
        int n = bytes.Count;
        // A character is at most 4 bytes, so only the last 3 can belong to an unfinished one.
        for (int back = 1; back <= Math.Min(3, n); back++)
        {
            byte b = bytes[n - back];
            if ((b & 0xC0) == 0x80) continue; // continuation byte: keep looking for the lead
            int need = b >= 0xF0 && b <= 0xF4 ? 4 : b >= 0xE0 && b < 0xF0 ? 3 : b >= 0xC2 && b < 0xE0 ? 2 : 1;
            return need > back ? n - back : n;
        }
        return n;
    }
}
