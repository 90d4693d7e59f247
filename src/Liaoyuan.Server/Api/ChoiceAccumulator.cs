using System.Text;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Tokenization;
using Liaoyuan.Server.Scheduling;

namespace Liaoyuan.Server.Api;

/// <summary>What one choice has produced so far: its text, per-token logprobs and, at the end, how it finished.</summary>
internal sealed class ChoiceAccumulator
{
    private readonly StringBuilder _text = new();

    public string Text => _text.ToString();
    public List<SequenceText> Tokens { get; } = [];
    public SequencePromptScores? PromptScores { get; private set; }
    public SequenceFinished? Finished { get; private set; }

    public void Add(SequenceEvent e)
    {
        switch (e)
        {
            case SequenceText text:
                _text.Append(text.Text);
                if (text.Token >= 0) Tokens.Add(text);
                break;
            case SequencePromptScores scores:
                PromptScores = scores;
                break;
            case SequenceFinished finished:
                Finished = finished;
                break;
        }
    }

    public static ChatLogprobs? ChatLogprobsOf(IEnumerable<SequenceText> tokens, Tokenizer tokenizer) =>
        new(tokens.Where(t => t.Logprob is not null).Select(t => ChatLogprobOf(t.Logprob!, tokenizer)).ToList());

    private static ChatTokenLogprob ChatLogprobOf(TokenLogprob logprob, Tokenizer tokenizer) => new(
        TokenTexts.Text(tokenizer, logprob.Token), logprob.Logprob, TokenTexts.Bytes(tokenizer, logprob.Token),
        logprob.Top.Select(t => new ChatTopLogprob(TokenTexts.Text(tokenizer, t.Token), t.Logprob, TokenTexts.Bytes(tokenizer, t.Token))).ToList());

    public static Usage UsageOf(int promptTokens, IEnumerable<ChoiceAccumulator> choices)
    {
        int completion = choices.Sum(c => c.Finished?.CompletionTokens ?? c.Tokens.Count);
        return new Usage(promptTokens, completion, promptTokens + completion);
    }

    public FinishReason Reason => Finished?.Reason ?? FinishReason.Stop;
}
