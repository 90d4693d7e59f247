using System.Text;
using System.Text.Json;
using Liaoyuan.Engine.Templates;

namespace Liaoyuan.Engine.Evaluation;

/// <summary>One held-out question: the conversation up to the answer, the reference answer and its task.</summary>
public sealed record HeldOutExample(int Line, string Task, IReadOnlyList<ChatMessage> Prompt, string Reference);

/// <summary>
/// Reads a held-out chat set in the OpenAI messages form, one JSON object a line:
/// <c>{"task": "...", "messages": [{"role": "user", "content": "..."}, {"role": "assistant", "content": "..."}]}</c>.
/// The last message must be the assistant's: it is the reference answer, and the messages before it are the prompt.
/// </summary>
public static class HeldOutChatSet
{
    public const string NoTask = "(no task)";

    private static readonly UTF8Encoding Strict = new(false, throwOnInvalidBytes: true);

    /// <exception cref="InvalidDataException">A line is not a JSON object of that shape; the message names the line.</exception>
    public static IReadOnlyList<HeldOutExample> Read(string path, string taskField = "task")
    {
        string text;
        try
        {
            text = Strict.GetString(File.ReadAllBytes(path));
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidDataException($"{path}: not valid UTF-8 at byte offset {e.Index}");
        }
        var examples = new List<HeldOutExample>();
        int lineNumber = 0;
        foreach (string raw in text.Split('\n'))
        {
            lineNumber++;
            string line = raw.Trim();
            if (line.Length == 0) continue;
            examples.Add(Parse(line, lineNumber, taskField, path));
        }
        if (examples.Count == 0) throw new InvalidDataException($"{path}: no examples");
        return examples;
    }

    private static HeldOutExample Parse(string line, int lineNumber, string taskField, string path)
    {
        string where = $"{path}:{lineNumber}";
        var (turns, task) = ChatJsonLine.Parse(line, where, root => TaskOf(root, taskField, where));
        if (turns.Count < 2 || turns[^1].Role != "assistant")
            throw new InvalidDataException($"{where}: the last message must be the assistant's reference answer, after at least one other message");
        return new HeldOutExample(lineNumber, task, turns.Take(turns.Count - 1).ToList(), turns[^1].Content!);
    }

    private static string TaskOf(JsonElement root, string taskField, string where)
    {
        if (!root.TryGetProperty(taskField, out var taskValue)) return NoTask;
        if (taskValue.ValueKind != JsonValueKind.String || taskValue.GetString()!.Trim().Length == 0)
            throw new InvalidDataException($"{where}: the \"{taskField}\" field must be a non-empty string");
        return taskValue.GetString()!.Trim();
    }
}
