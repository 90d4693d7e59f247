using System.Globalization;
using System.Text;

namespace Liaoyuan.Engine.Tokenization;

/// <summary>
/// The coarse Unicode classes llama.cpp's pre-tokenizers test (\p{L}, \p{N}, \s, ...).
/// llama.cpp ships its own tables generated from Python's unicodedata; we derive the same
/// classes from .NET's tables, so the two can only differ on code points assigned in
/// different Unicode versions.
/// </summary>
internal static class UnicodeClass
{
    [Flags]
    public enum Flags : ushort
    {
        None = 0,
        Undefined = 0x01,
        Number = 0x02,
        Letter = 0x04,
        Separator = 0x08,
        Mark = 0x10,
        Punctuation = 0x20,
        Symbol = 0x40,
        Control = 0x80,
        Whitespace = 0x100,
    }

    private static readonly Flags[] Bmp = BuildBmp();

    public static Flags Of(int codepoint)
    {
        if (codepoint < 0) return Flags.None; // "outside the text": no class at all
        if (codepoint < Bmp.Length) return Bmp[codepoint];
        if (codepoint > 0x10FFFF) return Flags.None;
        return Compute(codepoint);
    }

    public static bool IsLetter(int cp) => (Of(cp) & Flags.Letter) != 0;
    public static bool IsNumber(int cp) => (Of(cp) & Flags.Number) != 0;
    public static bool IsWhitespace(int cp) => (Of(cp) & Flags.Whitespace) != 0;

    private static Flags[] BuildBmp()
    {
        var table = new Flags[0x10000];
        for (int cp = 0; cp < table.Length; cp++) table[cp] = Compute(cp);
        return table;
    }

    private static Flags Compute(int cp)
    {
        var category = cp is >= 0xD800 and <= 0xDFFF
            ? UnicodeCategory.Surrogate
            : CharUnicodeInfo.GetUnicodeCategory(cp);
        Flags f = category switch
        {
            UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Flags.Letter,
            UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Flags.Number,
            UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark or UnicodeCategory.EnclosingMark => Flags.Mark,
            UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => Flags.Punctuation,
            UnicodeCategory.MathSymbol or UnicodeCategory.CurrencySymbol or UnicodeCategory.ModifierSymbol
                or UnicodeCategory.OtherSymbol => Flags.Symbol,
            UnicodeCategory.SpaceSeparator or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => Flags.Separator,
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse => Flags.Control,
            _ => Flags.Undefined,
        };
        if (IsPythonWhitespace(cp)) f |= Flags.Whitespace;
        return f;
    }

    // llama.cpp's whitespace set is Python's str.isspace(), which (unlike .NET's char.IsWhiteSpace)
    // includes the information separators U+001C..U+001F.
    private static bool IsPythonWhitespace(int cp) => cp switch
    {
        >= 0x09 and <= 0x0D => true,
        >= 0x1C and <= 0x20 => true,
        0x85 or 0xA0 or 0x1680 or 0x2028 or 0x2029 or 0x202F or 0x205F or 0x3000 => true,
        >= 0x2000 and <= 0x200A => true,
        _ => false,
    };

    /// <summary>Code points of a string; unpaired surrogates become U+FFFD, as their UTF-8 encoding would.</summary>
    public static int[] Codepoints(string text)
    {
        var result = new List<int>(text.Length);
        foreach (Rune r in text.EnumerateRunes()) result.Add(r.Value);
        return [.. result];
    }

    public static string FromCodepoints(ReadOnlySpan<int> cps)
    {
        var sb = new StringBuilder(cps.Length);
        foreach (int cp in cps) sb.Append(char.ConvertFromUtf32(cp));
        return sb.ToString();
    }
}
