using System.Runtime.CompilerServices;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// The scale searches behind ggml's k-quant reference quantizers. They are greedy and order-sensitive,
/// so every sum accumulates in ggml's order and no multiply is fused into an add; otherwise a search
/// can settle on a different scale and the file bytes diverge.
/// </summary>
internal static class KQuantSearch
{
    /// <summary>Below this magnitude a group counts as all zeros.</summary>
    public const float GroupMaxEpsilon = 1e-15f;

    /// <summary>
    /// Rounds to nearest, ties to even, by adding 1.5 * 2^23 so the float unit sits at the integer's last bit.
    /// Valid for |value| &lt; 2^22; outside that (and for NaN) it returns the same garbage ggml's helper does.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float value)
    {
        float shifted = value + 12582912f;
        return (BitConverter.SingleToInt32Bits(shifted) & 0x007FFFFF) - 0x00400000;
    }

    /// <summary>
    /// Symmetric search (ggml's make_qx_quants with squared-value weights and no importance matrix):
    /// levels in [-maxLevel, maxLevel - 1], stored in <paramref name="levels"/> offset by +maxLevel.
    /// Tries 19 scales around maxLevel / max and keeps the one with the best weighted least-squares fit.
    /// </summary>
    public static float SymmetricScale(ReadOnlySpan<float> x, int maxLevel, Span<sbyte> levels)
    {
        float max = LegacyQuants.SignedAbsMax(x);
        if (MathF.Abs(max) < GroupMaxEpsilon)
        {
            levels[..x.Length].Clear();
            return 0f;
        }

        float iscale = -maxLevel / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < x.Length; i++)
        {
            int l = Math.Clamp(NearestInt(iscale * x[i]), -maxLevel, maxLevel - 1);
            levels[i] = (sbyte)(l + maxLevel);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;

        for (int step = -9; step <= 9; step++)
        {
            if (step == 0)
                continue;
            iscale = -(maxLevel + 0.1f * step) / max;
            sumlx = 0;
            suml2 = 0;
            for (int i = 0; i < x.Length; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * x[i]), -maxLevel, maxLevel - 1);
                float w = x[i] * x[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < x.Length; i++)
                    levels[i] = (sbyte)(maxLevel + Math.Clamp(NearestInt(iscale * x[i]), -maxLevel, maxLevel - 1));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>
    /// Affine search (ggml's make_qkx2_quants): x ≈ scale * l - min with l in [0, maxLevel] and min ≥ 0 returned
    /// through <paramref name="negatedMin"/>. Tries <paramref name="steps"/> + 1 inverse scales
    /// (maxLevel + rmin + rdelta * k) / (max - min), solves the weighted least squares for each, keeps the best.
    /// </summary>
    public static float AffineScale(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, int maxLevel,
        Span<byte> levels, Span<byte> scratch, out float negatedMin, float rmin, float rdelta, int steps)
    {
        int n = x.Length;
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0)
            min = 0;
        if (max == min)
        {
            levels[..n].Clear();
            negatedMin = -min;
            return 0f;
        }

        float iscale = maxLevel / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = NearestInt(iscale * (x[i] - min));
            levels[i] = (byte)Math.Clamp(l, 0, maxLevel);
            float diff = scale * levels[i] + min - x[i];
            bestError += weights[i] * (diff * diff);
        }

        for (int step = 0; step <= steps; step++)
        {
            iscale = (rmin + rdelta * step + maxLevel) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(NearestInt(iscale * (x[i] - min)), 0, maxLevel);
                scratch[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (!(det > 0)) // also skips a NaN determinant, as ggml does
                continue;
            float thisScale = (sumW * sumXL - sumX * sumL) / det;
            float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
            if (thisMin > 0)
            {
                thisMin = 0;
                thisScale = sumXL / sumL2;
            }
            float error = 0;
            for (int i = 0; i < n; i++)
            {
                float diff = thisScale * scratch[i] + thisMin - x[i];
                error += weights[i] * (diff * diff);
            }
            if (error < bestError)
            {
                scratch[..n].CopyTo(levels);
                bestError = error;
                scale = thisScale;
                min = thisMin;
            }
        }
        negatedMin = -min;
        return scale;
    }

    /// <summary>Packs eight 6-bit (scale, min) pairs into Q4_K/Q5_K's 12-byte scale field.</summary>
    public static void PackScalesAndMins(ReadOnlySpan<byte> scales, ReadOnlySpan<byte> mins, Span<byte> packed)
    {
        packed[..12].Clear();
        for (int j = 0; j < 8; j++)
        {
            byte ls = scales[j], lm = mins[j];
            if (j < 4)
            {
                packed[j] = ls;
                packed[j + 4] = lm;
            }
            else
            {
                // Sub-blocks 4..7 keep their low four bits in bytes 8..11 and lend their top two bits
                // to the spare high bits of bytes 0..7.
                packed[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packed[j - 4] |= (byte)((ls >> 4) << 6);
                packed[j] |= (byte)((lm >> 4) << 6);
            }
        }
    }

    /// <summary>Reads sub-block <paramref name="j"/>'s 6-bit scale and min from the 12-byte packed field.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static (int Scale, int Min) UnpackScaleAndMin(ReadOnlySpan<byte> packed, int j)
    {
        if (j < 4)
            return (packed[j] & 63, packed[j + 4] & 63);
        return ((packed[j + 4] & 0xF) | ((packed[j - 4] >> 6) << 4),
                (packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
    }
}
