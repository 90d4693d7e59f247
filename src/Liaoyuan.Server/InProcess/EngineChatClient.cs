using System.Runtime.CompilerServices;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Templates;
using AI = Microsoft.Extensions.AI;

namespace Liaoyuan.Server.InProcess;

/// <summary>
/// Microsoft.Extensions.AI's <see cref="AI.IChatClient"/> straight over the engine, without HTTP: the model's chat
/// template, sampling options, streaming and token usage. One conversation is generated at a time; the session's
/// KV cache is reused when a conversation grows turn by turn. Tool calling is served over HTTP for now.
/// </summary>
public sealed class EngineChatClient : AI.IChatClient
{
    private readonly LoadedModel _model;
    private readonly bool _ownsModel;
    private readonly InferenceSession _session;
    private readonly ChatTemplate _template;
    private readonly SemaphoreSlim _gate = new(1, 1);

    public EngineChatClient(LoadedModel model, int contextLength = 0, bool ownsModel = false)
    {
        _model = model;
        _ownsModel = ownsModel;
        _session = new InferenceSession(model.Model, contextLength);
        _template = ChatTemplate.FromModelOrFallback(model.Tokenizer.ChatTemplate, _ => { });
        Metadata = new AI.ChatClientMetadata("liaoyuan", null, Path.GetFileNameWithoutExtension(model.File.Path));
    }

    public AI.ChatClientMetadata Metadata { get; }

    public async Task<AI.ChatResponse> GetResponseAsync(IEnumerable<AI.ChatMessage> messages, AI.ChatOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var text = new System.Text.StringBuilder();
        AI.UsageDetails? usage = null;
        AI.ChatFinishReason? finish = null;
        await foreach (var update in GetStreamingResponseAsync(messages, options, cancellationToken))
        {
            text.Append(update.Text);
            finish = update.FinishReason ?? finish;
            foreach (var content in update.Contents.OfType<AI.UsageContent>()) usage = content.Details;
        }
        return new AI.ChatResponse(new AI.ChatMessage(AI.ChatRole.Assistant, text.ToString()))
        {
            ModelId = Metadata.DefaultModelId,
            FinishReason = finish,
            Usage = usage,
        };
    }

    public async IAsyncEnumerable<AI.ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<AI.ChatMessage> messages,
        AI.ChatOptions? options = null, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (options?.Tools is { Count: > 0 }) throw new NotSupportedException("tool calling runs through `liaoyuan serve` for now; this client does not take tools");
        var conversation = messages.Select(m => new ChatMessage(m.Role.Value, m.Text)).ToList();
        var prompt = ChatPrompt.Tokenize(_template, _model.Tokenizer, conversation);
        var generation = new GenerationOptions
        {
            MaxTokens = options?.MaxOutputTokens ?? 256,
            Stop = options?.StopSequences?.ToArray() ?? [],
            Sampling = new SamplingOptions
            {
                Temperature = options?.Temperature ?? 0.8f,
                TopP = options?.TopP ?? 0.95f,
                TopK = options?.TopK ?? 40,
                PresencePenalty = options?.PresencePenalty ?? 0,
                FrequencyPenalty = options?.FrequencyPenalty ?? 0,
                Seed = options?.Seed is long seed ? unchecked((ulong)seed) : null,
            },
        };
        string? problem = generation.Sampling.Validate();
        if (problem is not null) throw new ArgumentException(problem);

        await _gate.WaitAsync(cancellationToken);
        try
        {
            var generator = new Generator(_session, _model.Tokenizer);
            string id = "chatcmpl-" + Guid.NewGuid().ToString("N");
            int produced = 0;
            // The engine is synchronous; each piece is yielded as soon as it is decoded.
            foreach (var piece in generator.Stream(prompt, generation, cancellationToken))
            {
                if (piece.Token >= 0) produced++;
                if (piece.Text.Length == 0) continue;
                yield return new AI.ChatResponseUpdate(AI.ChatRole.Assistant, piece.Text) { ResponseId = id, ModelId = Metadata.DefaultModelId };
                await Task.Yield();
            }
            var finish = generator.LastFinishReason == FinishReason.Stop ? AI.ChatFinishReason.Stop : AI.ChatFinishReason.Length;
            var usage = new AI.UsageDetails { InputTokenCount = prompt.Length, OutputTokenCount = produced, TotalTokenCount = prompt.Length + produced };
            yield return new AI.ChatResponseUpdate(AI.ChatRole.Assistant, [new AI.UsageContent(usage)])
            {
                ResponseId = id,
                ModelId = Metadata.DefaultModelId,
                FinishReason = finish,
            };
        }
        finally
        {
            _gate.Release();
        }
    }

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(AI.ChatClientMetadata) ? Metadata
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose()
    {
        _gate.Dispose();
        if (_ownsModel) _model.Dispose();
    }
}
