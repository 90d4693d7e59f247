using static Liaoyuan.Engine.Tokenization.UnicodeClass;

namespace Liaoyuan.Engine.Tokenization;

internal sealed partial class PreTokenizer
{
    /// <summary>Bounds-checked view of one piece: outside it there is no code point and no class.</summary>
    private readonly ref struct Piece(int[] cps, int from, int to)
    {
        public readonly int From = from, To = to;
        public int Cp(int pos) => pos >= From && pos < To ? cps[pos] : -1;
        public Flags Class(int pos) => Of(Cp(pos));
        public bool Letter(int pos) => (Class(pos) & Flags.Letter) != 0;
        public bool Number(int pos) => (Class(pos) & Flags.Number) != 0;
        public bool Space(int pos) => (Class(pos) & Flags.Whitespace) != 0;

        /// <summary>Neither whitespace, letter nor number, and inside the piece: the "[^\s\p{L}\p{N}]" class.</summary>
        public bool Other(int pos)
        {
            var f = Class(pos);
            return f != Flags.None && (f & (Flags.Whitespace | Flags.Letter | Flags.Number)) == 0;
        }

        /// <summary>Length of an English contraction ('s 't 'm 'd 're 've 'll) starting at pos, or 0.</summary>
        public int Contraction(int pos, bool ignoreCase)
        {
            if (Cp(pos) != '\'' || pos + 1 >= To) return 0;
            int a = Lower(Cp(pos + 1), ignoreCase);
            if (a is 's' or 't' or 'm' or 'd') return 2;
            if (pos + 2 >= To) return 0;
            int b = Lower(Cp(pos + 2), ignoreCase);
            return (a, b) is ('r', 'e') or ('v', 'e') or ('l', 'l') ? 3 : 0;
        }

        private static int Lower(int cp, bool ignoreCase) => ignoreCase && cp is >= 'A' and <= 'Z' ? cp + 32 : cp;

        /// <summary>
        /// Shared tail of both scanners: a whitespace run. It is one word, except that when more text
        /// follows, its last character is left to lead the next word ("\s+(?!\S)").
        /// </summary>
        public int WhitespaceRun(int pos)
        {
            int n = 0;
            while (Space(pos + n)) n++;
            if (n > 1 && Cp(pos + n) >= 0) return n - 1;
            return n > 0 ? n : 1;
        }
    }

    /// <summary>GPT-2: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</summary>
    private sealed class Gpt2Step : Step
    {
        public override void Split(SplitContext text, int from, int to, List<int> output)
        {
            var p = new Piece(text.Codepoints, from, to);
            for (int pos = from; pos < to;)
            {
                int end = Word(p, pos);
                output.Add(end - pos);
                pos = end;
            }
        }

        private static int Word(Piece p, int pos)
        {
            int contraction = p.Contraction(pos, ignoreCase: false);
            if (contraction > 0) return pos + contraction;

            // An optional leading space joins a following run of letters, digits or other symbols.
            int body = p.Cp(pos) == ' ' ? pos + 1 : pos;
            if (p.Letter(body)) { while (p.Letter(body)) body++; return body; }
            if (p.Number(body)) { while (p.Number(body)) body++; return body; }
            if (p.Other(body)) { while (p.Other(body)) body++; return body; }
            return pos + p.WhitespaceRun(pos);
        }
    }

    /// <summary>
    /// Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    /// </summary>
    private sealed class Llama3Step : Step
    {
        public override void Split(SplitContext text, int from, int to, List<int> output)
        {
            var p = new Piece(text.Codepoints, from, to);
            for (int pos = from; pos < to;)
            {
                if (p.Number(pos))
                {
                    // Digits go in groups of at most three, counted from the left.
                    int run = pos;
                    while (p.Number(run)) run++;
                    for (; pos < run; pos += Math.Min(3, run - pos)) output.Add(Math.Min(3, run - pos));
                    continue;
                }
                int end = Word(p, pos);
                output.Add(end - pos);
                pos = end;
            }
        }

        private static int Word(Piece p, int pos)
        {
            int contraction = p.Contraction(pos, ignoreCase: true);
            if (contraction > 0) return pos + contraction;

            int cp = p.Cp(pos);
            // One optional non-letter, non-digit, non-newline character may lead a run of letters.
            if (cp != '\r' && cp != '\n' && (p.Letter(pos) || p.Letter(pos + 1)))
            {
                int end = pos + 1;
                while (p.Letter(end)) end++;
                return end;
            }

            // " ?[^\s\p{L}\p{N}]+[\r\n]*". llama.cpp asks only that the first character exist, so a
            // lone space at the very end of a piece also ends up here (as a word of its own).
            int body = cp == ' ' ? pos + 1 : pos;
            if (p.Other(body) || (cp == ' ' && p.Cp(body) < 0))
            {
                while (p.Other(body)) body++;
                while (p.Cp(body) is '\r' or '\n') body++;
                return body;
            }

            // "\s*[\r\n]+": whitespace up to and including its last line break.
            int lastBreak = -1;
            for (int i = pos; p.Space(i); i++)
            {
                if (p.Cp(i) is '\r' or '\n') lastBreak = i;
            }
            if (lastBreak >= 0) return lastBreak + 1;
            return pos + p.WhitespaceRun(pos);
        }
    }
}
