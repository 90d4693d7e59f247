using Liaoyuan.TestSupport;

namespace Liaoyuan.Cli.Tests;

/// <summary>
/// 1,000 random mutations and truncations of a valid model: every one must end in a clean load or a clean
/// one-line error with exit code 2 — no crash, no hang, no exception escaping the CLI.
/// </summary>
public sealed class GgufFuzzTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void ThousandMutationsEndCleanly()
    {
        string valid = _dir.File("valid.gguf");
        TestModelBuilder.Write(valid, new TestModelShape { Embedding = 32, Heads = 2, KvHeads = 1, HeadDim = 16, FeedForward = 64, Layers = 1 },
            TestVocabulary.ByteLevel());
        byte[] original = File.ReadAllBytes(valid);
        int headerEnd;
        using (var f = Engine.Gguf.GgufFile.Open(valid)) headerEnd = (int)f.DataStart;
        var random = new Random(20261129);
        string mutated = _dir.File("mutated.gguf");
        int loads = 0, errors = 0;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        for (int i = 0; i < 1000; i++)
        {
            byte[] bytes = Mutate(original, headerEnd, random, out string how);
            File.WriteAllBytes(mutated, bytes);
            var iteration = System.Diagnostics.Stopwatch.StartNew();
            var result = CliRunner.Run("run", mutated, "--prompt", "ab", "--max-tokens", "1", "--temperature", "0");
            Assert.True(iteration.Elapsed < TimeSpan.FromSeconds(20), $"mutation {i} ({how}) took {iteration.Elapsed}");
            if (result.ExitCode == 0) loads++;
            else
            {
                Assert.True(result.ExitCode == 2, $"mutation {i} ({how}): exit {result.ExitCode}: {result.Error}");
                string message = result.Error.Trim();
                Assert.StartsWith("error: ", message);
                Assert.DoesNotContain('\n', message);
                errors++;
            }
        }
        Assert.Equal(1000, loads + errors);
        Assert.True(errors > 100, $"only {errors} of 1000 mutations were rejected; the mutator is too gentle");
    }

    private static byte[] Mutate(byte[] original, int headerEnd, Random random, out string how)
    {
        byte[] bytes = (byte[])original.Clone();
        switch (random.Next(4))
        {
            case 0:
                int length = random.Next(0, original.Length);
                how = $"truncate to {length}";
                return bytes[..length];
            case 1:
                int flips = random.Next(1, 8);
                how = $"{flips} header byte flips";
                for (int k = 0; k < flips; k++) bytes[random.Next(headerEnd)] ^= (byte)(1 << random.Next(8));
                return bytes;
            case 2:
                int at = random.Next(headerEnd);
                how = $"random byte at {at}";
                bytes[at] = (byte)random.Next(256);
                return bytes;
            default:
                int start = random.Next(headerEnd - 8);
                how = $"extreme u64 at {start}";
                ulong value = random.Next(3) switch { 0 => ulong.MaxValue, 1 => (ulong)int.MaxValue + 1, _ => (ulong)random.Next() };
                BitConverter.TryWriteBytes(bytes.AsSpan(start, 8), value);
                return bytes;
        }
    }
}
