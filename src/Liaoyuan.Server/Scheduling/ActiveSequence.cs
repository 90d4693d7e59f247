using System.Diagnostics;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Server.Scheduling;

/// <summary>
/// Vocabulary-sized buffers that the sequences of one scheduler use in turn on its thread, so that a request
/// allocates none of its own (each would be large-object-heap garbage once it ends, the heap growing between
/// full collections). Bounded: see <see cref="Bytes"/>.
/// </summary>
internal sealed class SequenceScratch
{
    /// <summary>Prompt tokens scored per forward pass (completions' echo keeps the logits of every position).</summary>
    public const int ScoringChunk = 64;

    public SamplerScratch Sampler { get; } = new();
    public float[] Masked = [];
    public float[] Scoring = [];

    /// <summary>At most 2 + <see cref="ScoringChunk"/> logit rows plus the sampler's ~4 vocabulary-sized arrays.</summary>
    public long Bytes => Sampler.Bytes + 4L * Masked.Length + 4L * Scoring.Length;
}

/// <summary>
/// One admitted sequence: first its prompt is fed in chunks (prefill), then each step samples a token from the
/// session's last logits and hands the token back to be evaluated with the other sequences' tokens.
/// </summary>
internal sealed class ActiveSequence
{
    private readonly Tokenizer _tokenizer;
    private readonly SequenceScratch _scratch;
    private readonly Sampler _sampler;
    private readonly List<int> _generated = [];
    private readonly StopTextAssembler _text;
    private readonly ITokenConstraintState? _constraint;
    private readonly List<TokenLogprob?> _promptScores = [];
    private int _prefilled;

    public ActiveSequence(SequenceRequest request, int slot, InferenceSession session, int reusable, Tokenizer tokenizer, SequenceScratch scratch)
    {
        Request = request;
        Slot = slot;
        Session = session;
        _tokenizer = tokenizer;
        _scratch = scratch;
        var parameters = request.Parameters;
        // OpenAI's penalties count generated tokens only, over the whole reply.
        _sampler = new Sampler(parameters.Sampling with { RepeatLastN = -1 }, scratch.Sampler);
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

    /// <summary>Scoring needs every position's logits, so its prompt is evaluated apart from the batched steps.</summary>
    public bool ScoresPrompt => Request.Parameters.ScorePrompt;

    /// <summary>The next prompt tokens to evaluate, at most <paramref name="budget"/>; <see cref="Prefilled"/> records them once evaluated.</summary>
    public int[] NextPromptChunk(int budget)
    {
        int count = Math.Min(budget, Request.Prompt.Count - _prefilled);
        var chunk = new int[count];
        for (int i = 0; i < count; i++) chunk[i] = Request.Prompt[_prefilled + i];
        return chunk;
    }

    /// <summary>Records that the chunk from <see cref="NextPromptChunk"/> was evaluated; samples the first token when the prompt is complete.</summary>
    public void Prefilled(int count)
    {
        _prefilled += count;
        if (Prefilling) return;
        if (Request.Parameters.MaxTokens == 0) Finish(FinishReason.Length);
        else SampleNext();
    }

    /// <summary>Evaluates up to <paramref name="budget"/> prompt tokens keeping every position's logits, and scores each; returns how many.</summary>
    public int ScorePromptChunk(int budget)
    {
        var chunk = NextPromptChunk(Math.Min(budget, SequenceScratch.ScoringChunk));
        int vocab = Session.Model.Config.VocabSize, top = Request.Parameters.TopLogprobs;
        // The first token is scored against the logits the previous chunk left, before this chunk replaces them.
        _promptScores.Add(_prefilled == 0 ? null : Logprobs.Of(Session.LastLogits, chunk[0], top));
        if (_scratch.Scoring.Length < chunk.Length * vocab) _scratch.Scoring = new float[SequenceScratch.ScoringChunk * vocab];
        var logits = _scratch.Scoring.AsSpan(0, chunk.Length * vocab);
        Session.EvaluateAll(chunk, logits);
        for (int i = 1; i < chunk.Length; i++) _promptScores.Add(Logprobs.Of(logits.Slice((i - 1) * vocab, vocab), chunk[i], top));
        if (_prefilled + chunk.Length == Request.Prompt.Count) Emit(new SequencePromptScores(_promptScores));
        Prefilled(chunk.Length);
        return chunk.Length;
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
            if (_scratch.Masked.Length != logits.Length) _scratch.Masked = new float[logits.Length];
            var masked = _scratch.Masked;
            logits.CopyTo(masked);
            foreach (var (biased, bias) in parameters.LogitBias ?? new Dictionary<int, float>()) masked[biased] += bias;
            _constraint?.MaskLogits(masked, parameters.MaxTokens - _generated.Count);
            if (_constraint?.IsComplete == true) { Finish(FinishReason.Stop); return; }
            token = _sampler.Sample(masked, _generated);
            // Rounding in the final draw can land on a masked token; the best admitted one replaces it.
            if (float.IsNegativeInfinity(masked[token])) token = Sampler.ArgMax(masked);
            if (float.IsNegativeInfinity(masked[token])) { Finish(FinishReason.Stop); return; }
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
