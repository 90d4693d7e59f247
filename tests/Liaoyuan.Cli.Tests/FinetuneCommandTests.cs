using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests;

/// <summary>`liaoyuan finetune` and `--lora` on the inference commands, as users run them.</summary>
public sealed partial class FinetuneCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Base(string architecture = "llama")
    {
        string path = _dir.File($"base-{architecture}.gguf");
        TestModelBuilder.Write(path, new TestModelShape { Architecture = architecture, Context = 128, TiedOutput = true }, TestVocabulary.ByteLevel());
        return path;
    }

    private static readonly (string Word, string Answer)[] Words = [("cat", "chat"), ("dog", "chien"), ("water", "eau"), ("fire", "feu"), ("sun", "soleil"), ("moon", "lune")];

    private string Chats(string name, IEnumerable<(string Word, string Answer)> pairs, int repeat)
    {
        string path = _dir.File(name);
        var lines = Enumerable.Repeat(pairs, repeat).SelectMany(p => p).Select(p => JsonSerializer.Serialize(new
        {
            messages = new object[]
            {
                new { role = "system", content = "Answer in French." },
                new { role = "user", content = $"French for {p.Word}?" },
                new { role = "assistant", content = p.Answer },
            },
        }));
        File.WriteAllLines(path, lines);
        return path;
    }

    [GeneratedRegex(@"step (\d+) held-out loss ([0-9.]+)")]
    private static partial Regex HeldOutLoss();

    private static double[] HeldOutLosses(string log) =>
        HeldOutLoss().Matches(log).Select(m => double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)).ToArray();

    [Fact]
    public void Full_fine_tuning_lowers_the_held_out_assistant_loss_and_writes_a_runnable_model()
    {
        string output = _dir.File("tuned.gguf");
        var result = CliRunner.Run("finetune", "--model", Base(), "--data", Chats("train.jsonl", Words, 4), "--eval", Chats("held.jsonl", Words[..3], 1),
            "--out", output, "--steps", "24", "--batch", "4", "--lr", "3e-3", "--eval-every", "12", "-t", "2");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("using ChatML", result.Error);
        var losses = HeldOutLosses(result.Error);
        Assert.Equal(3, losses.Length);
        Assert.True(losses[^1] < 0.5 * losses[0], $"held-out assistant loss {losses[0]} → {losses[^1]}");
        Assert.True(File.Exists(output + ".ckpt"));
        using (var file = GgufFile.Open(output)) Assert.Null(file.FindTensor("output.weight"));

        var run = CliRunner.Run("run", output, "--prompt", "<|im_start|>user\nFrench for cat?<|im_end|>\n<|im_start|>assistant\n", "--temperature", "0", "-n", "4");
        Assert.True(run.ExitCode == 0, run.Error);
    }

    [Fact]
    public void Lora_writes_an_adapter_that_run_and_perplexity_apply()
    {
        string basePath = Base(), adapter = _dir.File("adapter.gguf"), text = _dir.File("text.txt");
        var result = CliRunner.Run("finetune", "--model", basePath, "--data", Chats("train.jsonl", Words, 2), "--out", adapter,
            "--lora-rank", "4", "--lora-targets", "q,v,down", "--steps", "6", "--batch", "4", "-t", "2");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("LoRA r=4", result.Error);
        using (var file = GgufFile.Open(adapter))
        {
            Assert.Equal("adapter", file.GetString("general.type"));
            Assert.Equal(12, file.Tensors.Count); // 2 layers × (q, v, down) × (lora_a, lora_b)
        }
        File.WriteAllText(text, string.Concat(Enumerable.Repeat(TestCorpus.Multilingual, 2)));
        string Perplexity(params string[] extra)
        {
            var scored = CliRunner.Run(["perplexity", basePath, "--file", text, "--ctx", "32", "--chunks", "2", .. extra]);
            Assert.True(scored.ExitCode == 0, scored.Error);
            return scored.Out.Split('\n').First(l => l.StartsWith("perplexity:", StringComparison.Ordinal));
        }
        Assert.NotEqual(Perplexity(), Perplexity("--lora", adapter));
        Assert.Equal(Perplexity(), Perplexity("--lora", adapter, "--lora-scale", "0"));
    }

    [Fact]
    public void Bad_input_ends_in_one_line_and_exit_code_2()
    {
        string basePath = Base(), output = _dir.File("x.gguf");
        string bad = _dir.File("bad.jsonl");
        File.WriteAllLines(bad, [File.ReadAllLines(Chats("ok.jsonl", Words, 1))[0], "{\"messages\": [{\"role\": \"user\", \"content\": \"hi\"}]}"]);
        var badLine = CliRunner.Run("finetune", "--model", basePath, "--data", bad, "--out", output);
        Assert.Equal(2, badLine.ExitCode);
        // After the note that the model has no chat template, one error line naming the file and line.
        var errors = badLine.Error.Trim().Split('\n').Where(l => l.StartsWith("error:", StringComparison.Ordinal)).ToArray();
        Assert.StartsWith($"error: {bad}:2: ", Assert.Single(errors));

        var qwen3 = CliRunner.Run("finetune", "--model", Base("qwen3"), "--data", Chats("ok2.jsonl", Words, 1), "--out", output);
        Assert.Equal(2, qwen3.ExitCode);
        Assert.Contains("architectures, not 'qwen3'", qwen3.Error);

        var target = CliRunner.Run("finetune", "--model", basePath, "--data", Chats("ok3.jsonl", Words, 1), "--out", output, "--lora-targets", "q,nose");
        Assert.Equal(2, target.ExitCode);
        Assert.Contains("unknown LoRA target 'nose'", target.Error);

        var notAdapter = CliRunner.Run("run", basePath, "--prompt", "hi", "--lora", basePath);
        Assert.Equal(2, notAdapter.ExitCode);
        Assert.Contains("not an adapter", notAdapter.Error);
        Assert.False(File.Exists(output));
    }
}
