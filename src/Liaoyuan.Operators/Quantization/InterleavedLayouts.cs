using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Liaoyuan.Operators.Quantization;

/// <summary>
/// Sixteen weight rows of a 32-weight block type stored together, block by block, so one product step reads one
/// stream and each 32-byte load feeds eight rows at once (one <c>vpdpbusd</c> lane per row). Per block of the
/// sixteen rows: their sixteen f16 scales (32 bytes), then the codes as unsigned bytes w + 2^<see cref="OffsetShift"/>,
/// in eight groups g of four consecutive weights 4g..4g+3: for each group, rows 0–7 then rows 8–15, four bytes per
/// row. How the codes are stored (bytes, nibbles, a bit plane) is the type's own; <see cref="Groups"/> hands the
/// kernels groups h and h + 4 of one half of the rows.
/// </summary>
internal unsafe interface IInterleavedBlocks
{
    /// <summary>Bytes of one block of sixteen rows (sixteen times the type's block size).</summary>
    static abstract int Bytes { get; }

    /// <summary>log2 of the offset the codes are stored with (w + 2^shift): the kernels scale the activations' −Σa by it.</summary>
    static abstract int OffsetShift { get; }

    /// <summary>Groups h and h + 4 (h = 0..3) of rows 8·half .. 8·half + 7, each as 8 rows × 4 unsigned codes.</summary>
    static abstract void Groups(byte* block, int h, int half, out Vector256<byte> low, out Vector256<byte> high);

    /// <summary>The 32 unsigned codes and the f16 scale bits of one block in ggml's layout.</summary>
    static abstract ushort Read(byte* block, Span<byte> codes);

    /// <summary>Stores 16 rows' codes (row-major, 32 per row) after the scales of a block at <paramref name="block"/>.</summary>
    static abstract void WriteCodes(ReadOnlySpan<byte> codes, byte* block);

    /// <summary>The unsigned code of weight <paramref name="e"/> of row <paramref name="r"/> in a block's codes.</summary>
    static abstract int Code(byte* codes, int r, int e);
}

/// <summary>Interleaved sixteen-row layouts and their repacking from ggml's row-major blocks.</summary>
internal static unsafe class InterleavedLayout
{
    public const int Rows = 16, ScaleBytes = Rows * sizeof(ushort);

    /// <summary>
    /// Repacks the first <paramref name="groups"/>·16 rows. Returns false (and leaves the copy unusable) when a block
    /// scale is infinite or NaN: the kernels widen scales with integer arithmetic that assumes finite halves.
    /// </summary>
    public static bool Repack<TBlocks>(byte* rows, int rowBytes, int blocks, int groups, byte* destination)
        where TBlocks : struct, IInterleavedBlocks
    {
        int sourceBlockBytes = TBlocks.Bytes / Rows;
        Span<byte> codes = stackalloc byte[Rows * 32];
        for (int g = 0; g < groups; g++)
        {
            byte* groupRows = rows + (long)g * Rows * rowBytes;
            for (int b = 0; b < blocks; b++, destination += TBlocks.Bytes)
            {
                for (int r = 0; r < Rows; r++)
                {
                    ushort scale = TBlocks.Read(groupRows + (long)r * rowBytes + (long)b * sourceBlockBytes, codes.Slice(r * 32, 32));
                    if ((scale & 0x7C00) == 0x7C00) return false;
                    ((ushort*)destination)[r] = scale;
                }
                TBlocks.WriteCodes(codes, destination + ScaleBytes);
            }
        }
        return true;
    }

    /// <summary>
    /// Row <paramref name="row"/> of the interleaved copy as floats, exactly as ggml dequantizes the file's row
    /// (d · (code − offset)): an embedding lookup then reads the resident copy instead of the file's pages.
    /// </summary>
    public static void DequantizeRow<TBlocks>(byte* interleaved, int row, int blocks, Span<float> destination)
        where TBlocks : struct, IInterleavedBlocks
    {
        byte* block = interleaved + (long)(row / Rows) * blocks * TBlocks.Bytes;
        int r = row % Rows;
        for (int b = 0; b < blocks; b++, block += TBlocks.Bytes)
        {
            float d = Float16.ToSingle(((ushort*)block)[r]);
            for (int e = 0; e < 32; e++)
                destination[b * 32 + e] = (TBlocks.Code(block + ScaleBytes, r, e) - (1 << TBlocks.OffsetShift)) * d;
        }
    }

