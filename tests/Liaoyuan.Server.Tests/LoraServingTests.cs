using System.Net;
using System.Net.Http.Json;
using System.Runtime.InteropServices;
using System.Text.Json;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Server.Scheduling;
using Liaoyuan.TestSupport;
using OpenAI.Chat;
using EngineMessage = Liaoyuan.Engine.Templates.ChatMessage;

namespace Liaoyuan.Server.Tests;

/// <summary>
/// LoRA adapters served as models of their own: listed, selected by id, computed exactly as the engine applies
/// them, and confined to their own requests while base-model requests share the same batched steps.
/// </summary>
[Collection(ServerCollection.Name)]
public sealed class LoraServingTests(ModelFixture models) : IDisposable
{
    private const string Poet = ModelFixture.ModelId + ":poet", Coder = ModelFixture.ModelId + ":coder";
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>Random A and B on every attention and feed-forward projection of the fixture's model.</summary>
    private string WriteAdapter(string name, int seed, GgufFile? shapesFrom = null)
    {
        var random = new Random(seed);
        var file = shapesFrom ?? models.Reference.File;
        var w = new GgufWriter();
        w.Set("general.architecture", file.GetString("general.architecture"));
        w.Set("general.type", "adapter");
        w.Set("adapter.type", "lora");
        w.Set("adapter.lora.alpha", 4f);
        const int rank = 4;
        foreach (var tensor in file.Tensors.Where(t => t.Name.StartsWith("blk.", StringComparison.Ordinal) && t.Shape.Length == 2))
        {
            long inputs = tensor.Shape[0], outputs = tensor.Shape[1];
            w.AddTensor(tensor.Name + ".lora_a", GgmlType.F32, [inputs, rank], RandomFloats(random, inputs * rank));
            w.AddTensor(tensor.Name + ".lora_b", GgmlType.F32, [rank, outputs], RandomFloats(random, rank * outputs));
        }
        string path = _dir.File(name);
        w.Write(path);
        return path;
    }

    private static byte[] RandomFloats(Random random, long count) =>
        MemoryMarshal.AsBytes(Enumerable.Range(0, (int)count).Select(_ => (float)(random.NextDouble() - 0.5) * 0.6f).ToArray().AsSpan()).ToArray();

    private Task<RunningServer> StartAsync(Func<ServerOptions, ServerOptions>? more = null) =>
        RunningServer.StartAsync(models, o =>
        {
            var withAdapters = o with
            {
                Adapters = [new AdapterSource(ModelFixture.ModelId, "poet", WriteAdapter("poet.gguf", 1)),
                    new AdapterSource(ModelFixture.ModelId, "coder", WriteAdapter("coder.gguf", 2), Scale: 0.5f)],
            };
            return more?.Invoke(withAdapters) ?? withAdapters;
        });

    /// <summary>Greedy decoding by the engine alone, the adapter applied as `liaoyuan run --lora` applies it.</summary>
    private (string Text, List<float> Logprobs) EngineGreedy(int[] prompt, int maxTokens, string? adapter, float scale = 1f)
    {
        using var model = ModelLoader.Load(models.ModelPath);
        if (adapter is not null) LoraAdapter.Apply(adapter, model, scale);
        var session = new InferenceSession(model.Model, 512);
        var logits = session.Evaluate(prompt).ToArray();
        var bytes = new List<byte>();
        var logprobs = new List<float>();
        while (logprobs.Count < maxTokens)
        {
            int token = Engine.Generation.Sampler.ArgMax(logits);
            if (model.Tokenizer.IsEndOfGeneration(token)) break;
            double max = logits.Max(), sum = logits.Sum(l => Math.Exp(l - max));
            logprobs.Add((float)(logits[token] - max - Math.Log(sum)));
            if (model.Tokenizer.GetTokenType(token) != Engine.Tokenization.TokenType.Control) bytes.AddRange(model.Tokenizer.TokenBytes(token));
            logits = session.Evaluate([token]).ToArray();
        }
        return (System.Text.Encoding.UTF8.GetString([.. bytes]), logprobs);
    }

    private static async Task<(string Text, List<float> Logprobs, string Model)> ChatAsync(RunningServer server, string model, string question, int maxTokens)
    {
        var completion = (await server.OpenAi().GetChatClient(model).CompleteChatAsync([new UserChatMessage(question)],
            new ChatCompletionOptions { MaxOutputTokenCount = maxTokens, Temperature = 0, IncludeLogProbabilities = true })).Value;
        return (completion.Content.Count == 0 ? "" : completion.Content[0].Text,
            completion.ContentTokenLogProbabilities.Select(p => p.LogProbability).ToList(), completion.Model);
    }

    private static void Same((string Text, List<float> Logprobs) expected, (string Text, List<float> Logprobs, string Model) actual)
    {
        Assert.Equal(expected.Text, actual.Text);
        Assert.Equal(expected.Logprobs.Count, actual.Logprobs.Count);
        // The fixture's F32 products round differently in a batch's four-token tiles than one token at a time,
        // and the difference grows over the answer (~1e-4 by the tenth token); an adapter applied to the wrong
        // rows moves log-probabilities by far more.
        for (int i = 0; i < expected.Logprobs.Count; i++)
            Assert.True(Math.Abs(expected.Logprobs[i] - actual.Logprobs[i]) <= 5e-4f, $"{actual.Model} token {i}: {actual.Logprobs[i]} vs engine {expected.Logprobs[i]}");
    }

