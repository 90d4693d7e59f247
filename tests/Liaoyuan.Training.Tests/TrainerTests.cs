using Liaoyuan.TestSupport;

namespace Liaoyuan.Training.Tests;

public sealed class TrainerTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static TrainingSettings Settings => new()
    {
        Shape = TinyModels.Shape(),
        BatchSize = 3,
        AccumulationSteps = 2,
        Steps = 10,
        LearningRate = 5e-3f,
        WarmupSteps = 2,
        Seed = 42,
    };

    /// <summary>Few windows, so the run crosses epoch boundaries and reshuffles before and after the checkpoint.</summary>
    private static int[] Data()
    {
        var random = new Random(8);
        return Enumerable.Range(0, 16 * 9 + 1).Select(_ => random.Next(259)).ToArray();
    }

    [Fact]
    public void Resuming_from_a_checkpoint_continues_with_bit_identical_losses()
    {
        var data = Data();
        var uninterrupted = new Trainer(Settings, data, threads: 2);
        var expected = Enumerable.Range(0, 10).Select(_ => uninterrupted.TrainStep().Loss).ToArray();

        var first = new Trainer(Settings, data, threads: 2);
        for (int i = 0; i < 5; i++) first.TrainStep();
        string path = _dir.File("run.ckpt");
        first.SaveCheckpoint(path);

        // A fresh trainer, a different thread count: the checkpoint alone must determine what follows.
        var resumed = Trainer.Resume(path, data, threads: 1);
        Assert.Equal(5, resumed.Step);
        Assert.Equal(expected[..5], resumed.TrainLosses);
        var continued = Enumerable.Range(0, 5).Select(_ => resumed.TrainStep().Loss).ToArray();
        Assert.Equal(expected[5..], continued);
        Assert.True(resumed.Finished);
        for (int i = 0; i < uninterrupted.Model.Parameters.Count; i++)
            Assert.Equal(uninterrupted.Model.Parameters[i].Value, resumed.Model.Parameters[i].Value);
    }

    [Fact]
    public void Training_lowers_the_held_out_loss_on_repetitive_text()
    {
        // A short repeating byte pattern: learnable, so both the training and the held-out loss must fall.
        var pattern = "the spark starts the prairie fire. "u8.ToArray().Select(b => (int)b).ToArray();
        var data = Enumerable.Range(0, 60).SelectMany(_ => pattern).ToArray();
        var trainer = new Trainer(Settings with { Steps = 40, AccumulationSteps = 1 }, data[..1600], threads: 2);
        double before = trainer.Evaluate(data[1600..], batches: 2);
        while (!trainer.Finished) trainer.TrainStep();
        double after = trainer.Evaluate(data[1600..], batches: 2);
        Assert.True(after < before / 3, $"held-out loss went from {before:F3} to {after:F3}");
        Assert.Equal(2, trainer.Evaluations.Count);
    }

    [Fact]
    public void A_truncated_checkpoint_is_reported_not_loaded()
    {
        var trainer = new Trainer(Settings, Data(), threads: 2);
        string path = _dir.File("run.ckpt");
        trainer.SaveCheckpoint(path);
        var bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var error = Assert.Throws<InvalidDataException>(() => Trainer.Resume(path, Data()));
        Assert.Contains("truncated", error.Message);
    }

    [Fact]
    public void Resuming_on_shorter_data_than_the_cursor_is_reported()
    {
        var trainer = new Trainer(Settings, Data(), threads: 2);
        for (int i = 0; i < 1; i++) trainer.TrainStep();
        string path = _dir.File("run.ckpt");
        trainer.SaveCheckpoint(path);
        var error = Assert.Throws<InvalidDataException>(() => Trainer.Resume(path, Data()[..40]));
        Assert.Contains("did the training data change", error.Message);
    }
}
