using System.Diagnostics;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Server.Scheduling;

/// <summary>
/// One admitted sequence: first its prompt is fed in chunks (prefill), then each step samples a token from the
/// session's last logits and hands the token back to be evaluated with the other sequences' tokens.
/// </summary>
internal sealed class ActiveSequence
{
    private const int ScoringChunk = 64;

    private readonly Tokenizer _tokenizer;
    private readonly Sampler _sampler;
    private readonly List<int> _generated = [];
    private readonly StopTextAssembler _text;
    private readonly ITokenConstraintState? _constraint;
    private readonly List<TokenLogprob?> _promptScores = [];
    private float[]? _previousLogits;
    private float[] _masked = [];
    private int _prefilled;

    public ActiveSequence(SequenceRequest request, int slot, InferenceSession session, int reusable, Tokenizer tokenizer)
    {
        Request = request;
        Slot = slot;
        Session = session;
        _tokenizer = tokenizer;
        var parameters = request.Parameters;
        // OpenAI's penalties count generated tokens only, over the whole reply.
        _sampler = new Sampler(parameters.Sampling with { RepeatLastN = -1 });
        _text = new StopTextAssembler(parameters.Stop);
        _constraint = parameters.Constraint?.Start();
        // Scoring needs the logits before every prompt token, so nothing cached can be reused; otherwise the last
        // prompt token is always run again because its logits are not kept.
        _prefilled = parameters.ScorePrompt ? 0 : Math.Min(reusable, request.Prompt.Count - 1);
        session.TruncateTo(_prefilled);
        session.Adapter = request.Adapter;
    }

    public SequenceRequest Request { get; }

    /// <summary>The request's own context when it asked for one, else the session's.</summary>
    private int ContextLimit => Request.Parameters.ContextLength is > 0 and var own ? Math.Min(own, Session.ContextLength) : Session.ContextLength;
    public int Slot { get; }
    public InferenceSession Session { get; }
    public int ReusedTokens => Request.Parameters.ScorePrompt ? 0 : _prefilled;
    public bool Prefilling => _prefilled < Request.Prompt.Count;

    /// <summary>The token to evaluate in the next decode step, once the previous one has been sampled.</summary>
    public int NextToken { get; private set; } = -1;
    public bool Finished { get; private set; }
    public int CompletionTokens => _generated.Count;
    public long? FirstTokenAt { get; private set; }

    /// <summary>Feeds up to <paramref name="budget"/> prompt tokens; returns how many were evaluated.</summary>
    public int Prefill(int budget)
    {
        var prompt = Request.Prompt;
        int count = Math.Min(budget, prompt.Count - _prefilled);
        if (Request.Parameters.ScorePrompt) count = Math.Min(count, ScoringChunk);
        var chunk = new int[count];
        for (int i = 0; i < count; i++) chunk[i] = prompt[_prefilled + i];
        if (Request.Parameters.ScorePrompt) ScoreChunk(chunk);
        else Session.Evaluate(chunk);
        _prefilled += count;
        return count;
    }

    /// <summary>Evaluates a prompt chunk keeping every position's logits, and scores each prompt token.</summary>
    private void ScoreChunk(int[] chunk)
    {
        int vocab = Session.Model.Config.VocabSize;
        var logits = new float[chunk.Length * vocab];
        Session.EvaluateAll(chunk, logits);
        int top = Request.Parameters.TopLogprobs;
        for (int i = 0; i < chunk.Length; i++)
        {
            if (_prefilled + i == 0) { _promptScores.Add(null); continue; }
            ReadOnlySpan<float> before = i == 0 ? _previousLogits : logits.AsSpan((i - 1) * vocab, vocab);
            _promptScores.Add(Logprobs.Of(before, chunk[i], top));
        }
        _previousLogits = logits.AsSpan((chunk.Length - 1) * vocab, vocab).ToArray();
        if (_prefilled + chunk.Length == Request.Prompt.Count)
            Emit(new SequencePromptScores(_promptScores));
    }

    /// <summary>Samples from the session's last logits and emits the token; afterwards either Finished or NextToken is set.</summary>
    public void SampleNext()
    {
        Debug.Assert(!Prefilling && !Finished);
        var parameters = Request.Parameters;
        if (_generated.Count >= parameters.MaxTokens) { Finish(FinishReason.Length); return; }
        ReadOnlySpan<float> logits = Session.LastLogits;
        int token;
        if (_constraint is null && parameters.LogitBias is null)
        {
            token = _sampler.Sample(logits, _generated);
        }
        else
        {
            if (_masked.Length != logits.Length) _masked = new float[logits.Length];
            logits.CopyTo(_masked);
            foreach (var (biased, bias) in parameters.LogitBias ?? new Dictionary<int, float>()) _masked[biased] += bias;
            _constraint?.MaskLogits(_masked, parameters.MaxTokens - _generated.Count);
            if (_constraint?.IsComplete == true) { Finish(FinishReason.Stop); return; }
            token = _sampler.Sample(_masked, _generated);
            // Rounding in the final draw can land on a masked token; the best admitted one replaces it.
            if (float.IsNegativeInfinity(_masked[token])) token = Sampler.ArgMax(_masked);
            if (float.IsNegativeInfinity(_masked[token])) { Finish(FinishReason.Stop); return; }
        }
        if (_tokenizer.IsEndOfGeneration(token)) { Finish(FinishReason.Stop); return; }
        FirstTokenAt ??= Stopwatch.GetTimestamp();
        _constraint?.Accept(token);
        _generated.Add(token);
        var logprob = parameters.Logprobs ? Logprobs.Of(logits, token, parameters.TopLogprobs) : null;
        // Control tokens (a stray <|im_start|>) carry no text, as llama.cpp's server renders them by default.
        var bytes = _tokenizer.GetTokenType(token) == TokenType.Control ? [] : _tokenizer.TokenBytes(token);
        Emit(new SequenceText(token, _text.Push(bytes), logprob));
        if (_text.Stopped || _constraint?.IsComplete == true) { Finish(FinishReason.Stop); return; }
        if (_generated.Count >= parameters.MaxTokens) { Finish(FinishReason.Length); return; }
        if (Session.Position >= ContextLimit) { Finish(FinishReason.ContextFull); return; }
        NextToken = token;
    }

    /// <summary>Ends the sequence after the scoring-only request (echo with max_tokens 0).</summary>
    public void FinishWithoutGenerating() => Finish(FinishReason.Length);

    public void Fail(Exception problem)
    {
        Finished = true;
        Request.Events.Writer.TryComplete(problem);
    }

    public void Abandon()
    {
        Finished = true;
        Request.Events.Writer.TryComplete(new OperationCanceledException(Request.Cancel));
    }

    private void Finish(FinishReason reason)
    {
        string tail = _text.Flush();
        if (tail.Length > 0) Emit(new SequenceText(-1, tail, null));
        Emit(new SequenceFinished(reason, Request.Prompt.Count, _generated.Count));
        Finished = true;
        Request.Events.Writer.TryComplete();
    }

    private void Emit(SequenceEvent e) => Request.Events.Writer.TryWrite(e);
}
