using Liaoyuan.Engine.Gguf;

namespace Liaoyuan.Engine.Tokenization;

/// <summary>Everything read and derived from the tokenizer.ggml.* metadata, before a tokenizer is built.</summary>
internal sealed class VocabularyData
{
    public required string Source;
    public required string Model;
    public string? Pre;
    public required string[] Tokens;
    public required float[] Scores;
    public required TokenType[] Types;
    public required Dictionary<string, int> Ids;
    public string[]? Merges;
    public int Bos, Eos, Eot = -1, Eom = -1, Unknown, Padding = -1, Separator = -1;
    public bool AddBos, AddEos, AddSpacePrefix, CleanSpaces, IgnoreMerges;
    public PreTokenizerKind PreKind;
    public string? ChatTemplate;
    public HashSet<int> EndOfGeneration = [];
    public List<string> Warnings = [];
}

public abstract partial class Tokenizer
{
    /// <summary>
    /// Builds the tokenizer described by a GGUF file's tokenizer.* metadata. Bad metadata (missing or
    /// mis-sized arrays, duplicate tokens, merges of unknown tokens, special ids outside the vocabulary)
    /// raises <see cref="GgufFormatException"/> naming the file and key.
    /// </summary>
    public static Tokenizer FromGguf(GgufFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        string model = file.GetString("tokenizer.ggml.model");
        var v = model switch
        {
            "gpt2" => ReadCommon(file, model, bos: 11, eos: 11, unk: -1),
            "llama" => ReadCommon(file, model, bos: 1, eos: 2, unk: 0),
            _ => throw new GgufFormatException(
                $"{file.Path}: metadata 'tokenizer.ggml.model' = '{model}' is not supported (gpt2 and llama are)"),
        };
        return model == "gpt2" ? new ByteLevelBpeTokenizer(v, file.Path) : new SentencePieceTokenizer(v);
    }

    private static VocabularyData ReadCommon(GgufFile file, string model, int bos, int eos, int unk)
    {
        const string tokensKey = "tokenizer.ggml.tokens";
        string[] tokens = file.GetArrayOrNull<string>(tokensKey)
            ?? throw new GgufFormatException($"{file.Path}: required metadata '{tokensKey}' is missing");
        if (tokens.Length == 0) throw new GgufFormatException($"{file.Path}: metadata '{tokensKey}' is empty");
        int n = tokens.Length;

        var ids = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            // llama.cpp renames empty tokens so that every token has a distinct, non-empty text.
            if (tokens[i].Length == 0) tokens[i] = $"[EMPTY_{i}]";
            if (!ids.TryAdd(tokens[i], i))
                throw new GgufFormatException($"{file.Path}: metadata '{tokensKey}' has '{tokens[i]}' twice (ids {ids[tokens[i]]} and {i})");
        }

        var v = new VocabularyData
        {
            Source = file.Path,
            Model = model,
            Tokens = tokens,
            Ids = ids,
            Scores = ReadScores(file, n),
            Types = ReadTypes(file, n),
            Pre = file.GetStringOrNull("tokenizer.ggml.pre"),
            Bos = bos < n ? bos : -1,
            Eos = eos < n ? eos : -1,
            Unknown = unk < n ? unk : -1,
            ChatTemplate = file.GetStringOrNull("tokenizer.chat_template"),
        };

        if (model == "gpt2")
        {
            ApplyPreType(v);
            v.Merges = file.GetArrayOrNull<string>("tokenizer.ggml.merges")
                ?? throw new GgufFormatException($"{file.Path}: required metadata 'tokenizer.ggml.merges' is missing");
        }
        else
        {
            v.AddSpacePrefix = true;
            v.AddBos = true;
        }
        v.AddSpacePrefix = file.GetBool("tokenizer.ggml.add_space_prefix", v.AddSpacePrefix);

        v.Bos = ReadId(file, "tokenizer.ggml.bos_token_id", v.Bos, n);
        v.Eos = ReadId(file, "tokenizer.ggml.eos_token_id", v.Eos, n);
        v.Eot = ReadId(file, "tokenizer.ggml.eot_token_id", -1, n);
        v.Eom = ReadId(file, "tokenizer.ggml.eom_token_id", -1, n);
        v.Unknown = ReadId(file, "tokenizer.ggml.unknown_token_id", v.Unknown, n);
        v.Separator = ReadId(file, "tokenizer.ggml.seperator_token_id", -1, n); // sic: the GGUF key is misspelt
        v.Padding = ReadId(file, "tokenizer.ggml.padding_token_id", -1, n);

        v.AddBos = file.GetBool("tokenizer.ggml.add_bos_token", v.AddBos);
        v.AddEos = file.GetBool("tokenizer.ggml.add_eos_token", v.AddEos);
        if (v.AddBos && v.Bos < 0)
            throw new GgufFormatException($"{file.Path}: metadata 'tokenizer.ggml.add_bos_token' is true but there is no BOS token");
        if (v.AddEos && v.Eos < 0)
            throw new GgufFormatException($"{file.Path}: metadata 'tokenizer.ggml.add_eos_token' is true but there is no EOS token");

