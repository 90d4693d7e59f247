using System.Text;
using System.Text.Json;
using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Training.Data;

/// <summary>Training text from files: plain UTF-8 text (one document per file) or JSON Lines with a "text" field.</summary>
public static class TextCorpus
{
    private static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);

    public static IEnumerable<string> ReadDocuments(IEnumerable<string> files)
    {
        foreach (string path in files)
        {
            if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file", path);
            string text;
            try
            {
                text = Strict.GetString(File.ReadAllBytes(path));
            }
            catch (DecoderFallbackException e)
            {
                throw new InvalidDataException($"{path}: not valid UTF-8 at byte offset {e.Index}");
            }
            if (text.Length > 0 && text[0] == '\uFEFF') text = text[1..];
            if (!path.EndsWith(".jsonl", StringComparison.OrdinalIgnoreCase))
            {
                yield return text;
                continue;
            }
            int lineNumber = 0;
            foreach (string line in text.Split('\n'))
            {
                lineNumber++;
                if (string.IsNullOrWhiteSpace(line)) continue;
                yield return JsonText(path, lineNumber, line);
            }
        }
    }

    private static string JsonText(string path, int lineNumber, string line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            if (document.RootElement.ValueKind == JsonValueKind.Object &&
                document.RootElement.TryGetProperty("text", out var text) && text.ValueKind == JsonValueKind.String)
                return text.GetString()!;
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}:{lineNumber}: not valid JSON ({e.Message})");
        }
        throw new InvalidDataException($"{path}:{lineNumber}: expected an object with a string \"text\" field");
    }

    /// <summary>One token stream: each document's tokens followed by the end-of-sequence token, when there is one.</summary>
    public static int[] Tokenize(Tokenizer tokenizer, IEnumerable<string> documents)
    {
        var stream = new List<int>();
        foreach (string document in documents)
        {
            stream.AddRange(tokenizer.Encode(document, addSpecial: true, parseSpecial: true));
            if (tokenizer.EosId >= 0) stream.Add(tokenizer.EosId);
        }
        return [.. stream];
    }

    /// <summary>
    /// Holds out the last <paramref name="fraction"/> of the stream (at least one batch of windows) for evaluation.
    /// </summary>
    public static (int[] Train, int[] HeldOut) Split(int[] tokens, double fraction, int context, int batch)
    {
        if (fraction <= 0) return (tokens, []);
        int heldOut = Math.Max((int)(tokens.Length * fraction), batch * context + 1);
        if (tokens.Length - heldOut < context + 1)
            throw new ArgumentException($"{tokens.Length} tokens are too few to hold out {heldOut} and still train on windows of {context + 1}");
        return (tokens[..^heldOut], tokens[^heldOut..]);
    }
}
