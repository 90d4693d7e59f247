using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Models.Architectures;
using Liaoyuan.Engine.Tokenization;
using Liaoyuan.Operators.Kernels;

namespace Liaoyuan.Engine.Models;

/// <summary>A model file opened for inference: its mapping, its tokenizer and its weights.</summary>
public sealed class LoadedModel : IDisposable
{
    internal LoadedModel(GgufFile file, Tokenizer tokenizer, TransformerModel model)
    {
        File = file;
        Tokenizer = tokenizer;
        Model = model;
    }

    public GgufFile File { get; }
    public Tokenizer Tokenizer { get; }
    public TransformerModel Model { get; }
    public ModelHyperparameters Config => Model.Config;

    public void Dispose()
    {
        Model.Kernels.Dispose();
        File.Dispose();
    }
}

public static class ModelLoader
{
    public static IReadOnlyList<string> Architectures { get; } = ["llama", "qwen2", "qwen3"];

    /// <summary>Opens a GGUF model; any problem with the file raises a <see cref="GgufFormatException"/> naming it.</summary>
    public static LoadedModel Load(string path, IKernels? kernels = null)
    {
        var file = GgufFile.Open(path);
        try
        {
            string arch = file.GetString("general.architecture");
            if (!Architectures.Contains(arch))
                throw new GgufFormatException($"{path}: unknown architecture '{arch}' (supported: {string.Join(", ", Architectures)})");
            var tokenizer = Tokenizer.FromGguf(file);
            var config = ModelHyperparameters.Read(file, tokenizer.VocabSize);
            kernels ??= new CpuKernels();
            var tensors = new ModelTensors(file, kernels);
            TransformerModel model = arch switch
            {
                "llama" => new Llama(tensors, config, kernels),
                "qwen2" => new Qwen2(tensors, config, kernels),
                _ => new Qwen3(tensors, config, kernels),
            };
            // Loading leaves tens of MB of garbage (vocabulary strings, merge tables, repacking); hand it back to
            // the system now rather than keep it as committed heap for the life of the process.
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
            return new LoadedModel(file, tokenizer, model);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }
}
