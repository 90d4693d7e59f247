using System.Text;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Templates;
using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Engine.Evaluation;

/// <summary>The model's greedy answer to one held-out question and how it scored.</summary>
/// <param name="AnswerLogProb">Natural-log probability of the reference answer (through the end-of-turn token)
/// given the prompt, teacher-forced; null when the reference does not fit the context.</param>
public sealed record ExactMatchOutcome(HeldOutExample Example, string Prediction, bool Correct, double? AnswerLogProb, int AnswerTokens);

/// <summary>Exact-match accuracy and reference-answer perplexity of one task.</summary>
public sealed record TaskScore(string Task, int Correct, int Total, double AnswerPerplexity, int AnswerTokens)
{
    public double Accuracy => Total == 0 ? 0 : (double)Correct / Total;
}

/// <summary>
/// Exact-match evaluation of a chat model on held-out questions: each prompt is rendered through the chat
/// template with the generation prompt, answered greedily, and compared with the reference after
/// <see cref="Normalize"/>. It also scores the reference answer teacher-forced, for a held-out perplexity of
/// the answers alone (the prompt's tokens are not counted).
/// </summary>
public sealed class ExactMatchEvaluation(InferenceSession session, Tokenizer tokenizer, ChatTemplate template, int maxTokens)
{
    public const string NormalizationRule =
        "both texts trimmed, runs of whitespace collapsed to one space, and lower-cased (invariant culture; Chinese is unaffected)";

    private readonly Generator _generator = new(session, tokenizer);
    private readonly GenerationOptions _greedy = new() { MaxTokens = maxTokens, Sampling = new SamplingOptions { Temperature = 0 } };

    /// <summary>The comparison form of an answer: see <see cref="NormalizationRule"/>.</summary>
    public static string Normalize(string text)
    {
        var result = new StringBuilder(text.Length);
        bool pendingSpace = false;
        foreach (char c in text.Trim())
        {
            if (char.IsWhiteSpace(c)) { pendingSpace = true; continue; }
            if (pendingSpace) result.Append(' ');
            pendingSpace = false;
            result.Append(char.ToLowerInvariant(c));
        }
        return result.ToString();
    }

    public ExactMatchOutcome Evaluate(HeldOutExample example, CancellationToken cancel = default)
    {
        int[] prompt = ChatPrompt.Tokenize(template, tokenizer, example.Prompt);
        string prediction = "";
        if (prompt.Length < session.ContextLength)
        {
            int room = Math.Min(_greedy.MaxTokens, session.ContextLength - prompt.Length);
            session.Reset(); // every answer from a fresh cache, so it does not depend on the order of the questions
            prediction = _generator.Generate(prompt, _greedy with { MaxTokens = room }, cancel).Text;
        }
        bool correct = Normalize(prediction) == Normalize(example.Reference);
        var (logProb, answerTokens) = ScoreReference(example, prompt);
        return new ExactMatchOutcome(example, prediction, correct, logProb, answerTokens);
    }

    /// <summary>Per task, in order of first appearance, plus an "all" row last.</summary>
    public static IReadOnlyList<TaskScore> Summarize(IReadOnlyList<ExactMatchOutcome> outcomes)
    {
        var scores = outcomes.GroupBy(o => o.Example.Task).Select(g => Score(g.Key, g.ToList())).ToList();
        scores.Add(Score("all", outcomes));
        return scores;
    }

    private static TaskScore Score(string task, IReadOnlyList<ExactMatchOutcome> outcomes)
    {
        var scored = outcomes.Where(o => o.AnswerLogProb is not null).ToList();
        int tokens = scored.Sum(o => o.AnswerTokens);
        double perplexity = tokens == 0 ? double.NaN : Math.Exp(-scored.Sum(o => o.AnswerLogProb!.Value) / tokens);
        return new TaskScore(task, outcomes.Count(o => o.Correct), outcomes.Count, perplexity, tokens);
    }

    /// <summary>
    /// The conversation with the reference answer appended, tokenized; the tokens after the prompt through the
    /// first end-of-generation token are the answer. Templates whose full rendering does not begin with the
    /// generation prompt's tokens, and answers that overflow the context, are not scored.
    /// </summary>
    private (double? LogProb, int Tokens) ScoreReference(HeldOutExample example, int[] prompt)
    {
        var full = ChatPrompt.Tokenize(template, tokenizer, [.. example.Prompt, new ChatMessage("assistant", example.Reference)],
            ChatPrompt.OptionsFor(tokenizer) with { AddGenerationPrompt = false });
        if (full.Length <= prompt.Length || !full.AsSpan(0, prompt.Length).SequenceEqual(prompt)) return (null, 0);
        int end = prompt.Length;
        while (end < full.Length && !tokenizer.IsEndOfGeneration(full[end])) end++;
        if (end == full.Length) end--; // no end-of-turn token rendered: score the answer's own tokens
        int length = end + 1;
        if (length > session.ContextLength) return (null, 0);
        int vocab = session.Model.Config.VocabSize;
        var logits = new float[length * vocab];
        session.Reset();
        session.EvaluateAll(full.AsSpan(0, length), logits);
        double logProb = 0;
        for (int position = prompt.Length - 1; position < length - 1; position++)
            logProb += Perplexity.LogSoftmaxAt(logits.AsSpan(position * vocab, vocab), full[position + 1]);
        return (logProb, length - prompt.Length);
    }
}
