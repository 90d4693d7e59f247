using Liaoyuan.Cli.Commands;
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
}
