using System.CommandLine;
using System.Globalization;
using Liaoyuan.Engine.Gguf;

namespace Liaoyuan.Cli.Commands;

/// <summary>`liaoyuan inspect MODEL`: the metadata and the tensor table of a GGUF file.</summary>
internal static class InspectCommand
{
    public static Command Create(Terminal terminal)
    {
        var model = new Argument<string>("model") { Description = "Path to a GGUF file" };
        var all = new Option<bool>("--all") { Description = "Show long arrays in full" };
        var command = new Command("inspect", "Show a GGUF file's metadata and tensors") { model, all };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(model)!;
            if (!File.Exists(path)) throw new UserInputException($"{path}: no such file");
            using var file = GgufFile.Open(path);
            var o = terminal.Out;
            o.WriteLine($"file: {path}");
            o.WriteLine($"GGUF version {file.Version}, {file.FileSize:N0} bytes, alignment {file.Alignment}, data at byte {file.DataStart}");
            o.WriteLine();
            o.WriteLine($"metadata ({file.MetadataList.Count} keys):");
            int width = file.MetadataList.Count == 0 ? 0 : file.MetadataList.Max(kv => kv.Key.Length);
            foreach (var (key, value) in file.MetadataList)
            {
                string type = value.Type == GgufValueType.Array ? $"{value.ElementType}[{value.Count}]" : value.Type.ToString();
                o.WriteLine($"  {key.PadRight(width)}  {type,-14} {value.Describe(parse.GetValue(all) ? int.MaxValue : 8)}");
            }
            o.WriteLine();
            long totalElements = file.Tensors.Sum(t => t.ElementCount), totalBytes = file.Tensors.Sum(t => t.ByteSize);
            o.WriteLine($"tensors ({file.Tensors.Count}, {totalElements.ToString("N0", CultureInfo.InvariantCulture)} parameters, {totalBytes:N0} bytes):");
            int nameWidth = file.Tensors.Count == 0 ? 0 : file.Tensors.Max(t => t.Name.Length);
            foreach (var t in file.Tensors)
                o.WriteLine($"  {t.Name.PadRight(nameWidth)}  {t.Type,-5} {t.ShapeText,-22} {t.ByteSize,14:N0} bytes at {t.DataOffset}");
            return 0;
        });
        return command;
    }
}
