using System.Text;
using System.Text.Json;
using Liaoyuan.Training.Data;

namespace Liaoyuan.Training;

/// <summary>
/// The binary checkpoint: magic and version, the settings as JSON, the step and AdamW's t, the data cursor
/// (epoch, position, shuffle RNG state), the loss history, then every parameter by name with its values and both
/// AdamW moments. Written to a temporary file, flushed to disk and renamed over the old one, so a crash at any
/// moment leaves either the previous checkpoint or the new one, never half of one.
/// </summary>
internal static class Checkpoint
{
    private const string Magic = "LYTRAIN1";

    public static void Write(string path, Trainer trainer)
    {
        string temporary = path + ".partial";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        using (var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true))
        {
            w.Write(Encoding.ASCII.GetBytes(Magic));
            w.Write(JsonSerializer.Serialize(trainer.Settings));
            w.Write(trainer.Step);
            w.Write(trainer.Optimizer.Step);
            var cursor = trainer.Sampler.Cursor;
            w.Write(cursor.Epoch);
            w.Write(cursor.Position);
            foreach (ulong word in cursor.ShuffleState) w.Write(word);
            w.Write(trainer.TrainLosses.Count);
            foreach (double loss in trainer.TrainLosses) w.Write(loss);
            w.Write(trainer.Evaluations.Count);
            foreach (var e in trainer.Evaluations) { w.Write(e.Step); w.Write(e.Loss); }
            var parameters = trainer.Optimizer.Parameters;
            w.Write(parameters.Count);
            for (int i = 0; i < parameters.Count; i++)
            {
                w.Write(parameters[i].Name);
                w.Write(parameters[i].Value.Length);
                WriteFloats(w, parameters[i].Value);
                WriteFloats(w, trainer.Optimizer.FirstMoments[i]);
                WriteFloats(w, trainer.Optimizer.SecondMoments[i]);
            }
            w.Flush();
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    public static Trainer Read(string path, Func<TrainingSettings, DataCursor, Trainer> create)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 20);
        using var r = new BinaryReader(stream, Encoding.UTF8);
        try
        {
            if (Encoding.ASCII.GetString(r.ReadBytes(Magic.Length)) != Magic)
                throw new InvalidDataException($"{path}: not a Liaoyuan training checkpoint");
            var settings = JsonSerializer.Deserialize<TrainingSettings>(r.ReadString())
                ?? throw new InvalidDataException($"{path}: the checkpoint has no settings");
            long step = r.ReadInt64(), optimizerStep = r.ReadInt64();
            long epoch = r.ReadInt64();
            int position = r.ReadInt32();
            ulong[] state = [r.ReadUInt64(), r.ReadUInt64(), r.ReadUInt64(), r.ReadUInt64()];
            var trainer = create(settings, new DataCursor(epoch, position, state));
            var losses = new double[r.ReadInt32()];
            for (int i = 0; i < losses.Length; i++) losses[i] = r.ReadDouble();
            var evaluations = new EvaluationPoint[r.ReadInt32()];
            for (int i = 0; i < evaluations.Length; i++) evaluations[i] = new EvaluationPoint(r.ReadInt64(), r.ReadDouble());
            var parameters = trainer.Optimizer.Parameters;
            if (r.ReadInt32() != parameters.Count) throw new InvalidDataException($"{path}: parameter count does not match the model (a different base model or LoRA setting?)");
            for (int i = 0; i < parameters.Count; i++)
            {
                string name = r.ReadString();
                int length = r.ReadInt32();
                if (name != parameters[i].Name || length != parameters[i].Value.Length)
                    throw new InvalidDataException($"{path}: tensor '{name}' ({length} values) does not match '{parameters[i].Name}' ({parameters[i].Value.Length})");
                ReadFloats(r, parameters[i].Value);
                ReadFloats(r, trainer.Optimizer.FirstMoments[i]);
                ReadFloats(r, trainer.Optimizer.SecondMoments[i]);
            }
            trainer.Optimizer.Step = optimizerStep;
            trainer.Restore(step, losses, evaluations);
            return trainer;
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{path}: the checkpoint is truncated");
        }
    }

    private static void WriteFloats(BinaryWriter w, float[] values) =>
        w.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()));

    private static void ReadFloats(BinaryReader r, float[] values)
    {
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan());
        r.BaseStream.ReadExactly(bytes);
    }
}
