using System.Runtime.InteropServices;
using Liaoyuan.Engine.Gguf;
using Liaoyuan.Engine.Models;
using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.TestSupport;

namespace Liaoyuan.Engine.Tests.Models;

/// <summary>LoRA adapters applied at inference: the update itself, and adapters that do not fit the model.</summary>
public sealed class LoraAdapterTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private readonly string _base;

    public LoraAdapterTests()
    {
        _base = _dir.File("base.gguf");
        TestModelBuilder.Write(_base, new TestModelShape { Context = 32 }, TestVocabulary.ByteLevel());
    }

    public void Dispose() => _dir.Dispose();

    private static byte[] Floats(float[] values) => MemoryMarshal.AsBytes(values.AsSpan()).ToArray();

    /// <summary>An adapter with one pair on blk.0.attn_q.weight (64 → 64), rank 2, A and B filled with the given values.</summary>
    private string Adapter(string name, Action<GgufWriter>? change = null, float a = 0.1f, float b = 0.2f, long[]? aShape = null, long[]? bShape = null,
        string target = "blk.0.attn_q.weight")
    {
        var w = new GgufWriter();
        w.Set("general.architecture", "llama");
        w.Set("general.type", "adapter");
        w.Set("adapter.type", "lora");
        w.Set("adapter.lora.alpha", 4f);
        aShape ??= [64, 2];
        bShape ??= [2, 64];
        w.AddTensor(target + ".lora_a", GgmlType.F32, aShape, Floats(Enumerable.Repeat(a, (int)(aShape[0] * aShape[1])).ToArray()));
        w.AddTensor(target + ".lora_b", GgmlType.F32, bShape, Floats(Enumerable.Repeat(b, (int)(bShape[0] * bShape[1])).ToArray()));
        change?.Invoke(w);
        string path = _dir.File(name);
        w.Write(path);
        return path;
    }

    private static float[] Logits(LoadedModel model, int[] tokens)
    {
        var logits = new float[tokens.Length * model.Config.VocabSize];
        new InferenceSession(model.Model, 32, GgmlType.F32).EvaluateAll(tokens, logits);
        return logits;
    }

    [Fact]
    public void An_adapter_changes_the_output_without_touching_the_weights_and_zero_scale_undoes_it()
    {
        using var model = ModelLoader.Load(_base, new CpuKernels(2));
        int[] tokens = [72, 101, 108, 108, 111];
        var info = model.File.FindTensor("blk.0.attn_q.weight")!;
        byte[] before = model.File.TensorBytes(info).ToArray();
        float[] plain = Logits(model, tokens);
        LoraAdapter.Apply(Adapter("a.gguf"), model);
        float[] adapted = Logits(model, tokens);
        Assert.True(LogitComparison.RelativeError(plain, adapted) > 1e-3);
        Assert.Equal(before, model.File.TensorBytes(info).ToArray());
        LoraAdapter.Apply(Adapter("a.gguf"), model, scale: 0f);
        Assert.Equal(plain, Logits(model, tokens));
    }

    [Fact]
    public void An_adapter_that_does_not_fit_the_model_is_refused_with_the_reason()
    {
        using var model = ModelLoader.Load(_base, new CpuKernels(2));
        void Refused(string path, string reason) =>
            Assert.Contains(reason, Assert.Throws<GgufFormatException>(() => LoraAdapter.Apply(path, model)).Message);

        Refused(Adapter("shape.gguf", aShape: [32, 2]), "do not fit the base tensor");
        Refused(Adapter("rank.gguf", bShape: [3, 64]), "do not fit the base tensor");
        Refused(Adapter("missing.gguf", target: "blk.9.attn_q.weight"), "does not exist in the base model");
        Refused(Adapter("output.gguf", target: "output.weight", aShape: [64, 2], bShape: [2, 259]), "not supported");
        Refused(Adapter("arch.gguf", w => w.Set("general.architecture", "qwen2")), "the adapter is for 'qwen2'");
        Refused(Adapter("type.gguf", w => w.Set("general.type", "model")), "not an adapter");
        Refused(Adapter("half.gguf", w => w.AddTensor("blk.1.attn_v.weight.lora_a", GgmlType.F32, [64, 2], new byte[64 * 2 * 4])), "missing its lora_b");
        Refused(_base, "not an adapter");
    }

    [Fact]
    public void One_batched_pass_serves_the_base_and_two_adapters_each_on_its_own_sequences_only()
    {
        using var model = ModelLoader.Load(_base, new CpuKernels(2));
        string first = Adapter("first.gguf", a: 0.1f, b: 0.2f), second = Adapter("second.gguf", a: -0.05f, b: 0.3f, target: "blk.1.ffn_up.weight",
            aShape: [64, 2], bShape: [2, 128]);
        var adapters = new[] { null, LoraAdapter.Load(first, model), LoraAdapter.Load(second, model, scale: 0.5f), LoraAdapter.Load(first, model) };
        int[][] prompts = [[72, 101, 108], [72, 101, 108], [10, 20, 30, 40], [5]];
        var sessions = adapters.Select(a => new InferenceSession(model.Model, 32, GgmlType.F32) { Adapter = a }).ToArray();
        var evaluator = new BatchEvaluator(model.Model, 16);
        evaluator.Evaluate(sessions, prompts);
        var batched = sessions.Select(s => s.LastLogits.ToArray()).ToArray();
        evaluator.Evaluate(sessions, [[7], [7], [7], [7]]);
        var next = sessions.Select(s => s.LastLogits.ToArray()).ToArray();

        // Each sequence matches the same adapter applied to the whole model (as `run --lora` does), run alone.
        (string? Path, float Scale)[] alone = [(null, 1f), (first, 1f), (second, 0.5f), (first, 1f)];
        for (int i = 0; i < sessions.Length; i++)
        {
            using var single = ModelLoader.Load(_base, new CpuKernels(2));
            if (alone[i].Path is { } path) LoraAdapter.Apply(path, single, alone[i].Scale);
            var session = new InferenceSession(single.Model, 32, GgmlType.F32);
            Assert.True(LogitComparison.RelativeError(session.Evaluate(prompts[i]).ToArray(), batched[i]) < 1e-5, $"sequence {i}, prompt");
            Assert.True(LogitComparison.RelativeError(session.Evaluate([7]).ToArray(), next[i]) < 1e-5, $"sequence {i}, next token");
        }
        // The same prompt with and without the adapter really differs, so the comparisons above could fail.
        Assert.True(LogitComparison.RelativeError(batched[0], batched[1]) > 1e-3);
    }

    [Fact]
    public void An_adapter_read_for_another_model_instance_is_refused()
    {
        using var model = ModelLoader.Load(_base, new CpuKernels(2));
        using var other = ModelLoader.Load(_base, new CpuKernels(2));
        var session = new InferenceSession(model.Model, 32, GgmlType.F32) { Adapter = LoraAdapter.Load(Adapter("a.gguf"), other) };
        Assert.Contains("another model instance", Assert.Throws<ArgumentException>(() => session.Evaluate([1, 2])).Message);
    }

    [Fact]
    public void Checking_an_adapter_against_a_model_file_gives_the_same_reasons_without_loading_the_model()
    {
        using var file = GgufFile.Open(_base);
        LoraAdapter.Check(Adapter("fits.gguf"), file);
        Assert.Contains("do not fit the base tensor",
            Assert.Throws<GgufFormatException>(() => LoraAdapter.Check(Adapter("shape.gguf", aShape: [32, 2]), file)).Message);
        Assert.Contains("not an adapter", Assert.Throws<GgufFormatException>(() => LoraAdapter.Check(_base, file)).Message);
    }
}
