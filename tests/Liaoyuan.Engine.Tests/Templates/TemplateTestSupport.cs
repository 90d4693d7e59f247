using System.Runtime.CompilerServices;
using Liaoyuan.Engine.Templates;

namespace Liaoyuan.Engine.Tests.Templates;

internal static class TemplateTestSupport
{
    public static readonly DateTimeOffset FixedNow = new(2025, 3, 7, 14, 5, 9, TimeSpan.Zero);

    public static string Render(string source, IReadOnlyDictionary<string, object?>? variables = null, TemplateSyntaxOptions? options = null) =>
        JinjaTemplate.Parse(source, options).Render(variables ?? new Dictionary<string, object?>(), () => FixedNow);

    /// <summary>
    /// Reads a real model template from Templates/Data: from the build output when the files were copied there,
    /// otherwise from the source tree next to this file.
    /// </summary>
    public static string LoadModelTemplate(string fileName, [CallerFilePath] string callerPath = "")
    {
        string copied = Path.Combine(AppContext.BaseDirectory, "Templates", "Data", fileName);
        if (File.Exists(copied)) return File.ReadAllText(copied);
        string besideSource = Path.Combine(Path.GetDirectoryName(callerPath)!, "Data", fileName);
        if (File.Exists(besideSource)) return File.ReadAllText(besideSource);
        throw new FileNotFoundException($"template test data '{fileName}' was found neither in the output nor the source tree");
    }
}
