using System.Net.Http.Json;
using System.Text.Json;
using Liaoyuan.Cli.Commands;
using Liaoyuan.Server;
using Liaoyuan.Server.Scheduling;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests.Store;

/// <summary>run, chat and serve take store names where they take model files.</summary>
[Collection(StoreCollection.Name)]
public sealed class StoreNameTests(HubFixture fixture) : IDisposable
{
    private const string Name = "hf.co/names/tiny:Q8_0";
    private readonly TempDirectory _folder = new();

    private string StorePath => _folder.File("store");

    public void Dispose() => _folder.Dispose();

    private string Pull()
    {
        fixture.AddTypicalRepo("names", "tiny");
        var pulled = CliRunner.Run("pull", "hf.co/names/tiny:q8_0", "--store", StorePath);
        Assert.True(pulled.ExitCode == 0, pulled.Error);
        return Path.Combine(StorePath, "hf.co", "names", "tiny", "Q8_0", "tiny.q8_0.gguf");
    }

    [Fact]
    public void Run_and_chat_by_store_name_use_the_installed_file()
    {
        string file = Pull();
        string[] greedy = ["--prompt", "hello", "--max-tokens", "6", "--temperature", "0", "--threads", "1"];
        var byName = CliRunner.Run(["run", "hf.co/names/tiny", "--store", StorePath, .. greedy]);
        var byFile = CliRunner.Run(["run", file, .. greedy]);
        Assert.True(byName.ExitCode == 0, byName.Error);
        Assert.Equal(byFile.Out, byName.Out);
        Assert.NotEqual("", byName.Out.Trim());

        var chat = CliRunner.RunWithInput("hi\n/exit\n", "chat", Name, "--store", StorePath, "--temperature", "0", "--max-tokens", "4");
        Assert.True(chat.ExitCode == 0, chat.Error);
        Assert.Contains("Chatting with tiny.q8_0.gguf", chat.Out);
    }

    [Fact]
    public void A_store_name_that_is_not_installed_is_a_clear_error()
    {
        var result = CliRunner.Run("run", "hf.co/names/absent:Q8_0", "--store", StorePath, "--prompt", "x");
        Assert.Equal(LiaoyuanCommand.UsageError, result.ExitCode);
        Assert.Contains("hf.co/names/absent:Q8_0: not a file and not in the model store", result.Error);
        Assert.Contains("liaoyuan pull hf.co/names/absent:Q8_0", result.Error);
        var trick = CliRunner.Run("run", "hf.co/names/../../x", "--store", StorePath, "--prompt", "x");
        Assert.Equal(LiaoyuanCommand.UsageError, trick.ExitCode);
        Assert.Contains("is not a valid model name", trick.Error);
    }

    [Fact]
    public async Task Serve_offers_store_models_under_their_names()
    {
        string file = Pull();
        string data = _folder.File("data");
        var named = ServeCommand.ModelSources([Name.ToLowerInvariant(), "short=" + Name], data, StorePath);
        Assert.Equal([new ModelSource(Name, file), new ModelSource("short", file)], named);
        // Unnamed, every installed model is offered, as the loose GGUFs in DATA/models are.
        var everything = ServeCommand.ModelSources([], data, StorePath);
        Assert.Equal([new ModelSource(Name, file)], everything);

        await using var server = LiaoyuanServer.Create(new ServerOptions
        {
            Models = everything,
            Host = "127.0.0.1",
            Port = 0,
            NoAuth = true,
            Threads = 1,
            Scheduler = new SchedulerOptions { Slots = 1, QueueCapacity = 4 },
        }, logging => { });
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        var info = await http.GetFromJsonAsync<JsonElement>("/v1/models/" + Name);
        Assert.Equal(Name, info.GetProperty("id").GetString());
        using var response = await http.PostAsJsonAsync("/v1/completions", new { model = Name, prompt = "hello", max_tokens = 3, temperature = 0 });
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.IsSuccessStatusCode, body);
        Assert.Equal(Name, JsonDocument.Parse(body).RootElement.GetProperty("model").GetString());
        await server.StopAsync();
    }
}
