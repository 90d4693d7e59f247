using Liaoyuan.Engine.Generation;

namespace Liaoyuan.Engine.Tests.Generation;

public sealed class SamplerTests
{
    private static readonly float[] Logits = [1.0f, 3.0f, 2.5f, -1.0f, 0.0f, 2.9f];

    [Fact]
    public void GreedyPicksTheLargestLogit()
    {
        var sampler = new Sampler(SamplingOptions.Greedy);
        Assert.Equal(1, sampler.Sample(Logits, []));
    }

    [Fact]
    public void RepeatPenaltyDividesPositiveAndMultipliesNegativeLogits()
    {
        var sampler = new Sampler(SamplingOptions.Greedy with { RepeatPenalty = 2.0f });
        // Token 1 (3.0) seen before becomes 1.5, so 5 (2.9) wins.
        Assert.Equal(5, sampler.Sample(Logits, [1]));
    }

    [Fact]
    public void PresenceAndFrequencyPenaltiesSubtract()
    {
        var sampler = new Sampler(SamplingOptions.Greedy with { FrequencyPenalty = 0.1f, PresencePenalty = 0.1f });
        // Token 1 seen twice: 3.0 - 2*0.1 - 0.1 = 2.7 < 2.9.
        Assert.Equal(5, sampler.Sample(Logits, [1, 1]));
        Assert.Equal(1, sampler.Sample(Logits, [0]));
    }

