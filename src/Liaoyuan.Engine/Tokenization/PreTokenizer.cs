using System.Text.RegularExpressions;

namespace Liaoyuan.Engine.Tokenization;

/// <summary>
/// Splits text into the words that byte-level BPE merges within, the way llama.cpp does: a chain of
/// steps, each of which re-splits every piece left by the previous one. The GPT-2 and Llama-3 patterns
/// are hand-written scanners in llama.cpp (not true regex engines), so we scan the same way; every
/// other pattern runs as a regex over a "collapsed" text in which each non-ASCII code point is replaced
/// by one stand-in character for its class, because that is what llama.cpp's std::regex fallback sees.
/// </summary>
internal sealed partial class PreTokenizer
{
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)";
    public const string Llama3Pattern = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string Qwen2Pattern = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string Qwen35Pattern = @"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
    public const string Gpt4oPattern = @"[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))*((?=[\p{L}])([^A-Z]))+(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|[^\r\n\p{L}\p{N}]?((?=[\p{L}])([^a-z]))+((?=[\p{L}])([^A-Z]))*(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    private readonly Step[] _steps;

    private PreTokenizer(params Step[] steps) => _steps = steps;

    /// <summary>The splitter llama.cpp uses for a pre-tokenizer kind.</summary>
    public static PreTokenizer For(PreTokenizerKind kind) => kind switch
    {
        PreTokenizerKind.Default => new(
            new RegexStep(@"[\p{P}\$\+<=>\^~\|]+"), new Gpt2Step(), new RegexStep(@"\p{N}+"), new RegexStep("[0-9][0-9][0-9]")),
        PreTokenizerKind.Gpt2 => new(new Gpt2Step()),
        PreTokenizerKind.Llama3 => new(new Llama3Step()),
        PreTokenizerKind.Qwen2 => new(new RegexStep(Qwen2Pattern)),
        PreTokenizerKind.Qwen35 => new(new RegexStep(Qwen35Pattern)),
        PreTokenizerKind.StarCoder => new(new RegexStep(@"\p{N}"), new Gpt2Step()),
        PreTokenizerKind.Falcon => new(
            new RegexStep(@"[\p{P}\$\+<=>\^~\|`]+"), new Gpt2Step(), new RegexStep("[0-9][0-9][0-9]")),
        PreTokenizerKind.Gpt4o => new(new RegexStep(Gpt4oPattern)),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    /// <summary>Word lengths, in code points, covering <paramref name="cps"/> in order.</summary>
    public List<int> Split(int[] cps)
    {
        var lengths = new List<int> { cps.Length };
        if (cps.Length == 0) return [];
        var context = new SplitContext(cps);
        foreach (var step in _steps)
        {
            var next = new List<int>(lengths.Count * 2);
            int start = 0;
            foreach (int length in lengths)
            {
                step.Split(context, start, start + length, next);
                start += length;
            }
            lengths = next;
        }
        return lengths;
    }

    /// <summary>The text and its two regex views, built once per call and shared by the steps.</summary>
    private sealed class SplitContext(int[] cps)
    {
        private string? _collapsed, _wide;
        public int[] Codepoints { get; } = cps;
        public string Collapsed => _collapsed ??= Build(collapse: true);
        public string Wide => _wide ??= Build(collapse: false);

        private string Build(bool collapse)
        {
            var chars = new char[Codepoints.Length];
            for (int i = 0; i < chars.Length; i++)
            {
                int cp = Codepoints[i];
                var f = UnicodeClass.Of(cp);
                if (cp < 128) chars[i] = (char)cp;
                // std::regex's \s only knows ASCII whitespace, so llama.cpp maps the others to \v.
                else if ((f & UnicodeClass.Flags.Whitespace) != 0) chars[i] = '\v';
                else if (!collapse) chars[i] = cp < 0x10000 ? (char)cp : '\uFFFF'; // one char per code point
                else chars[i] = CollapsedChar(f);
            }
            return new string(chars);
        }
    }

    private static char CollapsedChar(UnicodeClass.Flags f) => (f & (UnicodeClass.Flags)0xFF) switch
    {
        UnicodeClass.Flags.Number => '\u00D1',
        UnicodeClass.Flags.Letter => '\u00D2',
        UnicodeClass.Flags.Punctuation => '\u00D3',
        UnicodeClass.Flags.Mark => '\u00D4',
        UnicodeClass.Flags.Symbol => '\u00D5',
        _ => '\u00D0',
    };

    private abstract class Step
    {
        /// <summary>Appends the lengths of the words of cps[from..to) to <paramref name="output"/>.</summary>
        public abstract void Split(SplitContext text, int from, int to, List<int> output);
    }

    /// <summary>A regex run piece by piece; gaps between matches become words of their own.</summary>
    private sealed class RegexStep : Step
    {
        private static readonly Dictionary<string, (char Stand, string Ascii)> Classes = new()
        {
            [@"\p{N}"] = ('\u00D1', "0-9"),
            [@"\p{L}"] = ('\u00D2', "A-Za-z"),
            [@"\p{Lu}"] = ('\u00D2', "A-Za-z"),
            [@"\p{Ll}"] = ('\u00D2', "A-Za-z"),
            [@"\p{Lt}"] = ('\u00D2', "A-Za-z"),
            [@"\p{Lm}"] = ('\u00D2', "A-Za-z"),
            [@"\p{Lo}"] = ('\u00D2', "A-Za-z"),
            [@"\p{P}"] = ('\u00D3', @"!-#%-*,-/:-;?-@\[-\]_\{\}"),
            [@"\p{M}"] = ('\u00D4', ""),
            [@"\p{S}"] = ('\u00D5', @"\$\+<->\^`\|"),
        };

        private readonly Regex _regex;
        private readonly bool _collapsed;

        public RegexStep(string pattern)
        {
            _collapsed = Classes.Keys.Any(pattern.Contains);
            _regex = new Regex(_collapsed ? Collapse(pattern) : pattern, RegexOptions.CultureInvariant);
        }

        // Rewrites each \p{..} into a character class over the stand-in character plus its ASCII members.
        private static string Collapse(string pattern)
        {
            var sb = new System.Text.StringBuilder();
            bool inside = false;
            for (int i = 0; i < pattern.Length; i++)
            {
                char c = pattern[i];
                bool escaped = i > 0 && pattern[i - 1] == '\\';
                if (c == '[' && !escaped) { inside = true; sb.Append(c); continue; }
                if (c == ']' && inside && !escaped) { inside = false; sb.Append(c); continue; }
                if (c == '\\' && i + 2 < pattern.Length && pattern[i + 1] == 'p' && pattern[i + 2] == '{')
                {
                    int close = pattern.IndexOf('}', i);
                    if (close > 0 && Classes.TryGetValue(pattern[i..(close + 1)], out var cls))
                    {
                        if (!inside) sb.Append('[');
                        sb.Append(cls.Stand).Append(cls.Ascii);
                        if (!inside) sb.Append(']');
                        i = close;
                        continue;
                    }
                }
                sb.Append(c);
            }
            return sb.ToString();
        }

        public override void Split(SplitContext text, int from, int to, List<int> output)
        {
            string view = (_collapsed ? text.Collapsed : text.Wide)[from..to];
            int done = 0;
            for (var m = _regex.Match(view); m.Success; m = m.NextMatch())
            {
                if (m.Length == 0) continue;
                if (m.Index > done) output.Add(m.Index - done);
                output.Add(m.Length);
                done = m.Index + m.Length;
            }
            if (done < view.Length) output.Add(view.Length - done);
        }
    }
}
