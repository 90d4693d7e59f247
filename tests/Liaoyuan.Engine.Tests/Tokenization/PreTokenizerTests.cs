using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Engine.Tests.Tokenization;

public sealed class PreTokenizerTests
{
    private static string[] Split(PreTokenizerKind kind, string text)
    {
        int[] cps = UnicodeClass.Codepoints(text);
        var words = new List<string>();
        int start = 0;
        foreach (int n in PreTokenizer.For(kind).Split(cps))
        {
            words.Add(UnicodeClass.FromCodepoints(cps.AsSpan(start, n)));
            start += n;
        }
        Assert.Equal(cps.Length, start);
        return [.. words];
    }

    [Fact]
    public void Gpt2_KeepsLeadingSpaceWithWordAndLeavesLastSpaceOfARunToTheNextWord()
    {
        Assert.Equal(["Hello", " world", "'s", " 123", " ", " x", "\n", "\n", "yo"], Split(PreTokenizerKind.Gpt2, "Hello world's 123  x\n\nyo"));
    }

    [Fact]
    public void Gpt2_ContractionsAreCaseSensitive()
    {
        Assert.Equal(["don", "'t", " I", "'", "LL"], Split(PreTokenizerKind.Gpt2, "don't I'LL"));
    }

    [Fact]
    public void Llama3_GroupsDigitsInThreesAndNewlinesTogether()
    {
        Assert.Equal(["Hello", " world", "'s", " ", "123", "456", "7", " ", " x", "\n\n", "yo"],
            Split(PreTokenizerKind.Llama3, "Hello world's 1234567  x\n\nyo"));
    }

    [Fact]
    public void Llama3_ContractionsIgnoreCase_AndPunctuationTakesTrailingNewlines()
    {
        Assert.Equal(["I", "'LL", " go", ".\n", "Ok"], Split(PreTokenizerKind.Llama3, "I'LL go.\nOk"));
    }

    [Fact]
    public void Qwen2_SplitsEveryDigit()
    {
        Assert.Equal(["ab", " ", "1", "2", "3"], Split(PreTokenizerKind.Qwen2, "ab 123"));
    }

    [Fact]
    public void Qwen2_NonAsciiCharactersUseTheirUnicodeClass_PunctuationMayLeadLetters()
    {
        Assert.Equal(["你好", "，世界", "！", " café", " 😀"], Split(PreTokenizerKind.Qwen2, "你好，世界！ café 😀"));
    }

    [Fact]
    public void Default_RunsFourSplittersInSequence()
    {
        Assert.Equal(["Hello", ",", " world", "!", " ", "123", "4"], Split(PreTokenizerKind.Default, "Hello, world! 1234"));
    }

    [Fact]
    public void EmptyTextHasNoWords()
    {
        Assert.Empty(Split(PreTokenizerKind.Llama3, ""));
    }
}
