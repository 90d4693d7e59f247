namespace Liaoyuan.Training.Ops;

/// <summary>
/// y = x · Wᵀ over a batch of rows, with W stored [out, in] like a GGUF weight (each output's weights one row).
/// Backward: dx = dy · W and dW += dyᵀ · x.
/// </summary>
public static class MatMul
{
    /// <summary>Writes x·Wᵀ into <paramref name="y"/>, or adds it with <paramref name="accumulate"/>.</summary>
    public static void Forward(Compute compute, float[] x, float[] weight, float[] y, int rows, int inputs, int outputs, bool accumulate = false)
    {
        // B = Wᵀ is read in place through its strides (B[p, j] = W[j, p]); the GEMM packs it once per call.
        Gemm.Multiply(compute, rows, outputs, inputs, x, 0, inputs, 1, weight, 0, 1, inputs, y, 0, outputs, accumulate);
    }

    /// <summary>
    /// Adds dyᵀ·x to <paramref name="weightGrad"/> unless it is null (a frozen weight), and writes (or adds, with
    /// <paramref name="accumulateInput"/>) dy·W into <paramref name="inputGrad"/> when it is not null.
    /// </summary>
    public static void Backward(Compute compute, float[] x, float[] weight, float[] dy, float[]? inputGrad, float[]? weightGrad,
        int rows, int inputs, int outputs, bool accumulateInput = false)
    {
        if (weightGrad is not null)
            Gemm.Multiply(compute, outputs, inputs, rows, dy, 0, 1, outputs, x, 0, inputs, weightGrad, 0, inputs, accumulate: true);
        if (inputGrad is not null)
            Gemm.Multiply(compute, rows, inputs, outputs, dy, 0, outputs, 1, weight, 0, inputs, inputGrad, 0, inputs, accumulateInput);
    }
}
