using Liaoyuan.Engine.Templates;
using Liaoyuan.Engine.Tokenization;
using Liaoyuan.Training.Ops;

namespace Liaoyuan.Training.Data;

/// <summary>A conversation as tokens, each marked whether the model learns to produce it.</summary>
public sealed record EncodedChat(int[] Tokens, bool[] Scored);

/// <summary>
/// Renders conversations through a chat template and marks the tokens of each assistant reply — its content up to
/// and including the template's end-of-turn token — as the only ones scored. Everything else (system and user
/// turns, the template's assistant header, text after the end-of-turn token) is context only.
/// A reply's span is found by rendering the conversation up to it with the generation prompt (which ends with the
/// assistant header) and through it without; the text in between is what the model must generate at that point.
/// Each span is tokenized on its own, so the model learns the very tokens it will produce after the prompt that
/// inference tokenizes.
/// </summary>
public sealed class ChatEncoder(ChatTemplate template, Tokenizer tokenizer)
{
    private readonly ChatTemplateOptions _options = ChatPrompt.OptionsFor(tokenizer) with { Now = DateTimeOffset.UnixEpoch };

    public EncodedChat Encode(IReadOnlyList<ChatMessage> messages)
    {
        var noPrompt = _options with { AddGenerationPrompt = false };
        string full = template.Render(messages, noPrompt);
        var spans = new List<(int Start, int End)>();
        for (int i = 0; i < messages.Count; i++)
        {
            if (messages[i].Role != "assistant") continue;
            string before = template.Render(messages.Take(i).ToList(), _options);
            string through = template.Render(messages.Take(i + 1).ToList(), noPrompt);
            if (!through.StartsWith(before, StringComparison.Ordinal) || !full.StartsWith(through, StringComparison.Ordinal))
                throw new InvalidDataException($"the chat template does not render message {i} as a continuation of the earlier ones, so its tokens cannot be told apart");
            spans.Add((before.Length, through.Length));
        }

        var tokens = new List<int>();
        var scored = new List<bool>();
        bool startsWithBos = _options.BosToken.Length > 0 && full.StartsWith(_options.BosToken, StringComparison.Ordinal);
        if (tokenizer.AddBos && !startsWithBos && tokenizer.BosId >= 0)
        {
            tokens.Add(tokenizer.BosId);
            scored.Add(false);
        }
        int position = 0;
        foreach (var (start, end) in spans)
        {
            Append(full[position..start], learn: false);
            Append(full[start..end], learn: true);
            position = end;
        }
        Append(full[position..], learn: false);
        return new EncodedChat(tokens.ToArray(), scored.ToArray());

        void Append(string text, bool learn)
        {
            if (text.Length == 0) return;
            bool ended = false;
            foreach (int token in tokenizer.Encode(text, addSpecial: false, parseSpecial: true))
            {
                tokens.Add(token);
                scored.Add(learn && !ended);
                // Generation stops at the end-of-turn token; what the template writes after it is never generated.
                if (tokenizer.IsEndOfGeneration(token)) ended = true;
            }
        }
    }
}

/// <summary>How encoded conversations became training windows.</summary>
public sealed record ChatWindowReport(int Conversations, int Windows, int Truncated, int Dropped, long ScoredTokens);

/// <summary>
/// Lays encoded conversations into windows of context tokens with next-token targets, unscored targets set to
/// <see cref="CrossEntropy.Ignored"/>. Padded: one conversation per window, the rest padding. Packed: consecutive
/// conversations share a window while they fit whole (fewer windows; later ones can attend to earlier ones).
/// A conversation longer than the context is cut to it; one left with nothing to score is dropped.
/// </summary>
public static class ChatWindows
{
    public static (ArrayWindows Windows, ChatWindowReport Report) Build(IEnumerable<EncodedChat> chats, int context, bool pack, int paddingToken)
    {
        var windows = new List<(int[] Tokens, int[] Targets)>();
        int conversations = 0, truncated = 0, dropped = 0;
        long scoredTokens = 0;
        int[]? tokens = null, targets = null;
        int used = 0;
        foreach (var chat in chats)
        {
            conversations++;
            int pairs = chat.Tokens.Length - 1;
            if (pairs > context)
            {
                pairs = context;
                truncated++;
            }
            int scored = 0;
            for (int t = 0; t < pairs; t++) if (chat.Scored[t + 1]) scored++;
            if (scored == 0)
            {
                dropped++;
                continue;
            }
            scoredTokens += scored;
            if (tokens is null || !pack || used + pairs > context)
            {
                tokens = new int[context];
                targets = new int[context];
                Array.Fill(tokens, paddingToken);
                Array.Fill(targets, CrossEntropy.Ignored);
                windows.Add((tokens, targets));
                used = 0;
            }
            for (int t = 0; t < pairs; t++)
            {
                tokens[used + t] = chat.Tokens[t];
                targets![used + t] = chat.Scored[t + 1] ? chat.Tokens[t + 1] : CrossEntropy.Ignored;
            }
            used += pairs;
        }
        return (new ArrayWindows(context, windows), new ChatWindowReport(conversations, windows.Count, truncated, dropped, scoredTokens));
    }
}
