namespace Liaoyuan.Engine.Templates;

/// <summary>
/// A template could not be parsed or rendered. <see cref="Reason"/> is a single line that says what went wrong;
/// <see cref="Line"/> and <see cref="Column"/> (both 1-based) point at the template source that caused it.
/// </summary>
public sealed class TemplateException : Exception
{
    public TemplateException(string reason, int line, int column)
        : base($"{reason} (template line {line}, column {column})")
    {
        Reason = reason;
        Line = line;
        Column = column;
    }

    public string Reason { get; }

    public int Line { get; }

    public int Column { get; }
}

/// <summary>A position in the template source, carried by every token and syntax node for error messages.</summary>
internal readonly record struct SourcePosition(int Line, int Column)
{
    public TemplateException Error(string reason) => new(reason, Line, Column);
}
