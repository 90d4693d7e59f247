using System.ClientModel;
using System.Net.Http.Json;
using System.Text.Json;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Templates;
using Liaoyuan.Server;
using Liaoyuan.Server.Scheduling;
using Liaoyuan.TestSupport;
using OpenAI;

namespace Liaoyuan.Server.Tests;

/// <summary>A small random-weight qwen2 model with a ChatML-capable vocabulary, written once for all server tests.</summary>
public sealed class ModelFixture : IDisposable
{
    private readonly TempDirectory _folder = new();

    public ModelFixture()
    {
        ModelPath = _folder.File("tiny-qwen.gguf");
        TestModelBuilder.Write(ModelPath, new TestModelShape { Architecture = "qwen2", Context = 2048 }, TestVocabularies.Multilingual());
        Reference = ModelLoader.Load(ModelPath);
    }

    public const string ModelId = "tiny-qwen";
    public string ModelPath { get; }

    /// <summary>The same model loaded in the test, to compute what the server should answer.</summary>
    public LoadedModel Reference { get; }

    /// <summary>The chat prompt's tokens as the server renders them (the model has no template, so ChatML).</summary>
    public int[] ChatPromptTokens(params ChatMessage[] messages)
    {
        var template = ChatTemplate.FromModelOrFallback(Reference.Tokenizer.ChatTemplate, _ => { });
        string text = template.Render(messages, new ChatTemplateOptions
        {
            BosToken = Reference.Tokenizer.TokenText(Reference.Tokenizer.BosId),
            EosToken = Reference.Tokenizer.TokenText(Reference.Tokenizer.EosId),
        });
        return Reference.Tokenizer.Encode(text, addSpecial: false, parseSpecial: true);
    }

    /// <summary>Greedy continuation computed directly with the engine: the tokens and their text as the server shows it.</summary>
    public (List<int> Tokens, string Text) Greedy(int[] prompt, int maxTokens)
    {
        var session = new InferenceSession(Reference.Model, 512);
        var logits = session.Evaluate(prompt).ToArray();
        var tokens = new List<int>();
        var bytes = new List<byte>();
        while (tokens.Count < maxTokens)
        {
            int token = Engine.Generation.Sampler.ArgMax(logits);
            if (Reference.Tokenizer.IsEndOfGeneration(token)) break;
            tokens.Add(token);
            if (Reference.Tokenizer.GetTokenType(token) != Engine.Tokenization.TokenType.Control) bytes.AddRange(Reference.Tokenizer.TokenBytes(token));
            logits = session.Evaluate([token]).ToArray();
        }
        return (tokens, System.Text.Encoding.UTF8.GetString([.. bytes]));
    }

    public void Dispose()
    {
        Reference.Dispose();
        _folder.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ModelFixture>
{
    public const string Name = "server";
}

/// <summary>A server on 127.0.0.1 with a free port, stopped when the test ends.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    private RunningServer(LiaoyuanServer server)
    {
        Server = server;
        Http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
    }

    public LiaoyuanServer Server { get; }
    public HttpClient Http { get; }
    public Uri V1 => new(Server.BaseAddress, "/v1");

    public static async Task<RunningServer> StartAsync(ModelFixture models, Func<ServerOptions, ServerOptions>? configure = null)
    {
        var options = new ServerOptions
        {
            Models = [new ModelSource(ModelFixture.ModelId, models.ModelPath), new ModelSource("alias", models.ModelPath)],
            Host = "127.0.0.1",
            Port = 0,
            NoAuth = true,
            Threads = 1,
            Scheduler = new SchedulerOptions { Slots = 4, QueueCapacity = 16 },
        };
        var server = LiaoyuanServer.Create(configure?.Invoke(options) ?? options, logging => { });
        await server.StartAsync();
        return new RunningServer(server);
    }

    public OpenAIClient OpenAi() =>
        new(new ApiKeyCredential("none"), new OpenAIClientOptions { Endpoint = V1, NetworkTimeout = TimeSpan.FromSeconds(60) });

    public Task<HttpResponseMessage> PostJsonAsync(string path, string json) =>
        Http.PostAsync(path, new StringContent(json, System.Text.Encoding.UTF8, "application/json"));

    public async Task<ModelScheduler> SchedulerAsync(string id = ModelFixture.ModelId)
    {
        using var lease = await Server.Registry.AcquireAsync(id, CancellationToken.None);
        return lease.Model.Scheduler;
    }

    public async Task<JsonElement> HealthAsync() => await Http.GetFromJsonAsync<JsonElement>("/health");

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.StopAsync();
        await Server.DisposeAsync();
    }
}
