using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests.Store;

[Collection(StoreCollection.Name)]
public sealed class PullFailureTests(HubFixture fixture) : IDisposable
{
    private readonly TempDirectory _folder = new();

    // The store folder does not exist beforehand, so "nothing written" means it still does not.
    private string StorePath => _folder.File("store");

    public void Dispose() => _folder.Dispose();

    private CliResult Cli(params string[] args) => CliRunner.Run([.. args, "--store", StorePath]);

    private string[] RangesFor(string prefix) =>
        fixture.Hub.Requests.Where(r => r.StartsWith(prefix, StringComparison.Ordinal)).Select(r => r[(r.IndexOf("range=", StringComparison.Ordinal) + 6)..]).ToArray();

    [Fact]
    public void A_dropped_connection_is_resumed_with_a_range_request()
    {
        var (_, q8) = fixture.AddTypicalRepo("drop", "tiny");
        q8.DropsLeft = 1;
        q8.DropAfterBytes = 5000;
        var result = Cli("pull", "hf.co/drop/tiny:Q8_0");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("retry 1", result.Error);
        Assert.Equal(["", "bytes=5000-"], RangesFor("/cdn/drop/tiny/q8/"));
        Assert.Equal(fixture.Q8, File.ReadAllBytes(Path.Combine(StorePath, "hf.co", "drop", "tiny", "Q8_0", "tiny.q8_0.gguf")));
    }

    [Fact]
    public void An_interrupted_pull_installs_nothing_and_the_next_pull_resumes_where_it_stopped()
    {
        var (_, q8) = fixture.AddTypicalRepo("resume", "tiny");
        q8.DropsLeft = 4; // one more than a pull retries
        q8.DropAfterBytes = 3000;
        var first = Cli("pull", "modelscope.cn/resume/tiny:Q8_0");
        Assert.Equal(LiaoyuanCommand.UsageError, first.ExitCode);
        Assert.Contains("interrupted at 12,000 of", first.Error);
        Assert.Contains("run pull again to resume", first.Error);
        Assert.Contains("no models in", Cli("list").Out);
        Assert.Equal(LiaoyuanCommand.UsageError, Cli("show", "modelscope.cn/resume/tiny").ExitCode);
        string partial = Path.Combine(StorePath, "partial", "modelscope.cn", "resume", "tiny", "Q8_0", "tiny.q8_0.gguf.partial");
        Assert.Equal(12_000, new FileInfo(partial).Length);

        var second = Cli("pull", "modelscope.cn/resume/tiny:Q8_0");
        Assert.True(second.ExitCode == 0, second.Error);
        Assert.Contains("resuming at byte 12000", second.Error);
        Assert.Equal(["", "bytes=3000-", "bytes=6000-", "bytes=9000-", "bytes=12000-"], RangesFor("/api/v1/models/resume/tiny/repo?"));
        Assert.Equal(fixture.Q8, File.ReadAllBytes(Path.Combine(StorePath, "modelscope.cn", "resume", "tiny", "Q8_0", "tiny.q8_0.gguf")));
        Assert.False(File.Exists(partial));
        Assert.Contains("modelscope.cn/resume/tiny:Q8_0", Cli("list").Out);
    }

    [Fact]
    public void A_partial_download_of_a_file_that_changed_on_the_hub_is_started_over_not_resumed()
    {
        var (_, q8) = fixture.AddTypicalRepo("changed", "tiny");
        q8.DropsLeft = 4;
        q8.DropAfterBytes = 1000;
        Assert.Equal(LiaoyuanCommand.UsageError, Cli("pull", "hf.co/changed/tiny:Q8_0").ExitCode);
        q8.Content = fixture.Q4KM;
        q8.ListedSize = fixture.Q4KM.Length;
        q8.ListedSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(fixture.Q4KM));
        int before = RangesFor("/cdn/changed/").Length;

        var result = Cli("pull", "hf.co/changed/tiny:Q8_0");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal([""], RangesFor("/cdn/changed/")[before..]);
        Assert.Equal(fixture.Q4KM, File.ReadAllBytes(Path.Combine(StorePath, "hf.co", "changed", "tiny", "Q8_0", "tiny.q8_0.gguf")));

