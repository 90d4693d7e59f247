namespace Liaoyuan.Engine.Tokenization;

/// <summary>Token kinds as stored in tokenizer.ggml.token_type (values fixed by the GGUF format).</summary>
public enum TokenType
{
    Undefined = 0,
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}

/// <summary>The pre-tokenizer regex families of llama.cpp that we implement (tokenizer.ggml.pre selects one).</summary>
public enum PreTokenizerKind
{
    Default,
    Gpt2,
    Llama3,
    Qwen2,
    Qwen35,
    StarCoder,
    Falcon,
    Gpt4o,
}
