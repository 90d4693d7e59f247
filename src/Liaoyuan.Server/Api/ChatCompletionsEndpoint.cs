using Liaoyuan.Engine.Templates;
using Liaoyuan.Server.Hosting;
using Liaoyuan.Server.Platform;
using Liaoyuan.Server.Scheduling;
using Liaoyuan.Server.Tools;
using Microsoft.AspNetCore.Http;

namespace Liaoyuan.Server.Api;

/// <summary><c>POST /v1/chat/completions</c>.</summary>
internal static class ChatCompletionsEndpoint
{
    public static async Task HandleAsync(HttpContext http, ModelRegistry registry, ServerOptions options)
    {
        ChatRequest request;
        using (var body = await RequestBodies.ReadJsonObjectAsync(http.Request)) request = ChatRequest.Read(body.RootElement, options);
        using var lease = await registry.AcquireAsync(request.Common.Model, http.RequestAborted);
        var served = lease.Model;
        var plan = ReplyPlan.For(request.Reply, () => served.Vocabulary);
        int[] prompt = RenderPrompt(served, request, plan);
        // Cancelled when this handler ends for any reason, so the scheduler drops sequences nobody will read.
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var sequences = Enumerable.Range(0, request.Common.Choices)
            .Select(choice => new SequenceRequest(prompt,
                request.Common.ForChoice(choice, prompt.Length, served.Scheduler.ContextLength, served.Model.Config.VocabSize, "messages",
                    request.Logprobs, request.TopLogprobs, constraint: plan.Constraint),
                abandon.Token)
            { Adapter = lease.Adapter })
            .ToList();
        var meter = RequestMeter.Of(http);
        if (meter is not null) await meter.AdmitAsync(lease.Id, prompt.Length, sequences.Sum(s => (long)s.Parameters.MaxTokens), http.RequestAborted);
        served.Scheduler.Submit(sequences);

        string id = TokenTexts.NewId("chatcmpl-");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        try
        {
            if (request.Common.Stream) await StreamAsync(http, lease, request, plan, sequences, prompt.Length, id, created);
            else await RespondAsync(http, lease, request, plan, sequences, prompt.Length, id, created);
        }
        finally
        {
            await abandon.CancelAsync();
        }
    }

    private static int[] RenderPrompt(ServedModel served, ChatRequest request, ReplyPlan plan)
    {
        try
        {
            return served.Prompts.Tokenize(request.Messages, plan.OffersTools ? request.Reply.Tools : null);
        }
        catch (TemplateException problem)
        {
            // Templates reject conversations they cannot express (e.g. roles that do not alternate).
            throw ApiException.BadRequest($"The model's chat template rejected the messages: {problem.Message}", "messages", "invalid_messages");
        }
    }

    private static async Task RespondAsync(HttpContext http, ModelLease lease, ChatRequest request, ReplyPlan plan,
        List<SequenceRequest> sequences, int promptTokens, string id, long created)
    {
        var served = lease.Model;
        var choices = sequences.Select(_ => new ChoiceAccumulator()).ToList();
        await foreach (var (choice, e) in ChoiceStreams.Merge(sequences, http.RequestAborted)) choices[choice].Add(e);
        var tokenizer = served.Model.Tokenizer;
        var result = choices.Select((c, index) =>
        {
            var (content, calls) = Collect(plan.NewReader(), c.Text);
            return new ChatChoice(index,
                new ChatResponseMessage(content) { ToolCalls = calls.Count > 0 ? calls : null },
                request.Logprobs ? ChoiceAccumulator.ChatLogprobsOf(c.Tokens, tokenizer) : null,
                calls.Count > 0 ? "tool_calls" : TokenTexts.FinishReason(c.Reason));
        }).ToList();
        var response = new ChatCompletionResponse(id, created, lease.Id, result, ChoiceAccumulator.UsageOf(promptTokens, choices));
        if (RequestMeter.Of(http) is { } meter) await meter.CompleteAsync(id, response.Usage);
        await Results.Json(response, ApiJsonContext.Default.ChatCompletionResponse).ExecuteAsync(http);
    }

