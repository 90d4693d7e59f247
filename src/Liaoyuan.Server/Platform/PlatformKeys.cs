using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;

namespace Liaoyuan.Server.Platform;

/// <summary>
/// Key and id formats. Keys are 256 random bits behind a recognisable prefix (so leaked keys can be found by
/// scanners); being high-entropy, a plain SHA-256 is a sufficient one-way hash — no salt or slow KDF is needed.
/// </summary>
public static class PlatformKeys
{
    public const string AppKeyPrefix = "ly-";
    public const string AdminKeyPrefix = "ly-admin-";
    private const int RandomBytes = 32;
    private const int EncodedLength = 43; // base64url of 32 bytes, unpadded

    public static string NewAppKey() => AppKeyPrefix + RandomText();

    public static string NewAdminKey() => AdminKeyPrefix + RandomText();

    public static string NewId(string prefix) => prefix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));

    /// <summary>Whether <paramref name="key"/> has the shape of an app key (not whether it exists).</summary>
    public static bool IsWellFormedAppKey(string key) =>
        key.Length == AppKeyPrefix.Length + EncodedLength && key.StartsWith(AppKeyPrefix, StringComparison.Ordinal)
        && !key.StartsWith(AdminKeyPrefix, StringComparison.Ordinal) && key.AsSpan(AppKeyPrefix.Length).ContainsOnlyBase64Url();

    /// <summary>The stored form of a key: lower-case hex SHA-256 of its UTF-8 bytes.</summary>
    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    /// <summary>Compares a presented key with a stored hash in constant time.</summary>
    public static bool Matches(string key, string storedHash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(key)), Encoding.ASCII.GetBytes(storedHash));

    private static string RandomText() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(RandomBytes));

    private static bool ContainsOnlyBase64Url(this ReadOnlySpan<char> text)
    {
        foreach (char c in text)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c != '-' && c != '_') return false;
        }
        return true;
    }
}
