using System.Text;

namespace Liaoyuan.Engine.Tokenization;

/// <summary>
/// A GGUF vocabulary and the tokenizer llama.cpp builds from it. <see cref="Encode"/> gives the ids
/// llama_tokenize gives; <see cref="Detokenize"/> gives the text llama_detokenize gives; <see cref="Decode"/>
/// is the exact inverse of <see cref="Encode"/> (what a chat front end wants).
/// </summary>
public abstract partial class Tokenizer
{
    private readonly string[] _texts;
    private readonly TokenType[] _types;
    private readonly float[] _scores;
    private readonly Dictionary<string, int> _ids;
    private readonly int[] _specialsLongestFirst;
    private readonly HashSet<int> _endOfGeneration;
    private readonly byte[][] _pieces;

    private protected Tokenizer(VocabularyData v)
    {
        _texts = v.Tokens;
        _types = v.Types;
        _scores = v.Scores;
        _ids = v.Ids;
        Model = v.Model;
        PreType = v.Pre;
        BosId = v.Bos; EosId = v.Eos; EotId = v.Eot; EomId = v.Eom;
        UnknownId = v.Unknown; PaddingId = v.Padding; SeparatorId = v.Separator;
        AddBos = v.AddBos; AddEos = v.AddEos; AddSpacePrefix = v.AddSpacePrefix;
        CleanSpaces = v.CleanSpaces;
        ChatTemplate = v.ChatTemplate;
        Warnings = v.Warnings;
        _endOfGeneration = v.EndOfGeneration;

        // The texts that Encode looks for literally, longest first so that a longer special token
        // wins over a shorter one it contains (ties by id, to be deterministic).
        _specialsLongestFirst = Enumerable.Range(0, _texts.Length)
            .Where(i => IsSpecialType(_types[i]))
            .OrderByDescending(i => Encoding.UTF8.GetByteCount(_texts[i])).ThenBy(i => i)
            .ToArray();
        _pieces = new byte[_texts.Length][];
    }

    /// <summary>tokenizer.ggml.model: "gpt2" (byte-level BPE) or "llama" (SentencePiece).</summary>
    public string Model { get; }
    /// <summary>tokenizer.ggml.pre as written in the file (null when absent).</summary>
    public string? PreType { get; }
    public int VocabSize => _texts.Length;
    public int BosId { get; }
    public int EosId { get; }
    /// <summary>End of turn (e.g. &lt;|im_end|&gt;, &lt;|eot_id|&gt;), -1 when the vocabulary has none.</summary>
    public int EotId { get; }
    public int EomId { get; }
    public int UnknownId { get; }
    public int PaddingId { get; }
    public int SeparatorId { get; }
    /// <summary>Whether <see cref="Encode"/> with addSpecial puts BOS first.</summary>
    public bool AddBos { get; }
    public bool AddEos { get; }
    /// <summary>SentencePiece: a space is put before text at the start and after each special token.</summary>
    public bool AddSpacePrefix { get; }
    /// <summary>Whether <see cref="Detokenize"/> removes spaces before punctuation (llama.cpp's clean_spaces).</summary>
    public bool CleanSpaces { get; }
    /// <summary>tokenizer.chat_template (Jinja source), if the file has one.</summary>
    public string? ChatTemplate { get; }
    /// <summary>Things llama.cpp would log as warnings while loading this vocabulary.</summary>
    public IReadOnlyList<string> Warnings { get; }
    public IReadOnlyCollection<int> EndOfGenerationIds => _endOfGeneration;

    public string TokenText(int id) => _texts[CheckId(id)];
    public TokenType GetTokenType(int id) => _types[CheckId(id)];
    public float TokenScore(int id) => _scores[CheckId(id)];
    public int TokenId(string text) => _ids.TryGetValue(text, out int id) ? id : -1;

    /// <summary>True for EOS, EOT, EOM and the other tokens llama.cpp treats as ending generation.</summary>
    public bool IsEndOfGeneration(int id) => id >= 0 && _endOfGeneration.Contains(id);

    /// <summary>Control, user-defined and unknown tokens: matched literally in text, not rendered by default.</summary>
    public bool IsSpecial(int id) => IsSpecialType(_types[CheckId(id)]);

    private static bool IsSpecialType(TokenType t) => t is TokenType.Control or TokenType.UserDefined or TokenType.Unknown;

    private int CheckId(int id) => (uint)id < (uint)_texts.Length
        ? id
        : throw new ArgumentOutOfRangeException(nameof(id), id, $"token id outside the vocabulary of {_texts.Length}");

