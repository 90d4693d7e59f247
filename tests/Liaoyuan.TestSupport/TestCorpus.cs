namespace Liaoyuan.TestSupport;

/// <summary>Text for training test vocabularies and for tokenizer and perplexity comparisons.</summary>
public static class TestCorpus
{
    public const string Multilingual =
        "燎原之火，始于星星。春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。\n" +
        "A single spark can start a prairie fire. The quick brown fox jumps over the lazy dog; don't panic, I'll be there.\n" +
        "    def add(a, b):\n        return a + b  # 求和\n\n\n" +
        "for (int i = 0; i < 1024; i++) { total += values[i] * 3.14159; }\n" +
        "Emoji: 🔥🌾✨ and 👩‍💻 — numbers 1234567 and 2026-11-29.   Trailing spaces   \n" +
        "人工智能大模型的生态：一个通用模型，N个行业应用，X个开放平台。\t制表符\r\n" +
        "<|im_start|>user\n你好, how are you?<|im_end|>\n<|im_start|>assistant\n我很好。<|im_end|>\n";
}
