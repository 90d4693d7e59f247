using Liaoyuan.Engine.Gguf;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Engine.Quantization;

/// <summary>One tensor of the output file: where it comes from and the type it will be written in.</summary>
public sealed record TensorPlan(GgufTensorInfo Source, long[] Shape, GgmlType Type, bool FellBack)
{
    public string Name => Source.Name;
    public bool Converts => Source.Type != Type;
    public long OutputBytes => GgmlTypeInfo.RowBytes(Type, Shape[0]) * (Source.ElementCount / Shape[0]);
}

/// <summary>
/// Chooses every tensor's output type the way llama.cpp's quantizer does without an importance matrix, so that
/// the same input and target give the same tensor types: which tensors are quantized at all, the "mixture" rules
/// that give sensitive tensors (attn_v, ffn_down, the output projection) more bits, and the fallback to a 32-block
/// type when a row is not a whole number of 256-element super-blocks.
/// </summary>
public static class TensorTypeChooser
{
    // Substrings of tensor names that llama.cpp never quantizes, though they are 2-D "weight"s: tiny or
    // precision-critical tensors of other architectures (MoE routers, RWKV mixes, SSM convolutions, vision and
    // audio embeddings). Kept so files of those architectures get the same types.
    private static readonly string[] KeptByNamePart =
    [
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
        "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
        "time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight",
        "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight", "attn_rel_b.weight", ".position_embd",
        "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook",
        "mm.a.code_embd",
    ];

    private enum Role { TokenEmbedding, Output, AttentionV, AttentionK, AttentionOutput, FeedForwardDown, Other }

    /// <summary>Plans the output file: tensors in llama.cpp's write order, each with its output type.</summary>
    public static IReadOnlyList<TensorPlan> Plan(GgufFile file, QuantizationTarget target)
    {
        var model = ModelFacts.Read(file);
        var ordered = file.Tensors.OrderBy(t => t, LoaderOrder.Instance).ToList();
        // Counters are over the tensors in write order, as llama.cpp advances them while it walks the model.
        int attentionVCount = ordered.Count(t => IsAttentionVLike(t.Name));
        bool tiedEmbeddings = !ordered.Any(t => t.Name == "output.weight");
        int attentionVSeen = 0, feedForwardDownSeen = 0;

        var plans = new List<TensorPlan>(ordered.Count);
        foreach (var tensor in ordered)
        {
            long[] shape = TrimTrailingOnes(tensor.Shape);
            if (!AllowsQuantization(tensor.Name, shape.Length))
            {
                plans.Add(new TensorPlan(tensor, shape, tensor.Type, false));
                continue;
            }
            var type = target.DefaultType;
            bool fellBack = false;
            if (target.IsQuantized)
            {
                var role = RoleOf(tensor.Name);
                type = Mixture(target, model, tensor, role, tiedEmbeddings, type, attentionVSeen, attentionVCount, feedForwardDownSeen);
                if (role == Role.AttentionV) attentionVSeen++;
                if (role == Role.FeedForwardDown) feedForwardDownSeen++;
                (type, fellBack) = Fallback(tensor, type);
            }
            plans.Add(new TensorPlan(tensor, shape, type, fellBack));
        }
        return plans;
    }

    /// <summary>Only 2-D and larger weights are quantized; norms, biases and a list of special tensors keep their type.</summary>
    public static bool AllowsQuantization(string name, int dimensions)
    {
        if (dimensions < 2 || !name.EndsWith("weight", StringComparison.Ordinal)) return false;
        if (name is "position_embd.weight" or "token_types.weight") return false;
        return !KeptByNamePart.Any(part => name.Contains(part, StringComparison.Ordinal));
    }

    /// <summary>
    /// True for the layers that get the larger type in the _M mixes: the first and last eighth of the layers and
    /// every third layer in between.
    /// </summary>
    public static bool UseMoreBits(int layer, int layers) =>
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    private static GgmlType Mixture(QuantizationTarget target, ModelFacts model, GgufTensorInfo tensor, Role role,
        bool tiedEmbeddings, GgmlType type, int attentionVSeen, int attentionVCount, int feedForwardDownSeen)
    {
        var ftype = target.FileType;
        bool mixM = ftype is LlamaFileType.MostlyQ4_K_M or LlamaFileType.MostlyQ5_K_M;
        switch (role)
        {
            // With tied embeddings the token embedding is also the output projection, so it is treated as one.
            case Role.Output:
            case Role.TokenEmbedding when tiedEmbeddings:
                if (model.IsFalcon || tensor.RowLength % GgmlTypeInfo.BlockSize(type) != 0) return GgmlType.Q8_0;
                return type == GgmlType.Q8_0 ? type : GgmlType.Q6_K;
            case Role.AttentionV:
                if (mixM && UseMoreBits(attentionVSeen, attentionVCount)) type = GgmlType.Q6_K;
                else if (ftype == LlamaFileType.MostlyQ4_K_S && attentionVSeen < 4) type = GgmlType.Q5_K;
                // A 70B model shares each attn_v among 8 query heads, so it is small enough to afford more bits.
                if (model.Is70B && type == GgmlType.Q4_K) type = GgmlType.Q5_K;
                if (model.Experts == 8) type = GgmlType.Q8_0;
                return type;
            case Role.AttentionK:
                return model.Experts == 8 ? GgmlType.Q8_0 : type;
            case Role.AttentionOutput:
                bool kMix = ftype is LlamaFileType.MostlyQ4_K_S or LlamaFileType.MostlyQ4_K_M;
                return !model.IsFalcon && model.Experts == 8 && kMix ? GgmlType.Q5_K : type;
            case Role.FeedForwardDown:
                int layer = model.Experts > 1 ? LayerOf(tensor.Name, model.Layers) : feedForwardDownSeen;
                int layers = model.Layers;
                if (ftype == LlamaFileType.MostlyQ4_K_M && model.IsFalcon)
                    return layer < layers / 16 ? GgmlType.Q6_K : UseMoreBits(layer, layers) ? GgmlType.Q5_K : GgmlType.Q4_K;
                if (mixM && UseMoreBits(layer, layers)) return GgmlType.Q6_K;
                if (ftype == LlamaFileType.MostlyQ4_K_S && !model.IsFalcon && layer < layers / 8) return GgmlType.Q5_K;
                return type;
            default:
                // Fused QKV projections count as attn_v (above); ffn_up/ffn_gate and the rest keep the default.
                return type;
        }
    }

