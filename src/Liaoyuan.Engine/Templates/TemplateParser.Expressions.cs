using System.Globalization;

namespace Liaoyuan.Engine.Templates;

/// <summary>
/// Expression grammar, loosest binding first, following Jinja: conditional, or, and, not, comparisons and
/// <c>in</c>, <c>+ -</c>, <c>~</c>, <c>* / // %</c>, <c>**</c>, unary <c>- +</c>, then primaries with their
/// postfix <c>.attr</c>, <c>[index]</c>, <c>(call)</c>, <c>| filter</c> and <c>is test</c>. Filters and tests bind
/// tighter than any binary operator, so <c>messages|length - 1</c> is <c>(messages|length) - 1</c>.
/// </summary>
internal sealed partial class TemplateParser
{
    private static readonly HashSet<string> ComparisonOperators = ["==", "!=", "<", "<=", ">", ">="];

    // Words that end an expression, so a test written without parentheses does not swallow them as its argument.
    private static readonly HashSet<string> ExpressionKeywords = ["and", "or", "not", "if", "else", "in", "is"];

    private Expression ParseExpression(bool allowConditional = true)
    {
        var value = ParseOr();
        if (!allowConditional) return value;
        while (Current.IsName("if"))
        {
            var position = Advance().Position;
            var condition = ParseOr();
            Expression? otherwise = SkipName("else") ? ParseExpression() : null;
            value = new ConditionalExpression(condition, value, otherwise, position);
        }
        return value;
    }

    /// <summary><c>a, b</c> without parentheses, as allowed on the right of <c>set</c>.</summary>
    private Expression ParseTupleOrExpression()
    {
        var first = ParseExpression();
        if (!Current.IsOperator(",")) return first;
        var items = new List<Expression> { first };
        while (SkipOperator(",")) items.Add(ParseExpression());
        return new TupleExpression(items, first.Position);
    }

