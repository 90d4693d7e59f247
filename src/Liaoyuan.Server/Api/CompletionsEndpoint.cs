using System.Text.Json;
using Liaoyuan.Engine.Tokenization;
using Liaoyuan.Server.Hosting;
using Liaoyuan.Server.Platform;
using Liaoyuan.Server.Scheduling;
using Microsoft.AspNetCore.Http;

namespace Liaoyuan.Server.Api;

/// <summary>
/// <c>POST /v1/completions</c>, the legacy text completion. With <c>echo</c> and <c>logprobs</c> it returns the
/// log-probability of every prompt token, which is how evaluation harnesses score continuations over HTTP.
/// </summary>
internal static class CompletionsEndpoint
{
    /// <summary>OpenAI's default for this endpoint when max_tokens is not given.</summary>
    private const int DefaultMaxTokens = 16;

    private sealed record Prompt(int[] Tokens, string Text);

    public static async Task HandleAsync(HttpContext http, ModelRegistry registry, ServerOptions options)
    {
        CommonRequestFields common;
        bool echo;
        int? logprobs;
        JsonElement promptField;
        using var body = await RequestBodies.ReadJsonObjectAsync(http.Request);
        var root = body.RootElement;
        common = CommonRequestFields.Read(root, options, allowZeroMaxTokens: true);
        echo = JsonFields.Bool(root, "echo") ?? false;
        logprobs = (int?)JsonFields.Integer(root, "logprobs", 0, CommonRequestFields.MaxTopLogprobs);
        if (common.MaxTokens == 0 && !echo)
            throw ApiException.BadRequest("'max_tokens' must be at least 1 (0 is allowed only with 'echo')", "max_tokens", "invalid_value");
        common = common with { MaxTokens = common.MaxTokens ?? DefaultMaxTokens };
        promptField = JsonFields.Optional(root, "prompt") ?? throw ApiException.BadRequest("'prompt' is required", "prompt", "missing_required_parameter");
        if (JsonFields.Has(root, "suffix")) throw ApiException.BadRequest("'suffix' is not supported", "suffix", "unsupported_parameter");

        using var lease = await registry.AcquireAsync(common.Model, http.RequestAborted);
        var served = lease.Model;
        var tokenizer = served.Model.Tokenizer;
        var prompts = ReadPrompts(promptField, tokenizer);
        int context = served.Scheduler.ContextLength;
        bool score = echo && logprobs is not null;
        // Cancelled when this handler ends for any reason, so the scheduler drops sequences nobody will read.
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(http.RequestAborted);
        var sequences = new List<SequenceRequest>();
        foreach (var prompt in prompts)
        {
            for (int choice = 0; choice < common.Choices; choice++)
            {
                var parameters = common.ForChoice(choice, prompt.Tokens.Length, context, tokenizer.VocabSize, "prompt",
                    logprobs is not null, logprobs ?? 0, score);
                sequences.Add(new SequenceRequest(prompt.Tokens, parameters, abandon.Token) { Adapter = lease.Adapter });
            }
        }
        // As OpenAI counts: each prompt once, however many choices it has.
        int promptTokens = prompts.Sum(p => p.Tokens.Length);
        if (RequestMeter.Of(http) is { } meter)
            await meter.AdmitAsync(lease.Id, promptTokens, sequences.Sum(s => (long)s.Parameters.MaxTokens), http.RequestAborted);
        served.Scheduler.Submit(sequences);

        var shape = new CompletionShape(TokenTexts.NewId("cmpl-"), DateTimeOffset.UtcNow.ToUnixTimeSeconds(), lease.Id, tokenizer,
            echo, logprobs is not null, [.. prompts.SelectMany(p => Enumerable.Repeat(p, common.Choices))]);
        try
        {
            if (common.Stream) await StreamAsync(http, shape, sequences, common.IncludeUsage, promptTokens);
            else await RespondAsync(http, shape, sequences, promptTokens);
        }
        finally
        {
            await abandon.CancelAsync();
        }
    }

    private sealed record CompletionShape(string Id, long Created, string Model, Tokenizer Tokenizer, bool Echo, bool Logprobs, Prompt[] PromptOfChoice);

