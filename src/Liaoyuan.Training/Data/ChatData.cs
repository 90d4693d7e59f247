using System.Text;
using Liaoyuan.Engine.Templates;

namespace Liaoyuan.Training.Data;

/// <summary>One conversation of a chat data set and the line it came from.</summary>
public sealed record ChatExample(int Line, IReadOnlyList<ChatMessage> Messages);

/// <summary>
/// Reads OpenAI-messages jsonl: one <c>{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}]}</c>
/// per line, at least one assistant message each. Blank lines are skipped; anything else that is not such an object
/// is reported as <c>FILE:LINE: problem</c>.
/// </summary>
public static class ChatJsonl
{
    private static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);

    public static List<ChatExample> Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such file");
        var examples = new List<ChatExample>();
        int line = 0;
        using var reader = new StreamReader(path, Strict, detectEncodingFromByteOrderMarks: true);
        while (true)
        {
            string? text;
            try
            {
                text = reader.ReadLine();
            }
            catch (DecoderFallbackException)
            {
                throw new InvalidDataException($"{path}:{line + 1}: not valid UTF-8");
            }
            if (text is null) break;
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            examples.Add(new ChatExample(line, Parse(text, $"{path}:{line}")));
        }
        if (examples.Count == 0) throw new InvalidDataException($"{path}: no conversations");
        return examples;
    }

    /// <summary>The messages of one jsonl line; <paramref name="where"/> (FILE:LINE) begins every error.</summary>
    public static IReadOnlyList<ChatMessage> Parse(string json, string where)
    {
        var messages = ChatJsonLine.Parse(json, where);
        if (!messages.Any(m => m.Role == "assistant"))
            throw new InvalidDataException($"{where}: the conversation has no assistant message to learn from");
        return messages;
    }
}