    private Expression ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var position = Advance().Position;
            left = new BinaryExpression("or", left, ParseAnd(), position);
        }
        return left;
    }

    private Expression ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var position = Advance().Position;
            left = new BinaryExpression("and", left, ParseNot(), position);
        }
        return left;
    }

    private Expression ParseNot()
    {
        if (!Current.IsName("not")) return ParseComparison();
        var position = Advance().Position;
        return new UnaryExpression("not", ParseNot(), position);
    }

    private Expression ParseComparison()
    {
        var first = ParseAdditive();
        var rest = new List<(string, Expression)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && ComparisonOperators.Contains(Current.Text))
            {
                string op = Advance().Text;
                rest.Add((op, ParseAdditive()));
            }
            else if (Current.IsName("in"))
            {
                Advance();
                rest.Add(("in", ParseAdditive()));
            }
            else if (Current.IsName("not") && Peek().IsName("in"))
            {
                Advance();
                Advance();
                rest.Add(("not in", ParseAdditive()));
            }
            else
            {
                break;
            }
        }
        return rest.Count == 0 ? first : new ComparisonExpression(first, rest, first.Position);
    }

    private Expression ParseAdditive()
    {
        var left = ParseConcatenation();
        while (Current.IsOperator("+") || Current.IsOperator("-"))
        {
            var op = Advance();
            left = new BinaryExpression(op.Text, left, ParseConcatenation(), op.Position);
        }
        return left;
    }

    private Expression ParseConcatenation()
    {
        var left = ParseMultiplicative();
        while (Current.IsOperator("~"))
        {
            var op = Advance();
            left = new BinaryExpression("~", left, ParseMultiplicative(), op.Position);
        }
        return left;
    }

    private Expression ParseMultiplicative()
    {
        var left = ParsePower();
        while (Current.Kind == TokenKind.Operator && Current.Text is "*" or "/" or "//" or "%")
        {
            var op = Advance();
            left = new BinaryExpression(op.Text, left, ParsePower(), op.Position);
        }
        return left;
    }

    private Expression ParsePower()
    {
        var left = ParseUnary(withFilters: true);
        while (Current.IsOperator("**"))
        {
            var op = Advance();
            left = new BinaryExpression("**", left, ParseUnary(withFilters: true), op.Position);
        }
        return left;
    }

    private Expression ParseUnary(bool withFilters)
    {
        Expression value;
        if (Current.IsOperator("-") || Current.IsOperator("+"))
        {
            var op = Advance();
            value = new UnaryExpression(op.Text, ParseUnary(withFilters: false), op.Position);
        }
        else
        {
            value = ParsePostfix(ParsePrimary());
        }
        return withFilters ? ParseFiltersAndTests(value) : value;
    }

    private Expression ParsePrimary()
    {
        var token = Advance();
        switch (token.Kind)
        {
            case TokenKind.Name:
                return token.Text switch
                {
                    "true" or "True" => new LiteralExpression(true, token.Position),
                    "false" or "False" => new LiteralExpression(false, token.Position),
                    "none" or "None" => new LiteralExpression(null, token.Position),
                    _ => new NameExpression(token.Text, token.Position),
                };
            case TokenKind.String:
                // Adjacent string literals are concatenated, as in Python.
                string text = token.Text;
                while (Current.Kind == TokenKind.String) text += Advance().Text;
                return new LiteralExpression(text, token.Position);
            case TokenKind.Integer:
                if (long.TryParse(token.Text, NumberStyles.None, CultureInfo.InvariantCulture, out long integer))
                    return new LiteralExpression(integer, token.Position);
                throw token.Position.Error($"integer literal {token.Text} is too large");
            case TokenKind.Float:
                return new LiteralExpression(double.Parse(token.Text, NumberStyles.Float, CultureInfo.InvariantCulture), token.Position);
            case TokenKind.Operator when token.Text == "(":
                return ParseParenthesised(token.Position);
            case TokenKind.Operator when token.Text == "[":
                return new ListExpression(ParseSequenceItems("]"), token.Position);
            case TokenKind.Operator when token.Text == "{":
                return ParseDict(token.Position);
            default:
                throw token.Position.Error($"expected an expression, found {token.Describe()}");
        }
    }

    private Expression ParseParenthesised(SourcePosition position)
    {
        if (SkipOperator(")")) return new TupleExpression([], position);
        var first = ParseExpression();
        if (SkipOperator(")")) return first;
        var items = new List<Expression> { first };
        while (SkipOperator(","))
        {
            if (Current.IsOperator(")")) break;
            items.Add(ParseExpression());
        }
        ExpectOperator(")");
        return new TupleExpression(items, position);
    }

    private List<Expression> ParseSequenceItems(string closer)
    {
        var items = new List<Expression>();
        while (!Current.IsOperator(closer))
        {
            items.Add(ParseExpression());
            if (!SkipOperator(",")) break;
        }
        ExpectOperator(closer);
        return items;
    }

    private DictExpression ParseDict(SourcePosition position)
    {
        var entries = new List<(Expression, Expression)>();
        while (!Current.IsOperator("}"))
        {
            var key = ParseExpression();
            ExpectOperator(":");
            entries.Add((key, ParseExpression()));
            if (!SkipOperator(",")) break;
        }
        ExpectOperator("}");
        return new DictExpression(entries, position);
    }

    private Expression ParsePostfix(Expression value)
    {
        while (true)
        {
            var token = Current;
            if (token.IsOperator("."))
            {
                Advance();
                var member = Advance();
                value = member.Kind switch
                {
                    TokenKind.Name => new AttributeExpression(value, member.Text, member.Position),
                    // 'items.0' is Jinja's spelling of items[0].
                    TokenKind.Integer => new IndexExpression(value,
                        new LiteralExpression(long.Parse(member.Text, CultureInfo.InvariantCulture), member.Position), member.Position),
                    _ => throw member.Position.Error($"expected an attribute name after '.', found {member.Describe()}"),
                };
            }
            else if (token.IsOperator("["))
            {
                Advance();
                value = ParseSubscript(value, token.Position);
            }
            else if (token.IsOperator("("))
            {
                Advance();
                value = new CallExpression(value, ParseArguments(), token.Position);
            }
            else
            {
                return value;
            }
        }
    }

    private Expression ParseSubscript(Expression target, SourcePosition position)
    {
        Expression? start = Current.IsOperator(":") ? null : ParseExpression();
        if (SkipOperator("]"))
        {
            return new IndexExpression(target, start!, position);
        }
        ExpectOperator(":");
        Expression? stop = Current.IsOperator(":") || Current.IsOperator("]") ? null : ParseExpression();
        Expression? step = null;
        if (SkipOperator(":") && !Current.IsOperator("]")) step = ParseExpression();
        ExpectOperator("]");
        return new SliceExpression(target, start, stop, step, position);
    }

    /// <summary>Arguments after an already consumed '(' up to and including ')'.</summary>
    private Arguments ParseArguments()
    {
        var positional = new List<Expression>();
        var named = new List<(string, Expression)>();
        while (!Current.IsOperator(")"))
        {
            if (Current.Kind == TokenKind.Name && Peek().IsOperator("="))
            {
                string name = Advance().Text;
                Advance();
                named.Add((name, ParseExpression()));
            }
            else
            {
                if (named.Count > 0) throw Current.Position.Error("positional argument follows keyword argument");
                positional.Add(ParseExpression());
            }
            if (!SkipOperator(",")) break;
        }
        ExpectOperator(")");
        return new Arguments(positional, named);
    }

    private Expression ParseFiltersAndTests(Expression value)
    {
        while (true)
        {
            var token = Current;
            if (token.IsOperator("|"))
            {
                Advance();
                var name = Expect(TokenKind.Name, "a filter name");
                var arguments = SkipOperator("(") ? ParseArguments() : Arguments.None;
                value = new FilterExpression(value, name.Text, arguments, name.Position);
            }
            else if (token.IsName("is"))
            {
                Advance();
                bool negated = SkipName("not");
                var name = Expect(TokenKind.Name, "a test name");
                value = new TestExpression(value, name.Text, ParseTestArguments(), negated, name.Position);
            }
            else if (token.IsOperator("("))
            {
                Advance();
                value = new CallExpression(value, ParseArguments(), token.Position);
            }
            else
            {
                return value;
            }
        }
    }

    // 'x is divisibleby(3)' and 'x is sameas false' are both Jinja; the second form takes one primary expression.
    private Arguments ParseTestArguments()
    {
        if (SkipOperator("(")) return ParseArguments();
        var token = Current;
        bool startsPrimary = token.Kind is TokenKind.String or TokenKind.Integer or TokenKind.Float
            || (token.Kind == TokenKind.Name && !ExpressionKeywords.Contains(token.Text))
            || token.IsOperator("[") || token.IsOperator("{");
        if (!startsPrimary) return Arguments.None;
        return new Arguments([ParsePostfix(ParsePrimary())], []);
    }
}
