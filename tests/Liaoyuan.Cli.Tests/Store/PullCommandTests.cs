using System.Security.Cryptography;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests.Store;

[Collection(StoreCollection.Name)]
public sealed class PullCommandTests(HubFixture fixture) : IDisposable
{
    private readonly TempDirectory _store = new();

    public void Dispose() => _store.Dispose();

    private CliResult Cli(params string[] args) => CliRunner.Run([.. args, "--store", _store.Path]);

    private static string Sha(byte[] bytes) => Convert.ToHexStringLower(SHA256.HashData(bytes));

    [Theory]
    [InlineData("pull")]
    [InlineData("list")]
    [InlineData("rm")]
    [InlineData("show")]
    public void Every_store_command_has_help(string command)
    {
        var result = CliRunner.Run(command, "--help");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("--store", result.Out);
    }

    [Fact]
    public void Pull_from_hugging_face_takes_Q4_K_M_by_default_and_list_shows_it()
    {
        fixture.AddTypicalRepo("hfdefault", "Tiny-GGUF");
        var pulled = Cli("pull", "hf.co/hfdefault/Tiny-GGUF");
        Assert.True(pulled.ExitCode == 0, pulled.Error);
        Assert.Contains("pulled hf.co/hfdefault/Tiny-GGUF:Q4_K_M", pulled.Out);
        Assert.Contains(Sha(fixture.Q4KM), pulled.Out);
        // The tree listing was followed across pages and the file came through HF's redirect to its CDN.
        Assert.Contains(fixture.Hub.Requests, r => r.Contains("/api/models/hfdefault/Tiny-GGUF/tree/main?recursive=true&cursor=4", StringComparison.Ordinal));
        Assert.Contains(fixture.Hub.Requests, r => r.StartsWith("/cdn/hfdefault/Tiny-GGUF/Tiny-Q4_K_M.gguf", StringComparison.Ordinal));

        string installed = Path.Combine(_store.Path, "hf.co", "hfdefault", "Tiny-GGUF", "Q4_K_M", "Tiny-Q4_K_M.gguf");
        Assert.Equal(fixture.Q4KM, File.ReadAllBytes(installed));
        Assert.False(Directory.Exists(Path.Combine(_store.Path, "partial")));

        var list = Cli("list");
        Assert.Equal(0, list.ExitCode);
        string[] lines = list.Out.Trim().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("NAME", lines[0]);
        Assert.Contains("hf.co/hfdefault/Tiny-GGUF:Q4_K_M", lines[1]);
        Assert.Contains("Q4_K_M", lines[1][("hf.co/hfdefault/Tiny-GGUF:Q4_K_M".Length)..]);
        Assert.Contains("KiB", lines[1]);
    }

    [Fact]
    public void Pull_from_modelscope_takes_the_named_quant_case_insensitively_and_show_describes_it()
    {
        fixture.AddTypicalRepo("msorg", "tiny");
        var pulled = Cli("pull", "modelscope.cn/msorg/tiny:q8_0");
        Assert.True(pulled.ExitCode == 0, pulled.Error);
        Assert.Contains("pulled modelscope.cn/msorg/tiny:Q8_0", pulled.Out);
        Assert.Contains(fixture.Hub.Requests, r => r.StartsWith("/api/v1/models/msorg/tiny/repo/files?Revision=master&Recursive=true", StringComparison.Ordinal));
        Assert.Contains(fixture.Hub.Requests, r => r.StartsWith("/api/v1/models/msorg/tiny/repo?Revision=master&FilePath=q8%2Ftiny.q8_0.gguf", StringComparison.Ordinal));
        Assert.Equal(fixture.Q8, File.ReadAllBytes(Path.Combine(_store.Path, "modelscope.cn", "msorg", "tiny", "Q8_0", "tiny.q8_0.gguf")));

        var show = Cli("show", "modelscope.cn/msorg/tiny");
        Assert.True(show.ExitCode == 0, show.Error);
        Assert.Contains("name:          modelscope.cn/msorg/tiny:Q8_0", show.Out);
        Assert.Contains("architecture:  qwen2", show.Out);
        Assert.Contains("weights mostly Q8_0", show.Out);
        Assert.Contains("context:       128", show.Out);
        Assert.Contains("chat template: no", show.Out);
        Assert.Contains($"sha256:        {Sha(fixture.Q8)}", show.Out);
    }

    [Fact]
    public void An_unknown_quant_names_the_available_ones()
    {
        fixture.AddTypicalRepo("quants", "tiny");
        var result = Cli("pull", "hf.co/quants/tiny:Q3_K_S");
        Assert.Equal(LiaoyuanCommand.UsageError, result.ExitCode);
        Assert.Equal("error: hf.co/quants/tiny has no Q3_K_S GGUF; available: Q4_K_M, Q8_0", result.Error.Trim());
        Assert.False(Directory.Exists(_store.Path + "/hf.co"));
    }

    [Fact]
    public void Pulling_again_is_a_no_op_and_rm_takes_the_model_out_of_list_and_off_disk()
    {
        fixture.AddTypicalRepo("again", "tiny");
        Assert.Equal(0, Cli("pull", "hf.co/again/tiny:Q8_0").ExitCode);
        int downloads = fixture.Hub.Requests.Count(r => r.StartsWith("/cdn/again/", StringComparison.Ordinal));
        var second = Cli("pull", "hf.co/again/tiny:Q8_0");
        Assert.Equal(0, second.ExitCode);
        Assert.Contains("hf.co/again/tiny:Q8_0 is up to date", second.Out);
        Assert.Equal(downloads, fixture.Hub.Requests.Count(r => r.StartsWith("/cdn/again/", StringComparison.Ordinal)));

        Assert.Equal(0, Cli("pull", "hf.co/again/tiny:Q4_K_M").ExitCode);
        var ambiguous = Cli("show", "hf.co/again/tiny");
        Assert.Equal(LiaoyuanCommand.UsageError, ambiguous.ExitCode);
        Assert.Contains("several quants of hf.co/again/tiny are installed (Q4_K_M, Q8_0)", ambiguous.Error);

        var removed = Cli("rm", "hf.co/again/tiny:q8_0");
        Assert.True(removed.ExitCode == 0, removed.Error);
        Assert.Contains("removed hf.co/again/tiny:Q8_0", removed.Out);
        Assert.False(Directory.Exists(Path.Combine(_store.Path, "hf.co", "again", "tiny", "Q8_0")));
        var list = Cli("list");
        Assert.DoesNotContain("Q8_0", list.Out);
        Assert.Contains("hf.co/again/tiny:Q4_K_M", list.Out);

        var again = Cli("rm", "hf.co/again/tiny:Q8_0");
        Assert.Equal(LiaoyuanCommand.UsageError, again.ExitCode);
        Assert.Contains("hf.co/again/tiny:Q8_0 is not in the store", again.Error);
        Assert.Equal(0, Cli("rm", "hf.co/again/tiny").ExitCode);
        Assert.Contains("no models in", Cli("list").Out);
        Assert.Empty(Directory.GetFiles(_store.Path, "*", SearchOption.AllDirectories));
    }
}