        // Once installed, a new version on the hub is fetched again and replaces the old one.
        q8.Content = fixture.Q8;
        q8.ListedSize = fixture.Q8.Length;
        q8.ListedSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(fixture.Q8));
        var update = Cli("pull", "hf.co/changed/tiny:Q8_0");
        Assert.True(update.ExitCode == 0, update.Error);
        Assert.Contains("pulled hf.co/changed/tiny:Q8_0", update.Out);
        Assert.Equal(fixture.Q8, File.ReadAllBytes(Path.Combine(StorePath, "hf.co", "changed", "tiny", "Q8_0", "tiny.q8_0.gguf")));
        Assert.Contains(q8.ListedSha256, Cli("show", "hf.co/changed/tiny").Out);
    }

    [Fact]
    public void A_sha256_mismatch_is_an_error_and_installs_nothing()
    {
        var (q4, _) = fixture.AddTypicalRepo("badsha", "tiny");
        q4.ListedSha256 = new string('0', 64);
        var result = Cli("pull", "hf.co/badsha/tiny");
        Assert.Equal(LiaoyuanCommand.UsageError, result.ExitCode);
        Assert.Contains("SHA-256 mismatch (hub 0000000000000000000000000000000000000000000000000000000000000000", result.Error);
        Assert.Contains("the download was discarded", result.Error);
        AssertNothingInstalled();
    }

    [Theory]
    [InlineData("truncated")]
    [InlineData("corrupt")]
    public void A_broken_gguf_is_rejected_even_when_its_hash_matches_and_installs_nothing(string damage)
    {
        var (q4, _) = fixture.AddTypicalRepo("broken" + damage, "tiny");
        byte[] bytes = damage == "truncated" ? fixture.Q4KM[..(fixture.Q4KM.Length * 2 / 3)] : [.. fixture.Q4KM];
        if (damage == "corrupt") bytes[0] = (byte)'X'; // the magic
        q4.Content = bytes;
        q4.ListedSize = bytes.Length;
        q4.ListedSha256 = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(bytes));
        var result = Cli("pull", $"hf.co/broken{damage}/tiny:Q4_K_M");
        Assert.Equal(LiaoyuanCommand.UsageError, result.ExitCode);
        Assert.Contains("the downloaded file is not a valid GGUF", result.Error);
        Assert.Contains(damage == "truncated" ? "extends past the end of the file" : "not a GGUF file", result.Error);
        AssertNothingInstalled();
    }

    [Theory]
    [InlineData("hf.co/../etc/passwd")]
    [InlineData("hf.co/org/..")]
    [InlineData("hf.co/org/../x")]
    [InlineData("hf.co/org/repo:../../x")]
    [InlineData("hf.co//repo")]
    [InlineData("hf.co/org/")]
    [InlineData("hf.co/org/repo/extra")]
    [InlineData("hf.co\\org\\repo")]
    [InlineData("/etc/passwd")]
    [InlineData("hf.co/org/.hidden")]
    [InlineData("example.com/org/repo")]
    [InlineData("https://hf.co/org/repo")]
    [InlineData("hf.co/org/re po")]
    [InlineData("")]
    public void Names_with_path_tricks_or_unknown_hubs_are_refused_before_anything_is_written(string name)
    {
        int requests = fixture.Hub.Requests.Count;
        var result = Cli("pull", name);
        Assert.Equal(LiaoyuanCommand.UsageError, result.ExitCode);
        Assert.StartsWith("error: ", result.Error);
        Assert.Single(result.Error.Trim().Split('\n'));
        Assert.Contains("is not a valid model name", result.Error);
        Assert.Equal(requests, fixture.Hub.Requests.Count);
        Assert.False(Directory.Exists(StorePath));
    }

    [Theory]
    [InlineData("hf.co/nobody/nothing", "no such repository on Hugging Face (HTTP 404")]
    [InlineData("modelscope.cn/nobody/nothing", "no such repository on ModelScope (HTTP 404")]
    public void An_unknown_repository_is_a_clear_error(string name, string message)
    {
        var result = Cli("pull", name);
        Assert.Equal(LiaoyuanCommand.UsageError, result.ExitCode);
        Assert.Equal($"error: {name}: {message}; private and gated repos need a token)", result.Error.Trim());
        Assert.False(Directory.Exists(StorePath));
    }

    [Fact]
    public void A_repository_without_gguf_files_says_so()
    {
        fixture.Hub.AddRepo("nogguf", "safetensors", new HostedFile("model.safetensors", new byte[100]));
        var result = Cli("pull", "hf.co/nogguf/safetensors");
        Assert.Equal(LiaoyuanCommand.UsageError, result.ExitCode);
        Assert.Contains("hf.co/nogguf/safetensors has no GGUF files", result.Error);
        Assert.False(Directory.Exists(StorePath));
    }

    private void AssertNothingInstalled()
    {
        Assert.Contains("no models in", Cli("list").Out);
        Assert.Empty(Directory.Exists(StorePath) ? Directory.GetFiles(StorePath, "*", SearchOption.AllDirectories) : []);
    }
}