    /// <summary>A whole reply as content (null when it only calls tools) and its calls.</summary>
    private static (string? Content, List<ToolCallDto> Calls) Collect(ReplyReader reader, string text)
    {
        var content = new System.Text.StringBuilder();
        var calls = new List<ToolCallDto>();
        foreach (var delta in reader.Push(text).Concat(reader.Finish()))
        {
            switch (delta)
            {
                case ContentDelta c:
                    content.Append(c.Text);
                    break;
                case ToolCallOpened opened:
                    calls.Add(new ToolCallDto(null, opened.Id, "function", new FunctionCallDto(opened.Name, "")));
                    break;
                case ToolCallArguments arguments:
                    var call = calls[arguments.Index];
                    calls[arguments.Index] = call with { Function = call.Function with { Arguments = call.Function.Arguments + arguments.Fragment } };
                    break;
            }
        }
        return (calls.Count > 0 && content.Length == 0 ? null : content.ToString(), calls);
    }

    private static async Task StreamAsync(HttpContext http, ModelLease lease, ChatRequest request, ReplyPlan plan,
        List<SequenceRequest> sequences, int promptTokens, string id, long created)
    {
        var served = lease.Model;
        var tokenizer = served.Model.Tokenizer;
        var events = new ServerSentEvents(http.Response);
        var type = ApiJsonContext.Default.ChatCompletionChunk;
        ChatCompletionChunk Chunk(ChatChunkChoice choice) => new(id, created, lease.Id, [choice]);

        await events.StartAsync();
        var choices = sequences.Select(_ => new ChoiceAccumulator()).ToList();
        var readers = sequences.Select(_ => plan.NewReader()).ToList();
        var meter = RequestMeter.Of(http);
        meter?.Track(() => choices.Sum(c => c.Tokens.Count));
        for (int i = 0; i < choices.Count; i++)
            await events.WriteAsync(Chunk(new ChatChunkChoice(i, new ChatDelta("assistant", ""), null, null)), type);
        try
        {
            await foreach (var (choice, e) in ChoiceStreams.Merge(sequences, http.RequestAborted))
            {
                choices[choice].Add(e);
                if (e is SequenceText text)
                {
                    var logprobs = request.Logprobs && text.Logprob is not null ? ChoiceAccumulator.ChatLogprobsOf([text], tokenizer) : null;
                    var deltas = readers[choice].Push(text.Text);
                    // A token that completes no text still carries its logprob in a plain-text reply.
                    if (deltas.Count == 0 && logprobs is not null && plan.IsText) deltas = [new ContentDelta("")];
                    foreach (var delta in deltas)
                    {
                        await events.WriteAsync(Chunk(new ChatChunkChoice(choice, DeltaOf(delta), delta is ContentDelta ? logprobs : null, null)), type);
                        if (delta is ContentDelta) logprobs = null;
                    }
                }
                else if (e is SequenceFinished)
                {
                    foreach (var delta in readers[choice].Finish())
                        await events.WriteAsync(Chunk(new ChatChunkChoice(choice, DeltaOf(delta), null, null)), type);
                    string reason = readers[choice].Calls > 0 ? "tool_calls" : TokenTexts.FinishReason(choices[choice].Reason);
                    await events.WriteAsync(Chunk(new ChatChunkChoice(choice, new ChatDelta(null, null), null, reason)), type);
                }
            }
        }
        catch (Exception problem) when (problem is not OperationCanceledException || !http.RequestAborted.IsCancellationRequested)
        {
            await events.WriteErrorAsync(problem.Message, ApiErrorTypes.Server, null);
            return;
        }
        var usage = ChoiceAccumulator.UsageOf(promptTokens, choices);
        // Recorded before the stream's end, so every client that saw [DONE] has its usage committed.
        if (meter is not null) await meter.CompleteAsync(id, usage);
        if (request.Common.IncludeUsage)
            await events.WriteAsync(new ChatCompletionChunk(id, created, lease.Id, []) { Usage = usage }, type);
        await events.DoneAsync();
    }

    /// <summary>
    /// A delta as OpenAI streams it: text as content; a call first as its index, id, type and name with empty
    /// arguments, then its arguments in fragments under the same index.
    /// </summary>
    private static ChatDelta DeltaOf(ReplyDelta delta) => delta switch
    {
        ContentDelta c => new ChatDelta(null, c.Text),
        ToolCallOpened opened => new ChatDelta(null, null) { ToolCalls = [new ToolCallDto(opened.Index, opened.Id, "function", new FunctionCallDto(opened.Name, ""))] },
        ToolCallArguments arguments => new ChatDelta(null, null) { ToolCalls = [new ToolCallDto(arguments.Index, null, null, new FunctionCallDto(null, arguments.Fragment))] },
        _ => throw new ArgumentOutOfRangeException(nameof(delta)),
    };
}