    [Fact]
    public async Task Adapters_are_listed_under_their_own_ids_with_their_base_as_parent()
    {
        await using var server = await StartAsync();
        var listed = (await server.OpenAi().GetOpenAIModelClient().GetModelsAsync()).Value;
        Assert.Equal([ModelFixture.ModelId, "alias", Poet, Coder], listed.Select(m => m.Id));
        Assert.All(listed, m => Assert.Equal("liaoyuan", m.OwnedBy));

        var poet = await server.Http.GetFromJsonAsync<JsonElement>($"/v1/models/{Poet}");
        Assert.Equal(Poet, poet.GetProperty("id").GetString());
        Assert.Equal(ModelFixture.ModelId, poet.GetProperty("parent").GetString());
        var plain = await server.Http.GetFromJsonAsync<JsonElement>($"/v1/models/{ModelFixture.ModelId}");
        Assert.False(plain.TryGetProperty("parent", out _));
    }

    [Fact]
    public async Task A_request_for_an_adapter_matches_the_engine_with_that_adapter_and_differs_from_the_base()
    {
        await using var server = await StartAsync();
        const string question = "Write about the sea.";
        int[] prompt = models.ChatPromptTokens(new EngineMessage("user", question));
        // The base answers first, so its cached prompt sits in a slot that the adapter's request must not reuse.
        var plain = await ChatAsync(server, ModelFixture.ModelId, question, 10);
        var poet = await ChatAsync(server, Poet, question, 10);
        var coder = await ChatAsync(server, Coder, question, 10);

        Same(EngineGreedy(prompt, 10, null), plain);
        Same(EngineGreedy(prompt, 10, server.Server.Options.Adapters[0].Path), poet);
        Same(EngineGreedy(prompt, 10, server.Server.Options.Adapters[1].Path, 0.5f), coder);
        Assert.Equal(Poet, poet.Model);
        Assert.NotEqual(plain.Logprobs, poet.Logprobs);
        Assert.NotEqual(poet.Logprobs, coder.Logprobs);
    }

    /// <summary>Batches decode steps as the default executor does, and counts the steps that mixed adapters.</summary>
    private sealed class MixCountingExecutor : IDecodeStepExecutor
    {
        private BatchedDecodeStepExecutor? _inner;
        public int MixedSteps;

        public void Decode(IReadOnlyList<(InferenceSession Session, int[] Tokens)> step)
        {
            _inner ??= new BatchedDecodeStepExecutor(step[0].Session.Model, 512);
            if (step.Select(s => s.Session.Adapter).Distinct().Count() > 1) Interlocked.Increment(ref MixedSteps);
            Thread.Sleep(5); // lets every concurrent request join before the first ones finish
            _inner.Decode(step);
        }
    }

    [Fact]
    public async Task Base_and_adapter_requests_decoded_in_the_same_steps_each_get_their_own_answer()
    {
        var executor = new MixCountingExecutor();
        await using var server = await StartAsync(o => o with
        {
            DecodeStepExecutor = () => executor,
            Scheduler = o.Scheduler with { Slots = 6 },
        });
        string[] ids = [ModelFixture.ModelId, Poet, Coder, ModelFixture.ModelId, Poet, Coder];
        string[] questions = ["One.", "One.", "One.", "Two and three.", "Two and three.", "Two and three."];
        var answers = await Task.WhenAll(ids.Select((id, i) => ChatAsync(server, id, questions[i], 12)));

        Assert.True(executor.MixedSteps > 0, "no decode step had sequences of different adapters");
        var adapters = server.Server.Options.Adapters;
        for (int i = 0; i < ids.Length; i++)
        {
            int[] prompt = models.ChatPromptTokens(new EngineMessage("user", questions[i]));
            var expected = ids[i] == Poet ? EngineGreedy(prompt, 12, adapters[0].Path)
                : ids[i] == Coder ? EngineGreedy(prompt, 12, adapters[1].Path, 0.5f)
                : EngineGreedy(prompt, 12, null);
            Same(expected, answers[i]);
            Assert.Equal(ids[i], answers[i].Model);
        }
    }

    [Fact]
    public async Task An_unknown_adapter_id_is_404()
    {
        await using var server = await StartAsync();
        var response = await server.PostJsonAsync("/v1/chat/completions",
            $$"""{"model":"{{ModelFixture.ModelId}}:nope","messages":[{"role":"user","content":"hi"}]}""");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        var error = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("error");
        Assert.Equal("model_not_found", error.GetProperty("code").GetString());
        Assert.Equal(HttpStatusCode.NotFound, (await server.Http.GetAsync($"/v1/models/{ModelFixture.ModelId}:nope")).StatusCode);
    }

    [Fact]
    public void A_missing_adapter_one_for_another_shape_or_an_unknown_base_stops_the_server_at_creation()
    {
        string other = _dir.File("wider.gguf");
        TestModelBuilder.Write(other, new TestModelShape { Architecture = "qwen2", Embedding = 32, HeadDim = 8, Context = 64 }, TestVocabularies.Multilingual());
        using var otherFile = GgufFile.Open(other);
        string misfit = WriteAdapter("misfit.gguf", 3, otherFile);
        var options = new ServerOptions { Models = [new ModelSource(ModelFixture.ModelId, models.ModelPath)], NoAuth = true, Port = 0 };

        string Refused(AdapterSource adapter) =>
            Assert.Throws<ArgumentException>(() => LiaoyuanServer.Create(options with { Adapters = [adapter] }, _ => { })).Message;

        Assert.Contains("no such file", Refused(new AdapterSource(ModelFixture.ModelId, "gone", _dir.File("gone.gguf"))));
        Assert.Contains("do not fit the base tensor", Refused(new AdapterSource(ModelFixture.ModelId, "misfit", misfit)));
        Assert.Contains("no model 'other' is served", Refused(new AdapterSource("other", "poet", WriteAdapter("p.gguf", 1))));
    }
}
