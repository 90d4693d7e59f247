namespace Liaoyuan.Engine.Templates;

internal enum TokenKind
{
    /// <summary>Literal template text between tags, already whitespace-controlled.</summary>
    Text,
    /// <summary><c>{{</c></summary>
    OutputBegin,
    /// <summary><c>}}</c></summary>
    OutputEnd,
    /// <summary><c>{%</c></summary>
    StatementBegin,
    /// <summary><c>%}</c></summary>
    StatementEnd,
    Name,
    String,
    Integer,
    Float,
    /// <summary>Punctuation and operators: <c>( ) [ ] { } . , : | ~ + - * / // % ** = == != &lt; &lt;= &gt; &gt;=</c>.</summary>
    Operator,
    EndOfSource,
}

internal sealed record TemplateToken(TokenKind Kind, string Text, SourcePosition Position)
{
    public bool Is(TokenKind kind, string text) => Kind == kind && Text == text;

    public bool IsName(string name) => Kind == TokenKind.Name && Text == name;

    public bool IsOperator(string op) => Kind == TokenKind.Operator && Text == op;

    public string Describe() => Kind switch
    {
        TokenKind.EndOfSource => "end of template",
        TokenKind.Text => "template text",
        TokenKind.String => $"string '{Text}'",
        _ => $"'{Text}'",
    };
}

/// <summary>
/// How template text around tags is trimmed. Hugging Face's chat templating turns both on, and the chat templates
/// published with models are written with that in mind.
/// </summary>
public sealed record TemplateSyntaxOptions
{
    /// <summary>Drop the first newline after a <c>{% ... %}</c> or <c>{# ... #}</c> tag.</summary>
    public bool TrimBlocks { get; init; }

    /// <summary>Drop spaces and tabs that lead up to a <c>{% ... %}</c> or <c>{# ... #}</c> tag on its line.</summary>
    public bool LstripBlocks { get; init; }

    /// <summary>
    /// Keep a newline that ends the template source. Off by default, as in Jinja, which drops one trailing newline.
    /// </summary>
    public bool KeepTrailingNewline { get; init; }

    public static TemplateSyntaxOptions Jinja { get; } = new();

    public static TemplateSyntaxOptions HuggingFace { get; } = new() { TrimBlocks = true, LstripBlocks = true };
}
