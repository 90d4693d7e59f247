using System.Text.Json;

namespace Liaoyuan.Engine.Templates;

/// <summary>
/// One line of OpenAI-messages jsonl: <c>{"messages": [{"role": "system"|"user"|"assistant", "content": "..."}], ...}</c>.
/// Shared by the fine-tuning reader and the held-out evaluation reader, which add their own rules on top.
/// </summary>
public static class ChatJsonLine
{
    private static readonly string[] Roles = ["system", "user", "assistant"];

    /// <summary>The messages of <paramref name="json"/>; <paramref name="where"/> (FILE:LINE) begins every error.</summary>
    /// <exception cref="InvalidDataException">The line is not such an object.</exception>
    public static IReadOnlyList<ChatMessage> Parse(string json, string where) => Parse(json, where, static _ => 0).Messages;

    /// <summary>
    /// The messages, and whatever <paramref name="readOther"/> takes from the line's other fields while the parsed
    /// object is alive.
    /// </summary>
    public static (IReadOnlyList<ChatMessage> Messages, T Other) Parse<T>(string json, string where, Func<JsonElement, T> readOther)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{where}: not valid JSON ({e.Message})");
        }
        using (document)
        {
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("messages", out var messages) || messages.ValueKind != JsonValueKind.Array)
                throw new InvalidDataException($"{where}: expected an object with a \"messages\" array");
            var result = new List<ChatMessage>();
            int index = 0;
            foreach (var message in messages.EnumerateArray())
            {
                if (message.ValueKind != JsonValueKind.Object)
                    throw new InvalidDataException($"{where}: message {index} is not an object");
                if (!message.TryGetProperty("role", out var role) || role.ValueKind != JsonValueKind.String || !Roles.Contains(role.GetString()))
                    throw new InvalidDataException($"{where}: message {index} needs a \"role\" of system, user or assistant");
                if (!message.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String)
                    throw new InvalidDataException($"{where}: message {index} needs a string \"content\"");
                result.Add(new ChatMessage(role.GetString()!, content.GetString()!));
                index++;
            }
            return (result, readOther(root));
        }
    }
}