    /// <summary>A row that is not a whole number of the type's blocks falls back to a type with 32-element blocks, or F16.</summary>
    private static (GgmlType Type, bool FellBack) Fallback(GgufTensorInfo tensor, GgmlType type)
    {
        if (tensor.RowLength % GgmlTypeInfo.BlockSize(type) == 0) return (type, false);
        var fallback = type switch
        {
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => throw new QuantizationException(
                $"tensor '{tensor.Name}' rows of {tensor.RowLength} elements are not a whole number of {type} blocks and {type} has no fallback type"),
        };
        return (tensor.RowLength % GgmlTypeInfo.BlockSize(fallback) == 0 ? fallback : GgmlType.F16, true);
    }

    private static Role RoleOf(string name)
    {
        if (name == "output.weight") return Role.Output;
        if (name is "token_embd.weight" or "per_layer_token_embd.weight") return Role.TokenEmbedding;
        if (IsAttentionVLike(name)) return Role.AttentionV;
        if (name.Contains("attn_k.weight", StringComparison.Ordinal)) return Role.AttentionK;
        if (name.Contains("attn_output.weight", StringComparison.Ordinal)) return Role.AttentionOutput;
        // ffn_up and ffn_gate are matched first so that names containing several parts resolve as llama.cpp's do.
        if (name.Contains("ffn_up", StringComparison.Ordinal) || name.Contains("ffn_gate", StringComparison.Ordinal)) return Role.Other;
        return name.Contains("ffn_down", StringComparison.Ordinal) ? Role.FeedForwardDown : Role.Other;
    }

    // The value projection and the fused projections that contain it are the tensors most sensitive to quantization.
    private static bool IsAttentionVLike(string name) =>
        name.Contains("attn_v.weight", StringComparison.Ordinal) || name.Contains("attn_qkv.weight", StringComparison.Ordinal)
        || name.Contains("attn_kv_b.weight", StringComparison.Ordinal);

    private static int LayerOf(string name, int layers)
    {
        int layer = LoaderOrder.LayerOf(name);
        if (layer < 0 || layer >= layers) throw new QuantizationException($"tensor '{name}' has no layer in [0, {layers})");
        return layer;
    }

    /// <summary>ggml records only the dimensions up to the last one that is not 1.</summary>
    private static long[] TrimTrailingOnes(long[] shape)
    {
        int n = shape.Length;
        while (n > 1 && shape[n - 1] == 1) n--;
        return shape[..n];
    }

    /// <summary>The order in which llama.cpp's loader lists weights: unlayered ones first, then by layer, then by name.</summary>
    private sealed class LoaderOrder : IComparer<GgufTensorInfo>
    {
        public static readonly LoaderOrder Instance = new();

        public int Compare(GgufTensorInfo? a, GgufTensorInfo? b)
        {
            int byLayer = LayerOf(a!.Name).CompareTo(LayerOf(b!.Name));
            return byLayer != 0 ? byLayer : string.CompareOrdinal(a.Name, b.Name);
        }

        /// <summary>The number after "blk.", or -1 for tensors outside the repeated blocks.</summary>
        public static int LayerOf(string name)
        {
            if (!name.StartsWith("blk.", StringComparison.Ordinal)) return -1;
            int i = 4, sign = 1;
            if (i < name.Length && name[i] is '-' or '+') sign = name[i++] == '-' ? -1 : 1;
            int start = i;
            long value = 0;
            while (i < name.Length && char.IsAsciiDigit(name[i]) && value < int.MaxValue) value = value * 10 + (name[i++] - '0');
            return i == start ? -1 : (int)Math.Min(value, int.MaxValue) * sign;
        }
    }
}

/// <summary>The facts about the model that the mixture rules depend on.</summary>
internal sealed record ModelFacts(string Architecture, int Layers, int Experts, bool Is70B)
{
    public bool IsFalcon => Architecture == "falcon";

    public static ModelFacts Read(GgufFile file)
    {
        string arch = file.GetString("general.architecture");
        int layers = file.GetInt32($"{arch}.block_count");
        int experts = file.GetInt32($"{arch}.expert_count", 0);
        // llama.cpp classes 80-layer Llama models with grouped-query attention (and 80-layer Qwen2) as 70B.
        bool is70B = layers == 80 && (arch == "qwen2" || (arch == "llama" && HeadCount(file, arch, "head_count") != HeadCount(file, arch, "head_count_kv")));
        return new ModelFacts(arch, layers, experts, is70B);
    }

    // Head counts may be per-layer arrays; the first layer's decides here.
    private static long HeadCount(GgufFile file, string arch, string key)
    {
        string full = $"{arch}.attention.{key}";
        if (file.Metadata.TryGetValue(full, out var value) && value.Value is Array { Length: > 0 } array)
            return Convert.ToInt64(array.GetValue(0));
        return file.GetIntegerOrNull(full) ?? (key == "head_count_kv" ? HeadCount(file, arch, "head_count") : 0);
    }
}
