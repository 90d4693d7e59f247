using System.Text;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Engine.Tests.Tokenization;

/// <summary>Corpus, held-out strings and GGUF writing shared by the tokenizer tests.</summary>
internal static class TokenizerTestData
{
    /// <summary>A small multilingual training corpus: prose, Chinese, code, numbers, emoji, odd whitespace.</summary>
    public static readonly string[] Corpus = BuildCorpus();

    private static string[] BuildCorpus()
    {
        string[] paragraphs =
        [
            "The quick brown fox jumps over the lazy dog. It's a sentence that we'll use, and they've seen it before; don't worry, I'm sure you'd agree.",
            "Tokenizers split text into pieces: words, numbers like 1234567 or 3.14159, and punctuation (such as commas, periods, and quotes \"like this\").",
            "今天天气很好，我们去公园散步吧。机器学习是人工智能的一个分支，它让计算机从数据中学习。中文分词和英文分词不一样。",
            "人工智能正在改变世界。我们需要更好的分词器来处理中文、英文和代码。北京是中国的首都，上海是最大的城市。",
            "def tokenize(text: str) -> list[int]:\n    ids = []\n    for word in text.split():\n        ids.append(vocab[word])\n    return ids\n",
            "for (int i = 0; i < n; i++) {\n\tsum += values[i] * 2;\n}\nif (x != null && y >= 10) { return x ?? y; }\n",
            "Emoji are fun 😀🎉👍 and so are hearts ❤️ and flags 🇨🇳🇺🇸! Café, naïve, résumé, Zürich, São Paulo, Ελληνικά, русский текст.",
            "Numbers: 0 1 2 3 42 100 2024 99999 123456789, dates 2025-01-15, times 12:30:45, prices $19.99 and €5,00.",
            "Line one\nLine two\n\nParagraph after a blank line.\n\n\nThree newlines above.   Three spaces before this.\t\tTabs too.",
            "    indented with four spaces\n        and with eight\n  two\n",
            "Hello, world! Hello again, World. HELLO WORLD!!! What's up? I'll be there; we're ready, you've won, she'd go.",
            "<html><body><p class=\"main\">Text &amp; more</p></body></html> {\"key\": [1, 2, 3], \"nested\": {\"a\": null}}",
        ];
        var lines = new List<string>();
        for (int round = 0; round < 6; round++)
        {
            foreach (string p in paragraphs) lines.Add(round % 2 == 0 ? p : p.Replace("the", "a").Replace("的", "了"));
        }
        return [.. lines];
    }

    /// <summary>Strings not (all) in the corpus, including special-token text and edge cases.</summary>
    public static readonly string[] HeldOut =
    [
        "",
        " ",
        "   ",
        "\n",
        "\n\n\n",
        " leading space",
        "trailing space ",
        "  two leading and two trailing  ",
        "1234567",
        "3.14159 and 2718281828",
        "don't I'll we're they've she'd it's I'm DON'T I'LL",
        "Hello, world! How are you?",
        "你好，世界！今天是星期五。",
        "混合 mixed 文本 text 123 的测试",
        "emoji 😀 🎉👍 ❤️ 🇨🇳 and 🦀 crab",
        "<|im_start|>user\nhi<|im_end|>",
        "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>assistant\n",
        "text<|endoftext|>more text",
        "<|im_start|><|im_end|>",
        "<|im_start",
        "<s>hello</s> <unk>",
        "def f(x):\n    return x ** 2  # square\n",
        "tabs\tand\t\tmore\ttabs",
        "line\r\nwindows\r\n",
        "ünïcödé ÀÉÎÕÜ ß ﬁ",
        "a  b   c    d",
        "...!!!???",
        "x=1;y=2;z=x+y",
        "   \n   \n",
        "Ǆ ǅ ǆ ΑΒΓ αβγ",
        "\u00a0non-breaking\u2003em space\u3000ideographic",
    ];

    /// <summary>
    /// Deterministic random strings over a pool of troublesome pieces (mixed scripts, whitespace runs,
    /// digits, contractions, emoji, partial and whole special tokens) for differential testing.
    /// </summary>
    public static string[] Fuzz(int count, int seed)
    {
        string[] pool =
        [
            " ", "  ", "\n", "\r\n", "\t", "\u00a0", "\u3000", "a", "The", " the", "quick", "HELLO", "'s", "'T", "'ll", "'RE", "don't",
            "1", "23", "456", "7890", ".", ",", "!?", "...", "(", ")", "{", "}", "<", ">", "|", "$", "+", "=", "^", "~", "`", "_", "-", "#",
            "你好", "世界", "，", "。", "的", "😀", "🎉", "❤️", "🇨🇳", "é", "ß", "Ж", "ω", "ﬁ", "\u0301", "\u200d",
            "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<|im_", "end|>", "<s>", "</s>", "<unk>", "<0x41>", "▁",
        ];
        var rng = new Random(seed);
        var result = new string[count];
        for (int i = 0; i < count; i++)
        {
            var sb = new StringBuilder();
            for (int k = rng.Next(1, 12); k > 0; k--) sb.Append(pool[rng.Next(pool.Length)]);
            result[i] = sb.ToString();
        }
        return result;
    }

    /// <summary>
    /// Writes a GGUF that llama.cpp loads in vocab-only mode: the tokenizer plus the llama architecture's
    /// required hyperparameters (it reads them before the vocabulary even when it skips the tensors).
    /// </summary>
    public static string WriteModel(TrainedVocabulary vocabulary, string name, Action<GgufWriter>? extra = null)
    {
        var w = new GgufWriter();
        w.Set("general.architecture", "llama");
        w.Set("general.name", name);
        w.Set("llama.context_length", 2048u);
        w.Set("llama.embedding_length", 64u);
        w.Set("llama.block_count", 1u);
        w.Set("llama.feed_forward_length", 128u);
        w.Set("llama.attention.head_count", 4u);
        w.Set("llama.attention.head_count_kv", 4u);
        w.Set("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.Set("llama.rope.dimension_count", 16u);
        w.Set("llama.vocab_size", (uint)vocabulary.Tokens.Count);
        vocabulary.WriteTo(w);
        extra?.Invoke(w);
        string dir = Path.Combine(Path.GetTempPath(), "liaoyuan-tok-tests");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"{name}-{Guid.NewGuid():N}.gguf");
        w.Write(path);
        return path;
    }

    public static Tokenizer Load(string path)
    {
        using var file = GgufFile.Open(path);
        return Tokenizer.FromGguf(file);
    }

    public static string Show(IEnumerable<int> ids) => "[" + string.Join(", ", ids) + "]";

    public static string Escape(string s)
    {
        var sb = new StringBuilder();
        foreach (char c in s) sb.Append(c < 32 ? $"\\x{(int)c:X2}" : c.ToString());
        return sb.ToString();
    }
}
