using System.Net;
using System.Text.Json;

namespace Liaoyuan.Server.Tests;

/// <summary>Client mistakes get the right 4xx with an OpenAI-style error object, and the server keeps serving.</summary>
[Collection(ServerCollection.Name)]
public sealed class BadInputTests(ModelFixture models)
{
    private const string Model = ModelFixture.ModelId;
    private const string Chat = "/v1/chat/completions";

    public static TheoryData<string, string, int, string?, string?> Cases => new()
    {
        { Chat, "{\"model\": \"tiny-qwen\", \"messages\": [", 400, null, "invalid_json" },
        { Chat, "[1, 2, 3]", 400, null, "invalid_json" },
        { Chat, """{"model":"tiny-qwen","messages":"hello"}""", 400, "messages", "invalid_type" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}""", 400, "temperature", "invalid_type" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"temperature":3}""", 400, "temperature", "invalid_value" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"wizard","content":"hi"}]}""", 400, "messages[0].role", "invalid_value" },
        { Chat, """{"model":"tiny-qwen","messages":[]}""", 400, "messages", "invalid_value" },
        { Chat, """{"messages":[{"role":"user","content":"hi"}]}""", 400, "model", "missing_required_parameter" },
        { Chat, """{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}""", 404, "model", "model_not_found" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"max_tokens":0}""", 400, "max_tokens", "invalid_value" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":-5}""", 400, "max_completion_tokens", "invalid_value" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"max_tokens":100000}""", 400, "max_tokens", "context_length_exceeded" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"n":1000}""", 400, "n", "invalid_value" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"top_logprobs":3}""", 400, "top_logprobs", "invalid_value" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"stop":[1,2]}""", 400, "stop[0]", "invalid_type" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"strange"}}}}""", 400, "response_format.json_schema.schema", "invalid_schema" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","pattern":"a+"}}}}""", 400, "response_format.json_schema.schema", "invalid_schema" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"tool_choice":"required"}""", 400, "tool_choice", "invalid_value" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", 400, "messages[0].content[0].type", "unsupported_content" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"context_length":100000}""", 400, "context_length", "invalid_value" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"context_length":0}""", 400, "context_length", "invalid_value" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"context_length":"big"}""", 400, "context_length", "invalid_type" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"context_length":8}""", 400, "messages", "context_length_exceeded" },
        { Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"max_tokens":60,"context_length":40}""", 400, "max_tokens", "context_length_exceeded" },
        { "/v1/completions", """{"model":"tiny-qwen","prompt":"hi","max_tokens":30,"context_length":16}""", 400, "max_tokens", "context_length_exceeded" },
        { "/v1/completions", """{"model":"tiny-qwen","prompt":"hi","max_tokens":0}""", 400, "max_tokens", "invalid_value" },
        { "/v1/completions", """{"model":"tiny-qwen","prompt":[99999]}""", 400, "prompt", "invalid_value" },
        { "/v1/completions", """{"model":"tiny-qwen","prompt":{"text":"hi"}}""", 400, "prompt", "invalid_type" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_requests_get_an_OpenAI_error_and_the_server_keeps_serving(string path, string body, int status, string? param, string? code)
    {
        await using var server = await RunningServer.StartAsync(models);
        var response = await server.PostJsonAsync(path, body);
        await AssertErrorAsync(response, status, param, code);
        await AssertStillServesAsync(server);
    }

    [Fact]
    public async Task A_prompt_longer_than_the_context_is_refused()
    {
        await using var server = await RunningServer.StartAsync(models, o => o with { Scheduler = o.Scheduler with { ContextLength = 64 } });
        string longText = string.Join(" ", Enumerable.Repeat("hello world", 80));
        var response = await server.PostJsonAsync(Chat, JsonSerializer.Serialize(new
        {
            model = Model,
            messages = new[] { new { role = "user", content = longText } },
        }));
        await AssertErrorAsync(response, 400, "messages", "context_length_exceeded");
        await AssertStillServesAsync(server);
    }

    [Fact]
    public async Task An_oversized_body_is_refused_with_413()
    {
        await using var server = await RunningServer.StartAsync(models, o => o with { MaxRequestBodyBytes = 16 * 1024 });
        string big = new('x', 64 * 1024);
        var response = await server.PostJsonAsync(Chat, $$"""{"model":"tiny-qwen","messages":[{"role":"user","content":"{{big}}"}]}""");
        await AssertErrorAsync(response, 413, null, "request_too_large");
        await AssertStillServesAsync(server);
    }

    [Fact]
    public async Task Unknown_paths_and_methods_get_JSON_errors_too()
    {
        await using var server = await RunningServer.StartAsync(models);
        await AssertErrorAsync(await server.Http.GetAsync("/v1/nothing-here"), 404, null, null);
        await AssertErrorAsync(await server.Http.GetAsync(Chat), 405, null, null);
        await AssertErrorAsync(await server.Http.GetAsync("/v1/models/no-such-model"), 404, "model", "model_not_found");
    }

    [Fact]
    public async Task Without_no_auth_the_api_needs_a_key()
    {
        using var data = new Liaoyuan.TestSupport.TempDirectory();
        await using var server = await RunningServer.StartAsync(models, o => o with { NoAuth = false, DataDirectory = data.Path });
        await AssertErrorAsync(await server.Http.GetAsync("/v1/models"), 401, null, "invalid_api_key");
        Assert.Equal("Bearer", (await server.Http.GetAsync("/v1/models")).Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.OK, (await server.Http.GetAsync("/health")).StatusCode);
        Assert.StartsWith("ly-admin-", server.Server.Platform!.GeneratedAdminKey);
    }

    internal static async Task AssertErrorAsync(HttpResponseMessage response, int status, string? param, string? code)
    {
        string text = await response.Content.ReadAsStringAsync();
        Assert.True(status == (int)response.StatusCode, $"expected {status}, got {(int)response.StatusCode}: {text}");
        using var json = JsonDocument.Parse(text);
        var error = json.RootElement.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.Equal(param, error.GetProperty("param").GetString());
        if (code is not null) Assert.Equal(code, error.GetProperty("code").GetString());
    }

    private static async Task AssertStillServesAsync(RunningServer server)
    {
        var ok = await server.PostJsonAsync(Chat, """{"model":"tiny-qwen","messages":[{"role":"user","content":"hi"}],"max_tokens":2}""");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
    }
}
