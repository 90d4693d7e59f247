using Liaoyuan.Operators.Kernels;
using Liaoyuan.Operators.Tensors;

namespace Liaoyuan.Engine.Models;

/// <summary>The key/value cache of one sequence: a layer per decoder block, plus that sequence's scratch state.</summary>
public sealed class KvCache
{
    private readonly ModelHyperparameters _config;
    private ForwardState? _state;

    public KvCache(ModelHyperparameters config, int contextLength, GgmlType type = GgmlType.F16)
    {
        _config = config;
        ContextLength = contextLength;
        Type = type;
        Layers = new KvCacheLayer[config.BlockCount];
        for (int i = 0; i < Layers.Length; i++)
            Layers[i] = new KvCacheLayer(type, contextLength, config.KvHeadCount, config.KeyLength, config.ValueLength);
    }

    public int ContextLength { get; }
    public GgmlType Type { get; }
    public KvCacheLayer[] Layers { get; }

    internal ForwardState State(int tokens)
    {
        if (_state is null || _state.Capacity < tokens) _state = new ForwardState(_config, tokens);
        return _state;
    }
}
