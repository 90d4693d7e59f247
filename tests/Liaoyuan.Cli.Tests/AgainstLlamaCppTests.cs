using System.Globalization;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Tokenization;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests;

/// <summary>The user-facing commands against llama.cpp on the same random-weight model.</summary>
[Collection(LlamaCppCollection.Name)]
public sealed class AgainstLlamaCppTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Model(string arch = "qwen2", TestVocabulary? vocabulary = null, float outputScale = 3.0f)
    {
        string path = _dir.File($"{arch}.gguf");
        TestModelBuilder.Write(path, new TestModelShape { Architecture = arch, Context = 512, MatrixType = Operators.Tensors.GgmlType.Q8_0, OutputScale = outputScale },
            vocabulary ?? TestVocabularies.Multilingual());
        return path;
    }

    [Theory]
    [InlineData("llama")]
    [InlineData("qwen2")]
    public void TokenizeCommandPrintsLlamaCppsIds(string arch)
    {
        string model = Model(arch);
        string text = TestCorpus.Multilingual;
        string file = _dir.File("text.txt");
        File.WriteAllText(file, text);

        var result = CliRunner.Run("tokenize", model, "--file", file);

        Assert.Equal(0, result.ExitCode);
        string[] lines = result.Out.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        using var reference = new LlamaCppReference(model, contextSize: 64);
        bool addBos;
        using (var gguf = GgufFile.Open(model)) addBos = Tokenizer.FromGguf(gguf).AddBos;
        int[] expected = reference.Tokenize(text, addBos, special: true);
        Assert.Equal(string.Join(' ', expected), lines[0]);
    }

    /// <summary>
    /// With an F32 cache our arithmetic equals llama.cpp's to float rounding. With the default F16 cache both
    /// round queries and attention weights to F16, where a last-bit difference in a sum can flip a rounding, so
    /// the agreement is looser but still well inside 0.1%.
    /// </summary>
    [Theory]
    [InlineData("f32")]
    [InlineData("f16")]
    public void PerplexityMatchesLlamaCppWithinATenthOfAPercent(string kvType)
    {
        string model = Model("llama", outputScale: 1.0f);
        string text = string.Concat(Enumerable.Repeat(TestCorpus.Multilingual, 6));
        string file = _dir.File("ppl.txt");
        File.WriteAllText(file, text);
        const int ctx = 64;

        var result = CliRunner.Run("perplexity", model, "--file", file, "--ctx", ctx.ToString(CultureInfo.InvariantCulture), "--kv-type", kvType);
        Assert.Equal(0, result.ExitCode);
        string last = result.Out.TrimEnd('\n').Split('\n')[^1];
        Assert.StartsWith("perplexity: ", last);
        double ours = double.Parse(last["perplexity: ".Length..], CultureInfo.InvariantCulture);

        using var reference = new LlamaCppReference(model, contextSize: ctx, f32Cache: kvType == "f32");
        double expected;
        using (var gguf = GgufFile.Open(model))
        {
            var tokenizer = Tokenizer.FromGguf(gguf);
            expected = reference.Perplexity(text, ctx, tokenizer.AddBos, tokenizer.BosId);
        }
        double tolerance = kvType == "f32" ? 1e-5 : 1e-3;
        Assert.True(Math.Abs(ours - expected) / expected < tolerance, $"ours {ours}, llama.cpp {expected}, tolerance {tolerance}");
    }

    [Fact]
    public void GreedyRunPrintsLlamaCppsContinuation()
    {
        string model = Model("qwen2");
        const string prompt = "The quick brown fox 燎原";
        var result = CliRunner.Run("run", model, "--prompt", prompt, "--max-tokens", "32", "--temperature", "0");
        Assert.Equal(0, result.ExitCode);

        using var gguf = GgufFile.Open(model);
        var tokenizer = Tokenizer.FromGguf(gguf);
        using var reference = new LlamaCppReference(model, contextSize: 128, f32Cache: false);
        int[] promptTokens = reference.Tokenize(prompt, tokenizer.AddBos);
        var continuation = reference.Greedy(promptTokens, 32).TakeWhile(t => !tokenizer.IsEndOfGeneration(t));
        string expected = System.Text.Encoding.UTF8.GetString(continuation.SelectMany(tokenizer.TokenBytes).ToArray());
        Assert.Equal(expected + "\n", result.Out);
    }
}
