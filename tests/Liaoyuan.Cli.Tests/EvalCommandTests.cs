using System.Text.Json;
using Liaoyuan.Engine.Evaluation;
using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Models;
using Liaoyuan.Engine.Templates;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests;

public sealed class EvalCommandTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Model()
    {
        string path = _dir.File("m.gguf");
        TestModelBuilder.Write(path, new TestModelShape { Context = 128 }, TestVocabularies.Multilingual());
        return path;
    }

    /// <summary>The model's own greedy answer, computed here without the eval command's code path.</summary>
    private static string GreedyAnswer(string modelPath, string question, int maxTokens)
    {
        using var model = ModelLoader.Load(modelPath);
        var session = new InferenceSession(model.Model);
        var template = ChatTemplate.FromModelOrFallback(model.Tokenizer.ChatTemplate, _ => { });
        int[] prompt = ChatPrompt.Tokenize(template, model.Tokenizer, [new ChatMessage("user", question)]);
        var options = new GenerationOptions { MaxTokens = maxTokens, Sampling = new SamplingOptions { Temperature = 0 } };
        return new Generator(session, model.Tokenizer).Generate(prompt, options).Text;
    }

    private static string Line(string task, string question, string answer) => JsonSerializer.Serialize(new
    {
        task,
        messages = new[] { new { role = "user", content = question }, new { role = "assistant", content = answer } },
    });

    /// <summary>Upper-cases ASCII letters only, so that lower-casing gives the original back exactly.</summary>
    private static string ShoutAscii(string s) => new(s.Select(c => c < 128 ? char.ToUpperInvariant(c) : c).ToArray());

    [Fact]
    public void CountsExactMatchesPerTaskAgainstTheModelsOwnGreedyAnswers()
    {
        string model = Model();
        string[] questions = ["hello there", "你好，世界", "what is 2 + 2?", "translate: cat", "poem"];
        var answers = questions.Select(q => GreedyAnswer(model, q, 6)).ToArray();
        string data = _dir.File("held.jsonl");
        File.WriteAllLines(data,
        [
            Line("a", questions[0], "  " + ShoutAscii(answers[0]) + "\n"), // right after trimming and case-folding
            Line("a", questions[1], answers[1]),                             // right as it is
            Line("b", questions[2], answers[2] + " extra"),                  // wrong: longer than the answer
            Line("b", questions[3], "zz" + answers[3]),                      // wrong
            Line("b", questions[4], answers[4]),                             // right
        ]);

        var result = CliRunner.Run("eval", "--model", model, "--data", data, "--max-tokens", "6", "--json");

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Out);
        var tasks = json.RootElement.GetProperty("tasks").EnumerateArray().ToDictionary(t => t.GetProperty("task").GetString()!);
        Assert.Equal(2, tasks["a"].GetProperty("correct").GetInt32());
        Assert.Equal(2, tasks["a"].GetProperty("total").GetInt32());
        Assert.Equal(1, tasks["b"].GetProperty("correct").GetInt32());
        Assert.Equal(3, tasks["b"].GetProperty("total").GetInt32());
        var all = json.RootElement.GetProperty("all");
        Assert.Equal(3, all.GetProperty("correct").GetInt32());
        Assert.Equal(0.6, all.GetProperty("accuracy").GetDouble(), 9);
        // Each reference is scored teacher-forced through the end-of-turn token: a finite perplexity above 1.
        Assert.InRange(all.GetProperty("answer_perplexity").GetDouble(), 1.0, 1e6);
    }

    [Fact]
    public void TablePrintsEveryTaskAndPredictionsFileHoldsEveryAnswer()
    {
        string model = Model();
        string answer = GreedyAnswer(model, "hi", 4);
        string data = _dir.File("held.jsonl"), predictions = _dir.File("p.jsonl");
        File.WriteAllLines(data, [Line("greeting", "hi", answer), Line("other", "hi", answer + "!")]);

        var result = CliRunner.Run("eval", model, "--data", data, "--max-tokens", "4", "--predictions", predictions);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("greeting", result.Out);
        Assert.Contains("100.0%", result.Out);
        Assert.Contains("0.0%", result.Out);
        Assert.Contains("50.0%", result.Out); // the "all" row
        var rows = File.ReadAllLines(predictions).Select(l => JsonDocument.Parse(l).RootElement).ToList();
        Assert.Equal(2, rows.Count);
        Assert.True(rows[0].GetProperty("correct").GetBoolean());
        Assert.False(rows[1].GetProperty("correct").GetBoolean());
        Assert.Equal(answer, rows[1].GetProperty("prediction").GetString());
    }

    [Fact]
    public void NormalizationTrimsCollapsesWhitespaceAndFoldsCase()
    {
        Assert.Equal("the capital is paris.", ExactMatchEvaluation.Normalize("  The   capital\tis\nPARIS. "));
        Assert.Equal("苹果", ExactMatchEvaluation.Normalize("苹果\n"));
        Assert.NotEqual(ExactMatchEvaluation.Normalize("85"), ExactMatchEvaluation.Normalize("8 5"));
    }

    [Theory]
    [InlineData("{\"task\":\"t\",\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}", ":1: the last message must be")]
    [InlineData("not json", ":1: not valid JSON")]
    [InlineData("{\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}\n{\"task\":3,\"messages\":[{\"role\":\"user\",\"content\":\"q\"},{\"role\":\"assistant\",\"content\":\"a\"}]}", ":2:")]
    public void MalformedHeldOutSetExitsWithTwoNamingTheLine(string content, string expected)
    {
        string data = _dir.File("bad.jsonl");
        File.WriteAllText(data, content);
        var result = CliRunner.Run("eval", Model(), "--data", data);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.Error);
        Assert.Single(result.Error.Trim().Split('\n'));
    }

    [Fact]
    public void MissingDataFileOrTwoDifferentModelsExitWithTwo()
    {
        string model = Model();
        Assert.Equal(2, CliRunner.Run("eval", model, "--data", _dir.File("none.jsonl")).ExitCode);
        string data = _dir.File("held.jsonl");
        File.WriteAllLines(data, [Line("t", "q", "a")]);
        var result = CliRunner.Run("eval", model, "--model", _dir.File("other.gguf"), "--data", data);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("two models", result.Error);
    }
}
