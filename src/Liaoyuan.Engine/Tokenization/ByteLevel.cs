namespace Liaoyuan.Engine.Tokenization;

/// <summary>
/// GPT-2's reversible byte ↔ character mapping: printable Latin-1 bytes stand for themselves and the
/// other 68 bytes are moved to U+0100.., so every byte sequence becomes visible, space-free text.
/// </summary>
public static class ByteLevel
{
    private static readonly char[] ByteToChar = BuildByteToChar();
    private static readonly Dictionary<char, byte> CharToByte = BuildCharToByte();

    public static char Encode(byte b) => ByteToChar[b];

    public static bool TryDecode(char c, out byte b) => CharToByte.TryGetValue(c, out b);

    /// <summary>The byte-level text of UTF-8 bytes.</summary>
    public static string Encode(ReadOnlySpan<byte> bytes)
    {
        var chars = new char[bytes.Length];
        for (int i = 0; i < bytes.Length; i++) chars[i] = ByteToChar[bytes[i]];
        return new string(chars);
    }

    private static char[] BuildByteToChar()
    {
        var map = new char[256];
        var assigned = new bool[256];
        foreach (var (lo, hi) in new[] { (0x21, 0x7E), (0xA1, 0xAC), (0xAE, 0xFF) })
        {
            for (int b = lo; b <= hi; b++) { map[b] = (char)b; assigned[b] = true; }
        }
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            if (!assigned[b]) map[b] = (char)next++;
        }
        return map;
    }

    private static Dictionary<char, byte> BuildCharToByte()
    {
        var d = new Dictionary<char, byte>(256);
        for (int b = 0; b < 256; b++) d[ByteToChar[b]] = (byte)b;
        return d;
    }
}
