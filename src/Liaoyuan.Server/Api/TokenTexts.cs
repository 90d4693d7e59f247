using System.Text;
using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Server.Api;

internal static class TokenTexts
{
    /// <summary>A token's text for logprobs: its bytes as UTF-8 (U+FFFD for a partial character).</summary>
    public static string Text(Tokenizer tokenizer, int token) => Encoding.UTF8.GetString(tokenizer.TokenBytes(token));

    public static int[] Bytes(Tokenizer tokenizer, int token) => tokenizer.TokenBytes(token).Select(b => (int)b).ToArray();

    public static string FinishReason(Engine.Generation.FinishReason reason) =>
        reason == Engine.Generation.FinishReason.Stop ? "stop" : "length";

    public static string NewId(string prefix) => prefix + Guid.NewGuid().ToString("N")[..24];
}
