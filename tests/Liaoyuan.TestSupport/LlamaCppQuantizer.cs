using LLama.Native;

namespace Liaoyuan.TestSupport;

/// <summary>llama.cpp's own quantizer (llama_model_quantize through LLamaSharp), the reference for `liaoyuan quantize`.</summary>
public static class LlamaCppQuantizer
{
    private static readonly Lock NativeLock = new();

    /// <summary>
    /// Quantizes <paramref name="source"/> to the llama_ftype numbered <paramref name="fileType"/> with llama.cpp's
    /// defaults for everything else (no importance matrix, output.weight quantized, requantizing allowed).
    /// </summary>
    public static void Quantize(string source, string destination, uint fileType, int threads = 2)
    {
        lock (NativeLock)
        {
            NativeApi.llama_empty_call();
            // The native call directly: LLamaQuantizer.Quantize refuses some targets llama.cpp supports (BF16).
            var parameters = LLamaModelQuantizeParams.Default();
            parameters.ftype = (LLamaFtype)(int)fileType;
            parameters.nthread = threads;
            parameters.allow_requantize = true;
            parameters.quantize_output_tensor = true;
            if (NativeApi.llama_model_quantize(source, destination, ref parameters) != 0)
                throw new InvalidOperationException($"llama.cpp failed to quantize {source} to {parameters.ftype}");
        }
    }
}
