using System.Runtime.CompilerServices;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Templates;
using Liaoyuan.Server.Api;
using Liaoyuan.Server.Scheduling;
using Liaoyuan.Server.Structured;
using Liaoyuan.Server.Tools;
using AI = Microsoft.Extensions.AI;

namespace Liaoyuan.Server.InProcess;

/// <summary>
/// Microsoft.Extensions.AI's <see cref="AI.IChatClient"/> straight over the engine, without HTTP: the model's chat
/// template, sampling options, streaming, token usage, tools (<see cref="AI.ChatOptions.Tools"/> and
/// <see cref="AI.ChatOptions.ToolMode"/>, forced calls decoded under a grammar so they always parse) and JSON
/// response formats. Requests run on the same scheduler as the HTTP server: <paramref name="slots"/> conversations
/// are decoded together and a conversation growing turn by turn reuses its cached prefix.
/// </summary>
public sealed class EngineChatClient : AI.IChatClient
{
    /// <summary>Tokens generated when <see cref="AI.ChatOptions.MaxOutputTokens"/> is not set.</summary>
    public const int DefaultMaxOutputTokens = 256;

    private readonly LoadedModel _model;
    private readonly bool _ownsModel;
    private readonly ModelScheduler _scheduler;
    private readonly ChatPromptRenderer _prompts;
    private readonly Lazy<TokenVocabulary> _vocabulary;
    private int _disposed;

    /// <param name="contextLength">Tokens per conversation; 0 takes the model's context, at most 4096.</param>
    /// <param name="slots">Conversations decoded at once; each holds a KV cache of <paramref name="contextLength"/>.</param>
    public EngineChatClient(LoadedModel model, int contextLength = 0, bool ownsModel = false, int slots = 1)
    {
        _model = model;
        _ownsModel = ownsModel;
        string id = Path.GetFileNameWithoutExtension(model.File.Path);
        _prompts = new ChatPromptRenderer(ChatTemplate.FromModelOrFallback(model.Tokenizer.ChatTemplate, _ => { }), model.Tokenizer);
        _vocabulary = new Lazy<TokenVocabulary>(() => new TokenVocabulary(model.Tokenizer));
        // In process, callers wait for a slot rather than being refused.
        _scheduler = new ModelScheduler(id, model, new SchedulerOptions { Slots = slots, ContextLength = contextLength, QueueCapacity = 1 << 20 });
        Metadata = new AI.ChatClientMetadata("liaoyuan", null, id);
    }

    public AI.ChatClientMetadata Metadata { get; }

    public async Task<AI.ChatResponse> GetResponseAsync(IEnumerable<AI.ChatMessage> messages, AI.ChatOptions? options = null,
        CancellationToken cancellationToken = default) =>
        await AI.ChatResponseExtensions.ToChatResponseAsync(GetStreamingResponseAsync(messages, options, cancellationToken), cancellationToken);

    public async IAsyncEnumerable<AI.ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AI.ChatMessage> messages,
        AI.ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        var format = InProcessRequests.ReplyFormatOf(options);
        ReplyPlan plan;
        try
        {
            plan = ReplyPlan.For(format, () => _vocabulary.Value);
        }
        catch (ApiException refused)
        {
            throw new ArgumentException(refused.Message, nameof(options));
        }
        int[] prompt = _prompts.Tokenize(InProcessRequests.Conversation(messages), plan.OffersTools ? format.Tools : null);
        int context = _scheduler.ContextLength;
        if (prompt.Length >= context) throw new ContextOverflowException(prompt.Length + 1, context);
        var sampling = new SamplingOptions
        {
            Temperature = options?.Temperature ?? 0.8f,
            TopP = options?.TopP ?? 0.95f,
            TopK = options?.TopK ?? 40,
            PresencePenalty = options?.PresencePenalty ?? 0,
            FrequencyPenalty = options?.FrequencyPenalty ?? 0,
            Seed = options?.Seed is long seed ? unchecked((ulong)seed) : null,
        };
        if (sampling.Validate() is { } problem) throw new ArgumentException(problem, nameof(options));
        var parameters = new DecodeParameters
        {
            MaxTokens = Math.Min(options?.MaxOutputTokens ?? DefaultMaxOutputTokens, context - prompt.Length),
            Sampling = sampling,
            Stop = options?.StopSequences?.ToArray() ?? [],
            Constraint = plan.Constraint,
        };
        if (parameters.MaxTokens <= 0) throw new ArgumentException($"MaxOutputTokens must be at least 1, got {parameters.MaxTokens}", nameof(options));

        // Cancelled however the caller stops reading, so the scheduler frees the slot.
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var request = new SequenceRequest(prompt, parameters, abandon.Token);
        _scheduler.Submit([request]);
        string id = TokenTexts.NewId("chatcmpl-");
        var reader = plan.NewReader();
        var calls = new InProcessCalls();
        try
        {
            await foreach (var e in request.Output.ReadAllAsync(cancellationToken))
            {
                var deltas = e switch
                {
                    SequenceText text => reader.Push(text.Text),
                    SequenceFinished => reader.Finish(),
                    _ => [],
                };
                foreach (var delta in deltas)
                {
                    if (delta is ContentDelta content) yield return Update(id, [new AI.TextContent(content.Text)]);
                    else calls.Add(delta);
                }
                if (e is not SequenceFinished finished) continue;
                // Microsoft.Extensions.AI hands on whole calls; they are complete once the reply is.
                if (calls.Count > 0) yield return Update(id, calls.Contents());
                var usage = new AI.UsageDetails
                {
                    InputTokenCount = finished.PromptTokens,
                    OutputTokenCount = finished.CompletionTokens,
                    TotalTokenCount = finished.PromptTokens + finished.CompletionTokens,
                };
                var update = Update(id, [new AI.UsageContent(usage)]);
                update.FinishReason = calls.Count > 0 ? AI.ChatFinishReason.ToolCalls
                    : finished.Reason == FinishReason.Stop ? AI.ChatFinishReason.Stop : AI.ChatFinishReason.Length;
                yield return update;
            }
        }
        finally
        {
            await abandon.CancelAsync();
        }
    }

    private AI.ChatResponseUpdate Update(string id, IList<AI.AIContent> contents) =>
        new(AI.ChatRole.Assistant, contents) { ResponseId = id, MessageId = id, ModelId = Metadata.DefaultModelId };

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(AI.ChatClientMetadata) ? Metadata
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    /// <summary>Stops the scheduler (and unloads the model if this client owns it); later calls do nothing, as
    /// pipelines such as FunctionInvokingChatClient dispose the client they wrap.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _scheduler.Dispose();
        if (_ownsModel) _model.Dispose();
    }
}
