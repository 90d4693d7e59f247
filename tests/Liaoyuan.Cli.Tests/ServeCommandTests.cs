using Liaoyuan.Cli.Commands;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Server;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests;

public sealed class ServeCommandTests
{
    [Fact]
    public void No_auth_mode_takes_no_admin_key_or_database()
    {
        using var folder = new TempDirectory();
        string model = folder.File("m.gguf");
        File.WriteAllBytes(model, []);
        var result = CliRunner.Run("serve", "--model", model, "--data", folder.Path, "--no-auth", "--admin-key", "0123456789abcdef0123");
        Assert.Equal(LiaoyuanCommand.UsageError, result.ExitCode);
        Assert.Contains("--no-auth", result.Error);
    }

    [Fact]
    public void An_unreachable_database_is_one_line_and_exit_code_2()
    {
        using var folder = new TempDirectory();
        string model = folder.File("m.gguf");
        File.WriteAllBytes(model, []);
        var result = CliRunner.Run("serve", "--model", model, "--port", "0", "--data", folder.Path,
            "--database", "Host=127.0.0.1;Port=1;Username=nobody;Database=none;Timeout=3");
        Assert.Equal(LiaoyuanCommand.UsageError, result.ExitCode);
        Assert.StartsWith("error: cannot open the database", result.Error);
        Assert.Single(result.Error.Trim().Split('\n'));
    }

    [Fact]
    public void Model_ids_are_file_names_or_aliases_and_the_data_folder_adds_its_models()
    {
        using var folder = new TempDirectory();
        Directory.CreateDirectory(folder.File("models"));
        string a = folder.File("qwen-small.gguf"), b = folder.File(Path.Combine("models", "llama-tiny.gguf"));
        File.WriteAllBytes(a, []);
        File.WriteAllBytes(b, []);
        var sources = ServeCommand.ModelSources([a, "chat=" + a], folder.Path);
        Assert.Equal(["qwen-small", "chat", "llama-tiny"], sources.Select(s => s.Id));
        Assert.Equal(a, sources[1].Path);
        Assert.Throws<UserInputException>(() => ServeCommand.ModelSources([a, a], folder.Path));
    }

    [Theory]
    [InlineData("16G", 16L << 30)]
    [InlineData("512MiB", 512L << 20)]
    [InlineData("1000", 1000L)]
    public void Memory_budgets_read_as_bytes(string text, long bytes) => Assert.Equal(bytes, ServeCommand.ParseBytes(text));

    [Fact]
    public void Lora_specs_name_the_base_the_adapter_and_its_scale()
    {
        using var folder = new TempDirectory();
        string adapter = folder.File("poet.gguf");
        File.WriteAllBytes(adapter, []);
        ModelSource[] one = [new("qwen", "q.gguf")], two = [new("qwen", "q.gguf"), new("llama", "l.gguf")];

        Assert.Equal(new AdapterSource("qwen", "poet", adapter), ServeCommand.AdapterSource(adapter, one, namedModels: 1));
        Assert.Equal(new AdapterSource("qwen", "verse", adapter, 0.5f), ServeCommand.AdapterSource($"verse={adapter}@0.5", two, namedModels: 1));
        Assert.Equal(new AdapterSource("llama", "verse", adapter), ServeCommand.AdapterSource($"llama:verse={adapter}", two, namedModels: 2));
        Assert.Equal(new AdapterSource("hf.co/org/repo:Q8_0", "v", adapter), ServeCommand.AdapterSource($"hf.co/org/repo:Q8_0:v={adapter}", two, 2));
        Assert.Equal("qwen:poet", ServeCommand.AdapterSource(adapter, one, 1).Id);

        Assert.Contains("say which model", Assert.Throws<UserInputException>(() => ServeCommand.AdapterSource(adapter, two, namedModels: 2)).Message);
        Assert.Contains("no such file", Assert.Throws<UserInputException>(() => ServeCommand.AdapterSource(folder.File("gone.gguf"), one, 1)).Message);
        Assert.Contains("scale", Assert.Throws<UserInputException>(() => ServeCommand.AdapterSource(adapter + "@loud", one, 1)).Message);
    }

    [Fact]
    public void An_adapter_that_does_not_fit_the_model_stops_serve_with_exit_code_2()
    {
        using var folder = new TempDirectory();
        string model = folder.File("tiny.gguf");
        TestModelBuilder.Write(model, new TestModelShape { Context = 32 }, TestVocabulary.ByteLevel());
        var w = new GgufWriter();
        w.Set("general.architecture", "llama");
        w.Set("general.type", "adapter");
        w.Set("adapter.type", "lora");
        w.AddTensor("blk.0.attn_q.weight.lora_a", GgmlType.F32, [32, 2], new byte[32 * 2 * 4]);
        w.AddTensor("blk.0.attn_q.weight.lora_b", GgmlType.F32, [2, 64], new byte[2 * 64 * 4]);
        string adapter = folder.File("misfit.gguf");
        w.Write(adapter);

        var misfit = CliRunner.Run("serve", "--model", model, "--data", folder.Path, "--no-auth", "--port", "0", "--lora", adapter);
        Assert.Equal(LiaoyuanCommand.UsageError, misfit.ExitCode);
        Assert.Contains("adapter 'tiny:misfit' does not fit model 'tiny'", misfit.Error);
        Assert.Single(misfit.Error.Trim().Split('\n'));

        var missing = CliRunner.Run("serve", "--model", model, "--data", folder.Path, "--no-auth", "--port", "0", "--lora", folder.File("none.gguf"));
        Assert.Equal(LiaoyuanCommand.UsageError, missing.ExitCode);
        Assert.Contains("no such file", missing.Error);
    }
}
