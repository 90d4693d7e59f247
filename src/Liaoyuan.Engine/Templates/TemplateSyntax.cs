namespace Liaoyuan.Engine.Templates;

// The syntax tree a parsed template is made of. Every node remembers where it came from so that errors at render
// time can point at the template source.

internal abstract record Expression(SourcePosition Position);

internal sealed record LiteralExpression(object? Value, SourcePosition Position) : Expression(Position);

internal sealed record NameExpression(string Name, SourcePosition Position) : Expression(Position);

internal sealed record ListExpression(IReadOnlyList<Expression> Items, SourcePosition Position) : Expression(Position);

/// <summary>A parenthesised tuple; evaluated to a list, since templates only iterate or index tuples.</summary>
internal sealed record TupleExpression(IReadOnlyList<Expression> Items, SourcePosition Position) : Expression(Position);

internal sealed record DictExpression(IReadOnlyList<(Expression Key, Expression Value)> Entries, SourcePosition Position)
    : Expression(Position);

/// <summary><c>target.name</c></summary>
internal sealed record AttributeExpression(Expression Target, string Name, SourcePosition Position) : Expression(Position);

/// <summary><c>target[index]</c></summary>
internal sealed record IndexExpression(Expression Target, Expression Index, SourcePosition Position) : Expression(Position);

/// <summary><c>target[start:stop:step]</c>, each part optional.</summary>
internal sealed record SliceExpression(Expression Target, Expression? Start, Expression? Stop, Expression? Step, SourcePosition Position)
    : Expression(Position);

internal sealed record Arguments(IReadOnlyList<Expression> Positional, IReadOnlyList<(string Name, Expression Value)> Named)
{
    public static Arguments None { get; } = new([], []);
}

internal sealed record CallExpression(Expression Callee, Arguments Arguments, SourcePosition Position) : Expression(Position);

/// <summary><c>value | name(arguments)</c></summary>
internal sealed record FilterExpression(Expression Value, string Name, Arguments Arguments, SourcePosition Position)
    : Expression(Position);

/// <summary><c>value is [not] name(arguments)</c></summary>
internal sealed record TestExpression(Expression Value, string Name, Arguments Arguments, bool Negated, SourcePosition Position)
    : Expression(Position);

/// <summary>Arithmetic, <c>~</c> concatenation, <c>and</c>/<c>or</c>.</summary>
internal sealed record BinaryExpression(string Operator, Expression Left, Expression Right, SourcePosition Position)
    : Expression(Position);

/// <summary><c>not</c>, unary <c>-</c> and <c>+</c>.</summary>
internal sealed record UnaryExpression(string Operator, Expression Operand, SourcePosition Position) : Expression(Position);

/// <summary>A chain such as <c>a &lt; b &lt;= c</c> or <c>x not in y</c>; every adjacent pair must hold.</summary>
internal sealed record ComparisonExpression(Expression First, IReadOnlyList<(string Operator, Expression Operand)> Rest, SourcePosition Position)
    : Expression(Position);

/// <summary><c>then if condition else otherwise</c>; a missing else yields undefined, as in Jinja.</summary>
internal sealed record ConditionalExpression(Expression Condition, Expression Then, Expression? Otherwise, SourcePosition Position)
    : Expression(Position);

internal abstract record Statement(SourcePosition Position);

internal sealed record TextStatement(string Text, SourcePosition Position) : Statement(Position);

internal sealed record OutputStatement(Expression Value, SourcePosition Position) : Statement(Position);

internal sealed record IfStatement(IReadOnlyList<(Expression Condition, IReadOnlyList<Statement> Body)> Branches,
    IReadOnlyList<Statement> Otherwise, SourcePosition Position) : Statement(Position);

internal sealed record ForStatement(IReadOnlyList<string> Targets, Expression Iterable, Expression? Filter,
    IReadOnlyList<Statement> Body, IReadOnlyList<Statement> Otherwise, SourcePosition Position) : Statement(Position);

/// <summary><c>{% set a = ... %}</c>, <c>{% set a, b = ... %}</c> or <c>{% set ns.attr = ... %}</c>.</summary>
internal sealed record SetStatement(IReadOnlyList<string> Targets, string? Attribute, Expression Value, SourcePosition Position)
    : Statement(Position);

/// <summary><c>{% set name %}body{% endset %}</c>: the rendered body becomes the value.</summary>
internal sealed record SetBlockStatement(string Target, IReadOnlyList<Statement> Body, SourcePosition Position) : Statement(Position);

internal sealed record MacroStatement(string Name, IReadOnlyList<(string Name, Expression? Default)> Parameters,
    IReadOnlyList<Statement> Body, SourcePosition Position) : Statement(Position);

/// <summary>A tag whose body is rendered as is, e.g. Hugging Face's <c>{% generation %}</c> marker.</summary>
internal sealed record TransparentBlockStatement(IReadOnlyList<Statement> Body, SourcePosition Position) : Statement(Position);

internal sealed record BreakStatement(SourcePosition Position) : Statement(Position);

internal sealed record ContinueStatement(SourcePosition Position) : Statement(Position);
