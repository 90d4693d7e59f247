using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Tokenization;

namespace Liaoyuan.Training.Data;

/// <summary>A tokenizer to train with and to embed in the exported model: the live tokenizer and its GGUF fields.</summary>
public sealed class TrainingTokenizer
{
    private readonly IReadOnlyList<KeyValuePair<string, GgufValue>> _fields;

    private TrainingTokenizer(Tokenizer tokenizer, IReadOnlyList<KeyValuePair<string, GgufValue>> fields)
    {
        Tokenizer = tokenizer;
        _fields = fields;
    }

    public Tokenizer Tokenizer { get; }
    public int VocabSize => Tokenizer.VocabSize;

    /// <summary>ChatML, the format the trainer's &lt;|im_start|&gt; / &lt;|im_end|&gt; tokens are for.</summary>
    public const string ChatMlTemplate =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// <summary>Copies the tokenizer.* fields into a model being exported.</summary>
    public void WriteTo(GgufWriter writer)
    {
        foreach (var (key, value) in _fields) writer.Set(key, value);
    }

    /// <summary>Trains a byte-level BPE vocabulary (with ChatML special tokens and template) on <paramref name="texts"/>.</summary>
    public static TrainingTokenizer Train(IEnumerable<string> texts, int vocabSize, string preType = "qwen2")
    {
        var vocabulary = BpeTrainer.TrainByteLevel(texts, vocabSize, preType);
        var writer = new GgufWriter();
        vocabulary.WriteTo(writer);
        writer.Set("tokenizer.chat_template", ChatMlTemplate);
        // The engine's loader reads a tokenizer from a file; a scratch file keeps one code path for both sources.
        string scratch = Path.Combine(Path.GetTempPath(), $"liaoyuan-tokenizer-{Guid.NewGuid():N}.gguf");
        try
        {
            WriteFile(writer, scratch);
            return Load(scratch);
        }
        finally
        {
            File.Delete(scratch);
        }
    }

    /// <summary>Writes a vocabulary-only GGUF (tokenizer fields, no tensors).</summary>
    public void Save(string path)
    {
        var writer = new GgufWriter();
        WriteTo(writer);
        WriteFile(writer, path);
    }

    /// <summary>Reads the tokenizer of any GGUF: a vocabulary file from `tokenizer train` or a model.</summary>
    public static TrainingTokenizer Load(string path)
    {
        using var file = GgufFile.Open(path);
        var tokenizer = Tokenizer.FromGguf(file);
        var fields = file.MetadataList.Where(kv => kv.Key.StartsWith("tokenizer.", StringComparison.Ordinal)).ToList();
        return new TrainingTokenizer(tokenizer, fields);
    }

    private static void WriteFile(GgufWriter writer, string path)
    {
        writer.Set("general.name", "liaoyuan-tokenizer");
        writer.Write(path);
    }
}