    [Fact]
    public void TopKOneIsGreedyEvenAtHighTemperature()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 5f, TopK = 1, Seed = 7 });
        for (int i = 0; i < 50; i++) Assert.Equal(1, sampler.Sample(Logits, []));
    }

    [Fact]
    public void MinPDropsUnlikelyTokens()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 1f, TopK = 0, TopP = 1f, MinP = 0.5f, Seed = 3 });
        var seen = new HashSet<int>();
        for (int i = 0; i < 300; i++) seen.Add(sampler.Sample(Logits, []));
        // p(2.5)/p(3.0) = e^-0.5 ≈ 0.61 ≥ 0.5 and p(2.9)/p(3.0) ≈ 0.90 stay; 1.0, 0.0, -1.0 go.
        Assert.Equal(new HashSet<int> { 1, 2, 5 }, seen);
    }

    [Fact]
    public void TopPKeepsTheSmallestNucleus()
    {
        float[] logits = [10f, 0f, 0f, 0f];
        var sampler = new Sampler(new SamplingOptions { Temperature = 1f, TopK = 0, TopP = 0.5f, MinP = 0f, Seed = 11 });
        for (int i = 0; i < 100; i++) Assert.Equal(0, sampler.Sample(logits, []));
    }

    [Fact]
    public void TheSameSeedGivesTheSameDraws()
    {
        var options = new SamplingOptions { Temperature = 1.5f, TopK = 0, TopP = 1f, MinP = 0f, Seed = 42 };
        var a = new Sampler(options);
        var b = new Sampler(options);
        var drawsA = Enumerable.Range(0, 40).Select(_ => a.Sample(Logits, [])).ToArray();
        var drawsB = Enumerable.Range(0, 40).Select(_ => b.Sample(Logits, [])).ToArray();
        Assert.Equal(drawsA, drawsB);
        Assert.True(drawsA.Distinct().Count() > 1, "a temperature of 1.5 should not be deterministic across draws");
    }

    [Theory]
    [InlineData(-1f, 40, 0.9f, 0f)]
    [InlineData(1f, -1, 0.9f, 0f)]
    [InlineData(1f, 40, 0f, 0f)]
    [InlineData(1f, 40, 0.9f, 1.5f)]
    public void BadSettingsAreRejectedWithAReason(float temperature, int topK, float topP, float minP)
    {
        var options = new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP, MinP = minP };
        Assert.NotNull(options.Validate());
        Assert.Throws<ArgumentException>(() => new Sampler(options));
    }

    [Fact]
    public void TopPWithoutTopKRanksTheWholeVocabularyBestFirstWithTiesToTheLowerIndex()
    {
        // Negative, zero and positive logits, a tie at the top: the first-ranked token alone carries 0.37 of the
        // mass, so top_p 0.3 keeps exactly it (the lower index of the tie), whatever the draw.
        float[] logits = [-3f, 2f, -0f, 2f, 0f, -1.5f, 1f];
        for (ulong seed = 0; seed < 50; seed++)
        {
            var sampler = new Sampler(new SamplingOptions { Temperature = 1f, TopK = 0, TopP = 0.3f, Seed = seed });
            Assert.Equal(1, sampler.Sample(logits, []));
        }
        // With top_p 0.7 the two tied leaders (0.37 each) are kept and nothing else.
        var seen = new HashSet<int>();
        for (ulong seed = 0; seed < 200; seed++)
            seen.Add(new Sampler(new SamplingOptions { Temperature = 1f, TopK = 0, TopP = 0.7f, Seed = seed }).Sample(logits, []));
        Assert.Equal([1, 3], seen.Order());
    }

    [Fact]
    public void WithoutRankCutsEveryTokenCanBeDrawnInProportion()
    {
        float[] logits = [0f, MathF.Log(3f)];
        int second = 0;
        for (ulong seed = 0; seed < 2000; seed++)
            if (new Sampler(new SamplingOptions { Temperature = 1f, TopK = 0, TopP = 1f, Seed = seed }).Sample(logits, []) == 1) second++;
        Assert.InRange(second, 1350, 1650); // expected 1500
    }

    [Theory]
    [InlineData(37)] // four 8-wide chunks and a tail of five
    [InlineData(5000)]
    public void DrawsFromTheWholeVocabularyFollowTheInverseOfTheCumulativeDistribution(int vocabulary)
    {
        var random = new Random(vocabulary);
        float[] logits = Enumerable.Range(0, vocabulary).Select(_ => (float)random.NextDouble() * 6 - 3).ToArray();
        logits[vocabulary / 2] = float.NegativeInfinity; // masked by a grammar: never drawn
        const float temperature = 0.7f;
        double max = logits.Max() / (double)temperature;
        double[] weights = logits.Select(l => Math.Exp(l / (double)temperature - max)).ToArray();
        double total = weights.Sum();
        for (int k = 0; k < 200; k++)
        {
            double draw = random.NextDouble();
            // The reference in double precision; a draw within float rounding of a boundary may land either side.
            double cumulative = 0, target = draw * total;
            int expected = 0;
            while (expected < vocabulary - 1 && target >= cumulative + weights[expected]) cumulative += weights[expected++];
            int got = Sampler.DrawFromAll((float[])logits.Clone(), temperature, draw);
            bool nearBoundary = Math.Abs(target - cumulative) < 1e-5 * total || Math.Abs(target - cumulative - weights[expected]) < 1e-5 * total;
            Assert.True(got == expected || nearBoundary, $"draw {draw}: token {got}, expected {expected}");
            Assert.NotEqual(vocabulary / 2, got);
        }
    }

    [Fact]
    public void UnrankedCandidatesStillNormaliseAgainstTheLargestLogit()
    {
        // A grammar masks tokens with −∞; the first token being masked must not poison the distribution.
        float[] logits = [float.NegativeInfinity, 0f, 50f, float.NegativeInfinity];
        for (ulong seed = 0; seed < 20; seed++)
            Assert.Equal(2, new Sampler(new SamplingOptions { Temperature = 1f, TopK = 0, TopP = 1f, Seed = seed }).Sample(logits, []));
    }

    [Fact]
    public void SamplersSharingScratchDrawExactlyWhatSamplersWithTheirOwnDraw()
    {
        var random = new Random(3);
        var logits = Enumerable.Range(0, 4).Select(_ => Enumerable.Range(0, 5000).Select(_ => (float)random.NextDouble() * 8).ToArray()).ToArray();
        SamplingOptions[] options =
        [
            new() { Temperature = 0.8f, TopK = 0, TopP = 1, MinP = 0, Seed = 1 },
            new() { Temperature = 1.2f, TopK = 0, TopP = 0.9f, MinP = 0.05f, Seed = 2 },
            new() { Temperature = 0.7f, TopK = 40, Seed = 3 },
        ];
        var scratch = new SamplerScratch();
        var shared = options.Select(o => new Sampler(o, scratch)).ToArray();
        var own = options.Select(o => new Sampler(o)).ToArray();
        var drawn = new List<int>();
        for (int step = 0; step < 40; step++)
        {
            // Interleaved as a server's sequences are, each on a different distribution.
            for (int s = 0; s < options.Length; s++)
            {
                var l = logits[(step + s) % logits.Length];
                int token = shared[s].Sample(l, drawn);
                Assert.Equal(own[s].Sample(l, drawn), token);
                drawn.Add(token);
            }
        }
        Assert.True(drawn.Distinct().Count() > 10, "the draws should vary, or the comparison proves little");
        Assert.True(scratch.Bytes >= 5000 * (4 + 4 + 8));
    }
}