    /// <summary>Index of code (row r, weight e) in an eight-groups-of-sixteen-rows byte image.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int ByteImageIndex(int r, int e) => (e / 4) * 64 + (r / 8) * 32 + (r % 8) * 4 + e % 4;

    /// <summary>
    /// Eight halves (sign-extended into 32-bit lanes) widened exactly for finite values: the bits are moved into
    /// float position and the exponent bias difference is multiplied in (2^112), which also renormalises subnormals.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> WidenScales(Vector256<int> signExtended) =>
        ((signExtended << 13) & Vector256.Create(unchecked((int)0x8FFFE000))).AsSingle() * Vector256.Create(FloatDotProducts.HalfBitsScale);
}

/// <summary>Q8_0 as sixteen interleaved rows: the codes stored as bytes w + 128.</summary>
internal readonly unsafe struct Q8_0x16 : IInterleavedBlocks
{
    public static int Bytes => InterleavedLayout.Rows * Q8_0Layout.Bytes;

    public static int OffsetShift => 7;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Groups(byte* block, int h, int half, out Vector256<byte> low, out Vector256<byte> high)
    {
        byte* codes = block + InterleavedLayout.ScaleBytes + half * 32;
        low = Vector256.Load(codes + h * 64);
        high = Vector256.Load(codes + (h + 4) * 64);
    }

    public static ushort Read(byte* block, Span<byte> codes)
    {
        (Vector256.Load(block + Q8_0Layout.Quants) ^ Vector256.Create((byte)0x80)).CopyTo(codes);
        return *(ushort*)block;
    }

    public static void WriteCodes(ReadOnlySpan<byte> codes, byte* block)
    {
        // Each group of four codes of a row moves as one 32-bit word.
        fixed (byte* source = codes)
        {
            for (int r = 0; r < InterleavedLayout.Rows; r++)
                for (int g = 0; g < 8; g++)
                    *(uint*)(block + InterleavedLayout.ByteImageIndex(r, 4 * g)) = *(uint*)(source + r * 32 + 4 * g);
        }
    }

    public static int Code(byte* codes, int r, int e) => codes[InterleavedLayout.ByteImageIndex(r, e)];
}

/// <summary>
/// Q4_0 as sixteen interleaved rows: 32 bytes per (h, half) hold group h in their low nibbles and group h + 4 in
/// their high nibbles, so one load and two masks give both.
/// </summary>
internal readonly unsafe struct Q4_0x16 : IInterleavedBlocks
{
    public static int Bytes => InterleavedLayout.Rows * Q4_0Layout.Bytes;

    public static int OffsetShift => 3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Groups(byte* block, int h, int half, out Vector256<byte> low, out Vector256<byte> high)
    {
        var packed = Vector256.Load(block + InterleavedLayout.ScaleBytes + h * 64 + half * 32);
        low = packed & Vector256.Create((byte)0x0F);
        high = (packed.AsUInt16() >>> 4).AsByte() & Vector256.Create((byte)0x0F);
    }

    public static ushort Read(byte* block, Span<byte> codes)
    {
        for (int j = 0; j < 16; j++)
        {
            byte packed = block[Q4_0Layout.Quants + j];
            codes[j] = (byte)(packed & 0x0F);
            codes[j + 16] = (byte)(packed >> 4);
        }
        return *(ushort*)block;
    }

    public static void WriteCodes(ReadOnlySpan<byte> codes, byte* block) => WriteNibbles(codes, block);

    public static int Code(byte* codes, int r, int e) =>
        e < 16 ? codes[InterleavedLayout.ByteImageIndex(r, e)] & 0x0F : codes[InterleavedLayout.ByteImageIndex(r, e - 16)] >> 4;

    /// <summary>Low four bits of each code: group h in the low nibble, group h + 4 in the high nibble.</summary>
    internal static void WriteNibbles(ReadOnlySpan<byte> codes, byte* block)
    {
        fixed (byte* source = codes)
        {
            var mask = Vector128.Create((byte)0x0F);
            for (int r = 0; r < InterleavedLayout.Rows; r++)
            {
                var low = Vector128.Load(source + r * 32) & mask;
                var high = Vector128.Load(source + r * 32 + 16) & mask;
                var packed = (low | (high.AsUInt16() << 4).AsByte()).AsUInt32();
                for (int h = 0; h < 4; h++)
                    *(uint*)(block + InterleavedLayout.ByteImageIndex(r, 4 * h)) = packed.GetElement(h);
            }
        }
    }
}

