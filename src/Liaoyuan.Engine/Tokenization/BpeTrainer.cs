using System.Text;

namespace Liaoyuan.Engine.Tokenization;

/// <summary>
/// Trains BPE vocabularies: count the words of a corpus, then repeatedly merge the most frequent
/// adjacent pair of symbols (ties: lowest left id, then lowest right id, so runs are reproducible).
/// </summary>
public static class BpeTrainer
{
    public static readonly string[] DefaultSpecialTokens = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];

    /// <summary>
    /// A byte-level ("gpt2") vocabulary of about <paramref name="vocabSize"/> tokens: the 256 byte
    /// characters (id = byte value), then one token per merge, then <paramref name="specialTokens"/> as
    /// control tokens. Words are cut with the regexes of <paramref name="preType"/> (a tokenizer.ggml.pre
    /// name). BOS and EOS are the first special token; BOS is added when llama.cpp's default for the
    /// pre-type says so (llama-bpe) unless <paramref name="addBos"/> says otherwise.
    /// </summary>
    public static TrainedVocabulary TrainByteLevel(
        IEnumerable<string> texts, int vocabSize, string preType = "qwen2",
        IReadOnlyList<string>? specialTokens = null, int minFrequency = 2, bool? addBos = null)
    {
        ArgumentNullException.ThrowIfNull(texts);
        specialTokens ??= DefaultSpecialTokens;
        if (vocabSize < 256 + specialTokens.Count)
            throw new ArgumentOutOfRangeException(nameof(vocabSize), vocabSize, $"needs room for 256 byte tokens and {specialTokens.Count} special tokens");

        var settings = new VocabularyData { Source = "trainer", Model = "gpt2", Pre = preType, Tokens = [], Scores = [], Types = [], Ids = [] };
        Tokenizer.ApplyPreType(settings);
        if (settings.Warnings.Count > 0) throw new ArgumentException($"unknown pre-tokenizer type '{preType}'", nameof(preType));
        var pre = PreTokenizer.For(settings.PreKind);

        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string text in texts)
        {
            int[] cps = UnicodeClass.Codepoints(text);
            int start = 0;
            foreach (int length in pre.Split(cps))
            {
                string word = ByteLevel.Encode(Encoding.UTF8.GetBytes(UnicodeClass.FromCodepoints(cps.AsSpan(start, length))));
                start += length;
                counts[word] = counts.GetValueOrDefault(word) + 1;
            }
        }

        var alphabet = Enumerable.Range(0, 256).Select(b => ByteLevel.Encode((byte)b).ToString()).ToList();
        var words = counts.Select(kv => (kv.Key.Select(c => { ByteLevel.TryDecode(c, out byte b); return (int)b; }).ToArray(), kv.Value)).ToList();
        var (tokens, merges) = Learn(alphabet, words, vocabSize - specialTokens.Count, minFrequency);

        var types = Enumerable.Repeat(TokenType.Normal, tokens.Count).ToList();
        var idOf = tokens.Select((t, i) => (t, i)).ToDictionary(x => x.t, x => x.i);
        var specialIds = new List<int>();
        foreach (string s in specialTokens)
        {
            // A special text the merges happened to produce is reused rather than duplicated.
            if (!idOf.TryGetValue(s, out int id)) { id = tokens.Count; tokens.Add(s); types.Add(TokenType.Normal); idOf[s] = id; }
            types[id] = TokenType.Control;
            specialIds.Add(id);
        }
        int bosEos = specialIds.Count > 0 ? specialIds[0] : -1;
        return new TrainedVocabulary("gpt2", preType, [.. tokens], new float[tokens.Count], [.. types], [.. merges])
        {
            BosId = bosEos,
            EosId = bosEos,
            AddBos = (addBos ?? settings.AddBos) && bosEos >= 0,
        };
    }

    /// <summary>
    /// A SentencePiece-style ("llama") vocabulary: &lt;unk&gt;, &lt;s&gt;, &lt;/s&gt;, the 256 &lt;0xXX&gt; byte tokens,
    /// every character of the corpus, then pieces learned by BPE over text whose spaces are ▁
    /// (a word is a ▁ and what follows it; line breaks stand alone). A piece's score is minus its
    /// merge rank, so llama.cpp's highest-score-first merging replays the training order.
    /// </summary>
    public static TrainedVocabulary TrainSentencePiece(IEnumerable<string> texts, int vocabSize, int minFrequency = 2)
    {
        ArgumentNullException.ThrowIfNull(texts);
        const char space = '\u2581';
        var counts = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (string text in texts)
        {
            string s = space + text.Replace(' ', space);
            int from = 0;
            for (int i = 1; i <= s.Length; i++)
            {
                bool cut = i == s.Length || s[i] == space || s[i] == '\n' || s[i - 1] == '\n';
                if (!cut) continue;
                string word = s[from..i];
                counts[word] = counts.GetValueOrDefault(word) + 1;
                from = i;
            }
        }

        var charFrequency = new Dictionary<int, long>();
        foreach (var (word, count) in counts)
        {
            foreach (Rune r in word.EnumerateRunes()) charFrequency[r.Value] = charFrequency.GetValueOrDefault(r.Value) + count;
        }
        var prefix = new List<string> { "<unk>", "<s>", "</s>" };
        prefix.AddRange(Enumerable.Range(0, 256).Select(b => $"<0x{b:X2}>"));
        var chars = charFrequency.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key).Select(kv => char.ConvertFromUtf32(kv.Key)).ToList();
        var alphabet = prefix.Concat(chars).ToList();
        var charId = alphabet.Select((t, i) => (t, i)).Skip(prefix.Count).ToDictionary(x => x.t, x => x.i);
        var words = counts.Select(kv => (kv.Key.EnumerateRunes().Select(r => charId[r.ToString()]).ToArray(), kv.Value)).ToList();
        var (tokens, _) = Learn(alphabet, words, vocabSize, minFrequency);

        var types = new TokenType[tokens.Count];
        var scores = new float[tokens.Count];
        for (int i = 0; i < tokens.Count; i++)
        {
            types[i] = i == 0 ? TokenType.Unknown : i < 3 ? TokenType.Control : i < prefix.Count ? TokenType.Byte : TokenType.Normal;
            // Merged pieces score -rank; single characters come last (they are never a merge result).
            int piece = i - alphabet.Count;
            scores[i] = i < prefix.Count ? 0f : piece >= 0 ? -piece : -(tokens.Count + i);
        }
        return new TrainedVocabulary("llama", null, [.. tokens], scores, types, null)
        {
            UnknownId = 0,
            BosId = 1,
            EosId = 2,
            AddBos = true,
        };
    }

    /// <summary>
    /// The BPE loop. Each word is an array of symbol ids with a count; returns the token texts
    /// (alphabet first) and the merges as "left right". Stops at <paramref name="maxTokens"/> tokens or
    /// when no pair occurs <paramref name="minFrequency"/> times.
    /// </summary>
    private static (List<string> Tokens, List<string> Merges) Learn(
        List<string> alphabet, List<(int[] Symbols, long Count)> words, int maxTokens, int minFrequency)
    {
        var tokens = new List<string>(alphabet);
        var idOf = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int i = 0; i < tokens.Count; i++) idOf.TryAdd(tokens[i], i);
        var merges = new List<string>();

        var pairCount = new Dictionary<long, long>();
        var pairWords = new Dictionary<long, HashSet<int>>();
        var heap = new PriorityQueue<long, (long NegCount, long Key)>();
        static long Key(int a, int b) => ((long)a << 32) | (uint)b;

        void Count(int w, int sign, HashSet<long>? touched)
        {
            var (syms, count) = words[w];
            for (int i = 0; i + 1 < syms.Length; i++)
            {
                long k = Key(syms[i], syms[i + 1]);
                pairCount[k] = pairCount.GetValueOrDefault(k) + sign * count;
                touched?.Add(k);
                if (sign > 0)
                {
                    if (!pairWords.TryGetValue(k, out var set)) pairWords[k] = set = [];
                    set.Add(w);
                }
            }
        }
        for (int w = 0; w < words.Count; w++) Count(w, +1, null);
        foreach (var (k, c) in pairCount) heap.Enqueue(k, (-c, k));

        while (tokens.Count < maxTokens && heap.TryDequeue(out long best, out var priority))
        {
            long current = pairCount.GetValueOrDefault(best);
            if (current != -priority.NegCount) continue; // stale entry
            if (current < minFrequency) break;

            int a = (int)(best >> 32), b = (int)(uint)best;
            string text = tokens[a] + tokens[b];
            if (!idOf.TryGetValue(text, out int merged))
            {
                merged = tokens.Count;
                tokens.Add(text);
                idOf[text] = merged;
            }
            merges.Add(tokens[a] + " " + tokens[b]);

            var touched = new HashSet<long>();
            foreach (int w in pairWords[best].ToArray())
            {
                var (syms, count) = words[w];
                var replaced = new List<int>(syms.Length);
                for (int i = 0; i < syms.Length; i++)
                {
                    if (i + 1 < syms.Length && syms[i] == a && syms[i + 1] == b) { replaced.Add(merged); i++; }
                    else replaced.Add(syms[i]);
                }
                if (replaced.Count == syms.Length) continue; // the pair left this word earlier
                Count(w, -1, touched);
                words[w] = ([.. replaced], count);
                Count(w, +1, touched);
            }
            foreach (long k in touched)
            {
                long c = pairCount[k];
                if (c > 0) heap.Enqueue(k, (-c, k));
            }
        }
        return (tokens, merges);
    }
}
