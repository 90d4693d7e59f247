using System.Diagnostics;
using System.Text.RegularExpressions;
using Liaoyuan.Engine.Models;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests;

/// <summary>`liaoyuan tokenizer train` and `liaoyuan train` as users run them.</summary>
public sealed partial class TrainCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Corpus()
    {
        string path = _dir.File("corpus.txt");
        File.WriteAllText(path, string.Concat(Enumerable.Repeat(TestCorpus.Multilingual, 6)));
        return path;
    }

    private static readonly string[] TinyShape =
        ["--layers", "2", "--dim", "32", "--heads", "4", "--kv-heads", "2", "--ffn", "64", "--ctx", "32", "--batch", "2", "--lr", "3e-3"];

    [Fact]
    public void Tokenizer_then_train_from_a_config_file_writes_model_chart_and_checkpoint()
    {
        string corpus = Corpus(), tokenizer = _dir.File("tok.gguf");
        var trained = CliRunner.Run("tokenizer", "train", "--vocab", "300", "--out", tokenizer, corpus);
        Assert.Equal(0, trained.ExitCode);
        Assert.Contains("300 tokens", trained.Out);

        string config = _dir.File("run.json"), output = _dir.File("m.gguf");
        File.WriteAllText(config, $$"""{ "data": ["{{corpus}}"], "tokenizer": "{{tokenizer}}", "steps": 4, "layers": 3 }""");
        // Flags override the file: 2 layers, not 3.
        var result = CliRunner.Run(["train", config, .. TinyShape, "--eval-every", "2", "--out", output]);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("step 4/4 loss", result.Error);
        Assert.Contains("step 2 held-out loss", result.Error);

        using var model = ModelLoader.Load(output);
        Assert.Equal(300, model.Config.VocabSize);
        Assert.Equal(2, model.Config.BlockCount);
        Assert.StartsWith("<svg", File.ReadAllText(_dir.File("m.loss.svg")));
        Assert.True(File.Exists(output + ".ckpt"));
    }

    [Fact]
    public void Data_prepare_then_train_on_the_shards()
    {
        string shards = _dir.File("shards"), output = _dir.File("s.gguf");
        var prepared = CliRunner.Run("data", "prepare", "--vocab", "300", "--holdout", "0.2", "--out", shards, Corpus());
        Assert.True(prepared.ExitCode == 0, prepared.Error);
        Assert.Contains("training tokens", prepared.Out);
        Assert.True(File.Exists(Path.Combine(shards, "train-00000.tok")));

        var result = CliRunner.Run(["train", "--data", shards, .. TinyShape, "--steps", "3", "--eval-every", "3", "--out", output]);
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("step 3 held-out loss", result.Error);
        using var model = ModelLoader.Load(output);
        Assert.Equal(300, model.Config.VocabSize);
    }

    [Fact]
    public void Bad_settings_end_in_one_line_and_exit_code_2()
    {
        string corpus = Corpus();
        var both = CliRunner.Run("train", "--data", corpus);
        Assert.Equal(2, both.ExitCode);
        Assert.Contains("--vocab N", both.Error);
        var heads = CliRunner.Run(["train", "--data", corpus, "--vocab", "300", .. TinyShape, "--heads", "3"]);
        Assert.Equal(2, heads.ExitCode);
        Assert.Contains("heads", heads.Error);
    }

    /// <summary>
    /// The issue's acceptance check literally: a real `liaoyuan train` process killed with SIGKILL mid-run, then
    /// `--resume`, prints the same losses for every later step as a run that was never interrupted.
    /// </summary>
    [Fact]
    public void Kill_9_then_resume_gives_the_same_later_losses()
    {
        string corpus = Corpus();
        string[] run = ["train", "--data", corpus, "--vocab", "300", .. TinyShape, "--steps", "150", "--checkpoint-every", "10", "--eval-every", "50"];
        var uninterrupted = CliRunner.Run([.. run, "--out", _dir.File("a.gguf")]);
        Assert.True(uninterrupted.ExitCode == 0, uninterrupted.Error);

        string interruptedOut = _dir.File("b.gguf");
        KillDuringStep(30, [.. run, "--out", interruptedOut]);
        var resumed = CliRunner.Run([.. run, "--out", interruptedOut, "--resume"]);
        Assert.True(resumed.ExitCode == 0, resumed.Error);
        int from = int.Parse(ResumedAt().Match(resumed.Error).Groups[1].Value);
        Assert.InRange(from, 20, 140);

        var expected = Losses(uninterrupted.Error).Where(l => l.Step > from).ToList();
        Assert.Equal(150 - from, expected.Count);
        Assert.Equal(expected, Losses(resumed.Error).ToList());
    }

    private static void KillDuringStep(int step, string[] args)
    {
        string cli = Path.Combine(AppContext.BaseDirectory, "liaoyuan.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(cli);
        foreach (string a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        string? line;
        while ((line = process.StandardError.ReadLine()) is not null && !line.StartsWith($"step {step}/", StringComparison.Ordinal)) { }
        Assert.NotNull(line);
        process.Kill(); // SIGKILL on Unix: no chance to save anything
        process.WaitForExit();
        Assert.NotEqual(0, process.ExitCode);
    }

    private static IEnumerable<(int Step, string Loss)> Losses(string log) =>
        StepLine().Matches(log).Select(m => (int.Parse(m.Groups[1].Value), m.Groups[2].Value));

    [GeneratedRegex(@"^step (\d+)/\d+ loss (\S+)", RegexOptions.Multiline)]
    private static partial Regex StepLine();

    [GeneratedRegex(@"resumed .* at step (\d+)")]
    private static partial Regex ResumedAt();
}
