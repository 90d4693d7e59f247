using Liaoyuan.Engine.Generation;
using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Engine.Tests.Generation;

public sealed class GeneratorTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly LoadedModel _model;

    public GeneratorTests()
    {
        string path = _dir.File("gen.gguf");
        TestModelBuilder.Write(path, new TestModelShape { Architecture = "qwen2", Context = 128 }, TestVocabularies.Multilingual());
        _model = ModelLoader.Load(path, new CpuKernels(1));
    }

    public void Dispose()
    {
        _model.Dispose();
        _dir.Dispose();
    }

    private int[] Prompt => _model.Tokenizer.Encode("The quick brown fox", addSpecial: true);

    private string GreedyText(int maxTokens, InferenceSession? session = null)
    {
        session ??= new InferenceSession(_model.Model, 128);
        var generator = new Generator(session, _model.Tokenizer);
        return generator.Generate(Prompt, new GenerationOptions { MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy }).Text;
    }

    [Fact]
    public void StreamedPiecesConcatenateToTheDecodedTokens()
    {
        var session = new InferenceSession(_model.Model, 128);
        var generator = new Generator(session, _model.Tokenizer);
        var pieces = generator.Stream(Prompt, new GenerationOptions { MaxTokens = 24, Sampling = SamplingOptions.Greedy }).ToList();
        var tokens = pieces.Where(p => p.Token >= 0).Select(p => p.Token).ToList();
        string expected = System.Text.Encoding.UTF8.GetString(tokens.SelectMany(_model.Tokenizer.TokenBytes).ToArray());
        Assert.Equal(expected, string.Concat(pieces.Select(p => p.Text)));
        Assert.True(tokens.Count <= 24);
    }

    [Fact]
    public void MaxTokensLimitsTheOutputAndReportsLength()
    {
        var session = new InferenceSession(_model.Model, 128);
        var generator = new Generator(session, _model.Tokenizer);
        var result = generator.Generate(Prompt, new GenerationOptions { MaxTokens = 5, Sampling = SamplingOptions.Greedy });
        if (result.FinishReason == FinishReason.Length) Assert.Equal(5, result.CompletionTokens);
        else Assert.True(result.CompletionTokens < 5);
        Assert.Equal(Prompt.Length, result.PromptTokens);
    }

    [Fact]
    public void StopStringEndsTheOutputBeforeIt()
    {
        string full = GreedyText(32);
        Assert.True(full.Length >= 6, $"greedy text too short to test stops: '{full}'");
        string stop = full.Substring(3, 2);
        var session = new InferenceSession(_model.Model, 128);
        var generator = new Generator(session, _model.Tokenizer);
        var result = generator.Generate(Prompt, new GenerationOptions { MaxTokens = 32, Sampling = SamplingOptions.Greedy, Stop = [stop] });
        Assert.Equal(full[..full.IndexOf(stop, StringComparison.Ordinal)], result.Text);
        Assert.Equal(FinishReason.Stop, result.FinishReason);
    }

    [Fact]
    public void ReusingASessionGivesTheSameTextAsAFreshOne()
    {
        var session = new InferenceSession(_model.Model, 128);
        string first = GreedyText(16, session);
        string second = GreedyText(16, session); // the prompt prefix is reused from the cache
        Assert.Equal(first, second);
        Assert.Equal(first, GreedyText(16));
    }

    [Fact]
    public void APromptThatFillsTheContextIsAClearError()
    {
        var session = new InferenceSession(_model.Model, 4);
        var generator = new Generator(session, _model.Tokenizer);
        var e = Assert.Throws<ContextOverflowException>(() =>
            generator.Generate(Prompt, new GenerationOptions { MaxTokens = 4, Sampling = SamplingOptions.Greedy }));
        Assert.Contains("context", e.Message);
    }

    [Fact]
    public void GenerationStopsWhenTheContextIsFull()
    {
        var session = new InferenceSession(_model.Model, Prompt.Length + 3);
        var generator = new Generator(session, _model.Tokenizer);
        var result = generator.Generate(Prompt, new GenerationOptions { MaxTokens = 50, Sampling = SamplingOptions.Greedy });
        Assert.True(result.CompletionTokens <= 4);
        Assert.True(result.FinishReason is FinishReason.ContextFull or FinishReason.Stop);
    }

    [Fact]
    public void IncompleteUtf8IsHeldBackUntilItsLastByte()
    {
        var bytes = new List<byte>(System.Text.Encoding.UTF8.GetBytes("a燎"));
        bytes.RemoveAt(bytes.Count - 1);
        Assert.Equal("a", StopTextAssembler.TakeCompleteUtf8(bytes));
        Assert.Equal(2, bytes.Count);
        bytes.Add(System.Text.Encoding.UTF8.GetBytes("燎")[2]);
        Assert.Equal("燎", StopTextAssembler.TakeCompleteUtf8(bytes));
        Assert.Empty(bytes);
    }
}