/// <summary>
/// Q5_0 as sixteen interleaved rows. The 32 bytes of each (h, half) hold in their bits 0–4 the whole code of group h
/// and in bits 5–7 the low three bits of group h + 4; then 32 bytes per half of the rows: bits 2h and 2h + 1 of byte
/// 4·row + j are the top two bits of weight 4(h + 4) + j. Group h is then one mask of the load, group h + 4 a shift
/// and a mask of it joined by one shift and mask of the top bits: six operations for 64 codes.
/// </summary>
internal readonly unsafe struct Q5_0x16 : IInterleavedBlocks
{
    private const int TopBits = InterleavedLayout.ScaleBytes + 256;

    public static int Bytes => InterleavedLayout.Rows * Q5_0Layout.Bytes;

    public static int OffsetShift => 4;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Groups(byte* block, int h, int half, out Vector256<byte> low, out Vector256<byte> high)
    {
        var packed = Vector256.Load(block + InterleavedLayout.ScaleBytes + h * 64 + half * 32);
        low = packed & Vector256.Create((byte)0x1F);
        var top = Vector256.Load(block + TopBits + half * 32).AsUInt16();
        // 16-bit shifts by at most three bits: what crosses into the neighbouring byte falls outside the masks.
        var topInPlace = h < 2 ? top << (3 - 2 * h) : top >>> (2 * h - 3);
        high = ((packed.AsUInt16() >>> 5).AsByte() & Vector256.Create((byte)0x07))
               | (topInPlace.AsByte() & Vector256.Create((byte)0x18));
    }

    public static ushort Read(byte* block, Span<byte> codes)
    {
        uint highBits = *(uint*)(block + Q5_0Layout.HighBits);
        for (int j = 0; j < 16; j++)
        {
            byte packed = block[Q5_0Layout.Quants + j];
            codes[j] = (byte)((packed & 0x0Fu) | ((highBits >> j) & 1u) << 4);
            codes[j + 16] = (byte)(((uint)packed >> 4) | ((highBits >> (j + 16)) & 1u) << 4);
        }
        return *(ushort*)block;
    }

    public static void WriteCodes(ReadOnlySpan<byte> codes, byte* block)
    {
        byte* top = block + TopBits - InterleavedLayout.ScaleBytes;
        new Span<byte>(top, 64).Clear();
        for (int r = 0; r < InterleavedLayout.Rows; r++)
            for (int e = 0; e < 16; e++)
            {
                int low = codes[r * 32 + e], high = codes[r * 32 + e + 16];
                block[InterleavedLayout.ByteImageIndex(r, e)] = (byte)(low | (high & 7) << 5);
                top[TopByte(r, e)] |= (byte)((high >> 3) << (2 * (e / 4)));
            }
    }

    public static int Code(byte* codes, int r, int e)
    {
        if (e < 16) return codes[InterleavedLayout.ByteImageIndex(r, e)] & 0x1F;
        byte* top = codes + TopBits - InterleavedLayout.ScaleBytes;
        int g = e - 16;
        return codes[InterleavedLayout.ByteImageIndex(r, g)] >> 5 | ((top[TopByte(r, g)] >> (2 * (g / 4))) & 3) << 3;
    }

    private static int TopByte(int r, int e) => (r / 8) * 32 + (r % 8) * 4 + e % 4;
}