    /// <summary>
    /// Token ids for <paramref name="text"/>. <paramref name="addSpecial"/> adds BOS/EOS as the vocabulary
    /// asks; <paramref name="parseSpecial"/> turns control-token text such as "&lt;|im_start|&gt;" into the token
    /// (user-defined tokens are always matched, as in llama.cpp).
    /// </summary>
    public int[] Encode(string text, bool addSpecial = true, bool parseSpecial = true)
    {
        ArgumentNullException.ThrowIfNull(text);
        var output = new List<int>(text.Length / 3 + 2);
        if (addSpecial && AddBos) output.Add(BosId);
        bool afterSpecial = true; // the start of the text counts as "after a special token"
        foreach (var (piece, token) in SplitSpecial(text, parseSpecial))
        {
            if (token >= 0) { output.Add(token); afterSpecial = true; continue; }
            EncodeText(piece!, afterSpecial, output);
            afterSpecial = false;
        }
        if (addSpecial && AddEos) output.Add(EosId);
        return [.. output];
    }

    /// <summary>Encodes one stretch of ordinary text (no special tokens in it).</summary>
    private protected abstract void EncodeText(string text, bool afterSpecial, List<int> output);

    /// <summary>
    /// Cuts text at every occurrence of a special token's text, trying the longest tokens first, and
    /// returns the pieces in order: text pieces with token -1, special tokens with their id.
    /// </summary>
    private List<(string? Text, int Token)> SplitSpecial(string text, bool parseSpecial)
    {
        var parts = new List<(string? Text, int Token)>();
        if (text.Length == 0) return parts;
        parts.Add((text, -1));
        foreach (int id in _specialsLongestFirst)
        {
            // Without parseSpecial only user-defined tokens are still cut out (as Hugging Face does).
            if (!parseSpecial && _types[id] != TokenType.UserDefined) continue;
            string needle = _texts[id];
            for (int i = 0; i < parts.Count; i++)
            {
                if (parts[i].Token >= 0) continue;
                string hay = parts[i].Text!;
                int at = hay.IndexOf(needle, StringComparison.Ordinal);
                if (at < 0) continue;
                var replacement = new List<(string?, int)>();
                int from = 0;
                for (; at >= 0; at = hay.IndexOf(needle, from, StringComparison.Ordinal))
                {
                    if (at > from) replacement.Add((hay[from..at], -1));
                    replacement.Add((null, id));
                    from = at + needle.Length;
                }
                if (from < hay.Length) replacement.Add((hay[from..], -1));
                parts.RemoveAt(i);
                parts.InsertRange(i, replacement);
                i += replacement.Count - 1;
            }
        }
        return parts;
    }

    /// <summary>
    /// The bytes token <paramref name="id"/> stands for: byte-level and &lt;0xXX&gt; tokens are decoded,
    /// SentencePiece's ▁ becomes a space, special tokens give their text, unused tokens nothing.
    /// </summary>
    public byte[] TokenBytes(int id)
    {
        CheckId(id);
        return _pieces[id] ??= ComputePiece(id);
    }

    private protected abstract byte[] ComputePiece(int id);

    private protected static byte ParseByteToken(string text) =>
        text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal) && text[5] == '>'
            ? Convert.ToByte(text.Substring(3, 2), 16)
            : throw new FormatException($"byte token '{text}' is not of the form <0xXX>");

    /// <summary>
    /// Text of <paramref name="ids"/>, undoing <see cref="Encode"/> exactly: Decode(Encode(s)) == s.
    /// Special tokens are left out unless <paramref name="renderSpecial"/>.
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool renderSpecial = false)
    {
        var bytes = new List<byte>();
        var state = new DecodeState();
        foreach (int id in ids) AppendDecoded(id, renderSpecial, ref state, bytes);
        return Encoding.UTF8.GetString([.. bytes]);
    }

    internal struct DecodeState
    {
        public bool SeenText;
        public bool AfterSpecial;
    }

    /// <summary>One step of <see cref="Decode"/>; shared with the streaming detokenizer.</summary>
    internal void AppendDecoded(int id, bool renderSpecial, ref DecodeState state, List<byte> output)
    {
        byte[] piece = TokenBytes(id);
        if (IsSpecialType(_types[id]))
        {
            if (renderSpecial || _types[id] == TokenType.UserDefined) output.AddRange(piece);
            state.AfterSpecial = true;
            return;
        }
        // Encode put one space before the text at the start and after each special token.
        bool strip = AddSpacePrefix && (state.AfterSpecial || !state.SeenText);
        state.SeenText = true;
        state.AfterSpecial = false;
        output.AddRange(strip && piece.Length > 0 && piece[0] == (byte)' ' ? piece.AsSpan(1) : piece);
    }

    /// <summary>A detokenizer that hands out text as ids arrive, never splitting a UTF-8 character.</summary>
    public StreamingDetokenizer CreateStreamingDetokenizer(bool renderSpecial = false) => new(this, renderSpecial);
}