        FindEndOfGeneration(file, v);
        return v;
    }

    private static float[] ReadScores(GgufFile file, int n)
    {
        const string key = "tokenizer.ggml.scores";
        if (!file.Metadata.TryGetValue(key, out var value)) return new float[n];
        float[] scores = value.Value switch
        {
            float[] f => f,
            int[] i => Array.ConvertAll(i, x => (float)x),
            _ => throw new GgufFormatException($"{file.Path}: metadata '{key}' should be an array of float32 or int32"),
        };
        if (scores.Length != n)
            throw new GgufFormatException($"{file.Path}: metadata '{key}' has {scores.Length} entries for {n} tokens");
        return scores;
    }

    private static TokenType[] ReadTypes(GgufFile file, int n)
    {
        const string key = "tokenizer.ggml.token_type";
        int[]? raw = file.GetArrayOrNull<int>(key);
        if (raw is null) return Enumerable.Repeat(TokenType.Normal, n).ToArray();
        if (raw.Length != n)
            throw new GgufFormatException($"{file.Path}: metadata '{key}' has {raw.Length} entries for {n} tokens");
        // Values outside the enum are "undefined" in llama.cpp too.
        return Array.ConvertAll(raw, t => t is >= 0 and <= 6 ? (TokenType)t : TokenType.Undefined);
    }

    private static int ReadId(GgufFile file, string key, int fallback, int n)
    {
        long? id = file.GetIntegerOrNull(key);
        if (id is null) return fallback;
        // llama.cpp warns and keeps its default here; a wrong id is a broken file, so we refuse it.
        if (id < 0 || id >= n)
            throw new GgufFormatException($"{file.Path}: metadata '{key}' = {id} is outside the vocabulary of {n} tokens");
        return (int)id;
    }

    /// <summary>llama.cpp's pre-tokenizer names, with the flags each implies.</summary>
    internal static void ApplyPreType(VocabularyData v)
    {
        v.CleanSpaces = true;
        switch (v.Pre)
        {
            case null or "":
                v.Warnings.Add($"{v.Source}: no tokenizer.ggml.pre; using 'default' as llama.cpp does (quality may suffer)");
                v.PreKind = PreTokenizerKind.Default;
                break;
            case "default":
                v.PreKind = PreTokenizerKind.Default;
                break;
            case "llama3" or "llama-v3" or "llama-bpe" or "falcon3" or "falcon-h1" or "pixtral" or "midm-2.0" or "lfm2" or "jina-v5-nano":
                v.PreKind = PreTokenizerKind.Llama3;
                v.IgnoreMerges = true;
                v.AddBos = true;
                break;
            case "dbrx" or "smaug-bpe":
                v.PreKind = PreTokenizerKind.Llama3;
                break;
            case "glm4" or "chatglm-bpe":
                v.PreKind = PreTokenizerKind.Llama3; // same regex as Llama 3
                v.Bos = -1;
                break;
            case "gpt-2" or "phi-2" or "jina-es" or "jina-de" or "gigachat" or "jina-v2-es" or "jina-v2-de" or "a.x-4.0"
                or "mellum" or "modern-bert" or "exaone4" or "mpt" or "olmo" or "jais" or "jina-v1-en" or "jina-v2-code"
                or "roberta-bpe":
                v.PreKind = PreTokenizerKind.Gpt2;
                break;
            case "trillion" or "granite-docling":
                v.PreKind = PreTokenizerKind.Gpt2;
                v.CleanSpaces = false;
                break;
            case "qwen2" or "deepseek-r1-qwen" or "kormo" or "f2llmv2" or "hunyuan" or "solar-open":
                v.PreKind = PreTokenizerKind.Qwen2;
                v.CleanSpaces = false;
                break;
            case "megrez" or "stablelm2":
                v.PreKind = PreTokenizerKind.Qwen2;
                break;
            case "qwen35":
                v.PreKind = PreTokenizerKind.Qwen35;
                v.CleanSpaces = false;
                break;
            case "starcoder" or "refact" or "codeshell" or "exaone" or "minerva-7b" or "mellum2":
                v.PreKind = PreTokenizerKind.StarCoder;
                break;
            case "command-r" or "smollm":
                v.PreKind = PreTokenizerKind.StarCoder;
                v.CleanSpaces = false;
                break;
            case "falcon":
                v.PreKind = PreTokenizerKind.Falcon;
                break;
            case "gpt-4o" or "llama4" or "kanana2" or "talkie" or "minimax-m2":
                v.PreKind = PreTokenizerKind.Gpt4o;
                v.CleanSpaces = false;
                break;
            default:
                // llama.cpp refuses such files; we tokenize with the default regexes and say so.
                v.Warnings.Add($"{v.Source}: unknown tokenizer.ggml.pre '{v.Pre}'; llama.cpp would refuse this file, using 'default'");
                v.PreKind = PreTokenizerKind.Default;
                break;
        }
    }
}
