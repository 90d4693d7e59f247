using Liaoyuan.Engine.Templates;
using Liaoyuan.Server.Hosting;
using Liaoyuan.Server.Platform;
using Liaoyuan.Server.Scheduling;
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
        var plan = ChatOutputPlan.For(request, served);
        int[] prompt = RenderPrompt(served, request, plan);
        int context = served.Scheduler.ContextLength;
        // Cancelled when this handler ends for any reason, so the scheduler drops sequences nobody will read.
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var sequences = Enumerable.Range(0, request.Common.Choices)
            .Select(choice => new SequenceRequest(prompt,
                request.Common.ForChoice(choice, prompt.Length, context, served.Model.Config.VocabSize, "messages", request.Logprobs, request.TopLogprobs, constraint: plan.Constraint),
                abandon.Token))
            .ToList();
        var meter = RequestMeter.Of(http);
        if (meter is not null) await meter.AdmitAsync(served.Id, prompt.Length, sequences.Sum(s => (long)s.Parameters.MaxTokens), http.RequestAborted);
        served.Scheduler.Submit(sequences);

        string id = TokenTexts.NewId("chatcmpl-");
        long created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        try
        {
            if (request.Common.Stream) await StreamAsync(http, served, request, plan, sequences, prompt.Length, id, created);
            else await RespondAsync(http, served, request, plan, sequences, prompt.Length, id, created);
        }
        finally
        {
            await abandon.CancelAsync();
        }
    }

    private static int[] RenderPrompt(ServedModel served, ChatRequest request, ChatOutputPlan plan)
    {
        var tokenizer = served.Model.Tokenizer;
        string text;
        try
        {
            text = served.Template.Render(request.Messages, new ChatTemplateOptions
            {
                AddGenerationPrompt = true,
                BosToken = tokenizer.BosId >= 0 ? tokenizer.TokenText(tokenizer.BosId) : "",
                EosToken = tokenizer.EosId >= 0 ? tokenizer.TokenText(tokenizer.EosId) : "",
                Tools = plan.OffersTools ? request.Tools : null,
            });
        }
        catch (TemplateException problem)
        {
            // Templates reject conversations they cannot express (e.g. roles that do not alternate).
            throw ApiException.BadRequest($"The model's chat template rejected the messages: {problem.Message}", "messages", "invalid_messages");
        }
        // The template writes BOS itself when the model wants one, so no special tokens are added here.
        return tokenizer.Encode(text, addSpecial: false, parseSpecial: true);
    }

    private static async Task RespondAsync(HttpContext http, ServedModel served, ChatRequest request, ChatOutputPlan plan,
        List<SequenceRequest> sequences, int promptTokens, string id, long created)
    {
        var choices = sequences.Select(_ => new ChoiceAccumulator()).ToList();
        await foreach (var (choice, e) in ChoiceStreams.Merge(sequences, http.RequestAborted)) choices[choice].Add(e);
        var tokenizer = served.Model.Tokenizer;
        var result = choices.Select((c, index) =>
        {
            var (content, calls) = plan.Interpret(c.Text, index);
            return new ChatChoice(index,
                new ChatResponseMessage(content) { ToolCalls = calls.Count > 0 ? calls : null },
                request.Logprobs ? ChoiceAccumulator.ChatLogprobsOf(c.Tokens, tokenizer) : null,
                calls.Count > 0 ? "tool_calls" : TokenTexts.FinishReason(c.Reason));
        }).ToList();
        var response = new ChatCompletionResponse(id, created, served.Id, result, ChoiceAccumulator.UsageOf(promptTokens, choices));
        if (RequestMeter.Of(http) is { } meter) await meter.CompleteAsync(id, response.Usage);
        await Results.Json(response, ApiJsonContext.Default.ChatCompletionResponse).ExecuteAsync(http);
    }

    private static async Task StreamAsync(HttpContext http, ServedModel served, ChatRequest request, ChatOutputPlan plan,
        List<SequenceRequest> sequences, int promptTokens, string id, long created)
    {
        var tokenizer = served.Model.Tokenizer;
        var events = new ServerSentEvents(http.Response);
        var type = ApiJsonContext.Default.ChatCompletionChunk;
        ChatCompletionChunk Chunk(ChatChunkChoice choice) => new(id, created, served.Id, [choice]);

        await events.StartAsync();
        var choices = sequences.Select(_ => new ChoiceAccumulator()).ToList();
        var meter = RequestMeter.Of(http);
        meter?.Track(() => choices.Sum(c => c.Tokens.Count));
        for (int i = 0; i < choices.Count; i++)
            await events.WriteAsync(Chunk(new ChatChunkChoice(i, new ChatDelta("assistant", ""), null, null)), type);
        try
        {
            await foreach (var (choice, e) in ChoiceStreams.Merge(sequences, http.RequestAborted))
            {
                choices[choice].Add(e);
                if (e is SequenceText text && !plan.HoldsTextUntilDone && (text.Text.Length > 0 || text.Logprob is not null))
                {
                    var logprobs = request.Logprobs && text.Logprob is not null ? ChoiceAccumulator.ChatLogprobsOf([text], tokenizer) : null;
                    await events.WriteAsync(Chunk(new ChatChunkChoice(choice, new ChatDelta(null, text.Text), logprobs, null)), type);
                }
                else if (e is SequenceFinished)
                {
                    await FinishChoiceAsync(events, plan, choices[choice], choice, request, tokenizer, Chunk);
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
            await events.WriteAsync(new ChatCompletionChunk(id, created, served.Id, []) { Usage = usage }, type);
        await events.DoneAsync();
    }

    private static async Task FinishChoiceAsync(ServerSentEvents events, ChatOutputPlan plan, ChoiceAccumulator accumulated, int choice,
        ChatRequest request, Engine.Tokenization.Tokenizer tokenizer, Func<ChatChunkChoice, ChatCompletionChunk> chunk)
    {
        var type = ApiJsonContext.Default.ChatCompletionChunk;
        string reason = TokenTexts.FinishReason(accumulated.Reason);
        if (plan.HoldsTextUntilDone)
        {
            var (content, calls) = plan.Interpret(accumulated.Text, choice);
            var logprobs = request.Logprobs ? ChoiceAccumulator.ChatLogprobsOf(accumulated.Tokens, tokenizer) : null;
            if (content is not null)
                await events.WriteAsync(chunk(new ChatChunkChoice(choice, new ChatDelta(null, content), logprobs, null)), type);
            foreach (var call in calls)
            {
                // As OpenAI streams a call: first its id and name with empty arguments, then the arguments.
                var opening = call with { Function = new FunctionCallDto(call.Function.Name, "") };
                await events.WriteAsync(chunk(new ChatChunkChoice(choice, new ChatDelta(null, null) { ToolCalls = [opening] }, null, null)), type);
                var arguments = new ToolCallDto(call.Index, null, null, new FunctionCallDto(null, call.Function.Arguments));
                await events.WriteAsync(chunk(new ChatChunkChoice(choice, new ChatDelta(null, null) { ToolCalls = [arguments] }, null, null)), type);
            }
            if (calls.Count > 0) reason = "tool_calls";
        }
        await events.WriteAsync(chunk(new ChatChunkChoice(choice, new ChatDelta(null, null), null, reason)), type);
    }
}
