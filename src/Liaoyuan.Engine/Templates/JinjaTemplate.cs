namespace Liaoyuan.Engine.Templates;

/// <summary>
/// A parsed Jinja template: the subset of Jinja2 that model chat templates use (see ChatTemplate for the chat
/// specific layer). Parse once, render many times; rendering does not change the template.
/// </summary>
public sealed class JinjaTemplate
{
    private readonly IReadOnlyList<Statement> _body;

    private JinjaTemplate(IReadOnlyList<Statement> body) => _body = body;

    /// <exception cref="TemplateException">The source is not a valid template.</exception>
    public static JinjaTemplate Parse(string source, TemplateSyntaxOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new JinjaTemplate(TemplateParser.Parse(source, options ?? TemplateSyntaxOptions.Jinja));
    }

    /// <summary>
    /// Renders with the given variables. Values may be null, bool, numbers, strings, JsonElement, dictionaries with
    /// string keys and sequences; they are converted to Python-like values first.
    /// </summary>
    /// <param name="clock">The time <c>strftime_now</c> reports; the local clock when null.</param>
    /// <exception cref="TemplateException">Rendering failed, including by the template calling raise_exception.</exception>
    public string Render(IReadOnlyDictionary<string, object?> variables, Func<DateTimeOffset>? clock = null)
    {
        ArgumentNullException.ThrowIfNull(variables);
        var converted = variables.ToDictionary(pair => pair.Key, pair => TemplateValueConversion.FromClr(pair.Value), StringComparer.Ordinal);
        return TemplateInterpreter.Render(_body, BuiltinGlobals.Create(clock ?? (() => DateTimeOffset.Now)), converted);
    }
}
