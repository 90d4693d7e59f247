namespace Liaoyuan.Training.Model;

/// <summary>
/// Low-rank adaptation (Hu et al., 2021): each targeted projection W gets W + (alpha/rank)·B·A with A (rank × in)
/// and B (out × rank) trained and W frozen. Dropout applies to the adapter's input only.
/// </summary>
public sealed record LoraSettings
{
    /// <summary>The short target names and the llama.cpp tensors (blk.N.*.weight) they stand for.</summary>
    public static IReadOnlyDictionary<string, string> TargetTensors { get; } = new Dictionary<string, string>
    {
        ["q"] = "attn_q", ["k"] = "attn_k", ["v"] = "attn_v", ["o"] = "attn_output",
        ["gate"] = "ffn_gate", ["up"] = "ffn_up", ["down"] = "ffn_down",
    };

    public int Rank { get; init; } = 8;
    public float Alpha { get; init; } = 16f;
    public float Dropout { get; init; }
    public string[] Targets { get; init; } = ["q", "v"];

    public float Scale => Alpha / Rank;

    public void Validate()
    {
        if (Rank <= 0) throw new ArgumentException($"LoRA rank must be positive, got {Rank}");
        if (!(Alpha > 0)) throw new ArgumentException($"LoRA alpha must be positive, got {Alpha}");
        if (Dropout is < 0 or >= 1 || float.IsNaN(Dropout)) throw new ArgumentException($"LoRA dropout must be in [0, 1), got {Dropout}");
        if (Targets.Length == 0) throw new ArgumentException("LoRA needs at least one target module");
        foreach (string target in Targets)
            if (!TargetTensors.ContainsKey(target))
                throw new ArgumentException($"unknown LoRA target '{target}' (targets: {string.Join(", ", TargetTensors.Keys)})");
    }
}