    /// <summary>A string, an array of strings, an array of token ids, or an array of such arrays.</summary>
    private static List<Prompt> ReadPrompts(JsonElement field, Tokenizer tokenizer)
    {
        Prompt FromText(string text) => new(tokenizer.Encode(text, addSpecial: true, parseSpecial: true), text);
        Prompt FromTokens(JsonElement array, string at)
        {
            var tokens = new List<int>();
            foreach (var item in array.EnumerateArray())
            {
                if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out int token) || token < 0 || token >= tokenizer.VocabSize)
                    throw ApiException.BadRequest($"'{at}[{tokens.Count}]' must be a token id in [0, {tokenizer.VocabSize})", at, "invalid_value");
                tokens.Add(token);
            }
            return new([.. tokens], string.Concat(tokens.Select(t => TokenTexts.Text(tokenizer, t))));
        }

        var prompts = new List<Prompt>();
        if (field.ValueKind == JsonValueKind.String) prompts.Add(FromText(field.GetString()!));
        else if (field.ValueKind != JsonValueKind.Array) throw JsonFields.WrongType("prompt", "a string, an array of strings or an array of token ids", field);
        else if (field.GetArrayLength() > 0 && field[0].ValueKind == JsonValueKind.Number) prompts.Add(FromTokens(field, "prompt"));
        else
        {
            foreach (var item in field.EnumerateArray())
            {
                string at = $"prompt[{prompts.Count}]";
                prompts.Add(item.ValueKind switch
                {
                    JsonValueKind.String => FromText(item.GetString()!),
                    JsonValueKind.Array => FromTokens(item, at),
                    _ => throw JsonFields.WrongType(at, "a string or an array of token ids", item),
                });
            }
        }
        if (prompts.Count == 0) throw ApiException.BadRequest("'prompt' must not be empty", "prompt", "invalid_value");
        if (prompts.Any(p => p.Tokens.Length == 0)) throw ApiException.BadRequest("'prompt' must not be empty", "prompt", "invalid_value");
        return prompts;
    }

    private static async Task RespondAsync(HttpContext http, CompletionShape shape, List<SequenceRequest> sequences, int promptTokens)
    {
        var choices = sequences.Select(_ => new ChoiceAccumulator()).ToList();
        await foreach (var (choice, e) in ChoiceStreams.Merge(sequences, http.RequestAborted)) choices[choice].Add(e);
        var result = choices.Select((c, index) =>
        {
            var prompt = shape.PromptOfChoice[index];
            string text = shape.Echo ? prompt.Text + c.Text : c.Text;
            return new CompletionChoice(text, index, shape.Logprobs ? LogprobsOf(shape, prompt, c) : null, TokenTexts.FinishReason(c.Reason));
        }).ToList();
        int completion = choices.Sum(c => c.Finished?.CompletionTokens ?? c.Tokens.Count);
        var usage = new Usage(promptTokens, completion, promptTokens + completion);
        if (RequestMeter.Of(http) is { } meter) await meter.CompleteAsync(shape.Id, usage);
        var response = new CompletionResponse(shape.Id, shape.Created, shape.Model, result) { Usage = usage };
        await Results.Json(response, ApiJsonContext.Default.CompletionResponse).ExecuteAsync(http);
    }

    private static CompletionLogprobs LogprobsOf(CompletionShape shape, Prompt prompt, ChoiceAccumulator choice)
    {
        var tokenizer = shape.Tokenizer;
        var tokens = new List<string>();
        var values = new List<float?>();
        var tops = new List<Dictionary<string, float>?>();
        var offsets = new List<int>();
        int offset = 0;
        void Add(int token, TokenLogprob? logprob)
        {
            string text = TokenTexts.Text(tokenizer, token);
            tokens.Add(text);
            values.Add(logprob?.Logprob);
            Dictionary<string, float>? top = null;
            if (logprob is not null)
            {
                top = new Dictionary<string, float>(StringComparer.Ordinal);
                foreach (var (alternative, value) in logprob.Top) top.TryAdd(TokenTexts.Text(tokenizer, alternative), value);
            }
            tops.Add(top);
            offsets.Add(offset);
            offset += text.Length;
        }
        if (shape.Echo && choice.PromptScores is { } scores)
        {
            for (int i = 0; i < prompt.Tokens.Length; i++) Add(prompt.Tokens[i], scores.Tokens[i]);
        }
        else if (shape.Echo)
        {
            offset = prompt.Text.Length;
        }
        foreach (var token in choice.Tokens) Add(token.Token, token.Logprob);
        return new CompletionLogprobs(tokens, values, tops, offsets);
    }

    private static async Task StreamAsync(HttpContext http, CompletionShape shape, List<SequenceRequest> sequences, bool includeUsage, int promptTokens)
    {
        var events = new ServerSentEvents(http.Response);
        var type = ApiJsonContext.Default.CompletionResponse;
        CompletionResponse Chunk(CompletionChoice choice) => new(shape.Id, shape.Created, shape.Model, [choice]);
        await events.StartAsync();
        if (shape.Echo)
        {
            for (int i = 0; i < sequences.Count; i++)
                await events.WriteAsync(Chunk(new CompletionChoice(shape.PromptOfChoice[i].Text, i, null, null)), type);
        }
        var choices = sequences.Select(_ => new ChoiceAccumulator()).ToList();
        var meter = RequestMeter.Of(http);
        meter?.Track(() => choices.Sum(c => c.Tokens.Count));
        try
        {
            await foreach (var (choice, e) in ChoiceStreams.Merge(sequences, http.RequestAborted))
            {
                choices[choice].Add(e);
                if (e is SequenceText text && (text.Text.Length > 0 || text.Logprob is not null))
                {
                    CompletionLogprobs? logprobs = null;
                    if (shape.Logprobs && text.Logprob is { } lp)
                    {
                        var top = lp.Top.GroupBy(t => TokenTexts.Text(shape.Tokenizer, t.Token)).ToDictionary(g => g.Key, g => g.First().Logprob);
                        logprobs = new CompletionLogprobs([TokenTexts.Text(shape.Tokenizer, text.Token)], [lp.Logprob], [top], [0]);
                    }
                    await events.WriteAsync(Chunk(new CompletionChoice(text.Text, choice, logprobs, null)), type);
                }
                else if (e is SequenceFinished finished)
                {
                    await events.WriteAsync(Chunk(new CompletionChoice("", choice, null, TokenTexts.FinishReason(finished.Reason))), type);
                }
            }
        }
        catch (Exception problem) when (problem is not OperationCanceledException || !http.RequestAborted.IsCancellationRequested)
        {
            await events.WriteErrorAsync(problem.Message, ApiErrorTypes.Server, null);
            return;
        }
        int completion = choices.Sum(c => c.Finished?.CompletionTokens ?? 0);
        var usage = new Usage(promptTokens, completion, promptTokens + completion);
        // Recorded before the stream's end, so every client that saw [DONE] has its usage committed.
        if (meter is not null) await meter.CompleteAsync(shape.Id, usage);
        if (includeUsage) await events.WriteAsync(new CompletionResponse(shape.Id, shape.Created, shape.Model, []) { Usage = usage }, type);
        await events.DoneAsync();
    }
}
