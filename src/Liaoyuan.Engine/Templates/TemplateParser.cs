namespace Liaoyuan.Engine.Templates;

/// <summary>
/// Recursive-descent parser from tokens to the syntax tree. This file holds the statement (tag) grammar;
/// TemplateParser.Expressions.cs holds the expression grammar.
/// </summary>
internal sealed partial class TemplateParser
{
    private readonly List<TemplateToken> _tokens;
    private int _index;

    private TemplateParser(List<TemplateToken> tokens) => _tokens = tokens;

    public static IReadOnlyList<Statement> Parse(string source, TemplateSyntaxOptions options)
    {
        var parser = new TemplateParser(TemplateLexer.Tokenize(source, options));
        var (body, _) = parser.ParseBody([], "", default);
        return body;
    }

    private TemplateToken Current => _tokens[_index];

    private TemplateToken Peek(int ahead = 1) => _tokens[Math.Min(_index + ahead, _tokens.Count - 1)];

    private TemplateToken Advance() => _tokens[_index++];

    private TemplateToken Expect(TokenKind kind, string what)
    {
        if (Current.Kind != kind) throw Current.Position.Error($"expected {what}, found {Current.Describe()}");
        return Advance();
    }

    private void ExpectOperator(string op)
    {
        if (!Current.IsOperator(op)) throw Current.Position.Error($"expected '{op}', found {Current.Describe()}");
        Advance();
    }

    private void ExpectName(string name)
    {
        if (!Current.IsName(name)) throw Current.Position.Error($"expected '{name}', found {Current.Describe()}");
        Advance();
    }

    private bool SkipOperator(string op)
    {
        if (!Current.IsOperator(op)) return false;
        Advance();
        return true;
    }

    private bool SkipName(string name)
    {
        if (!Current.IsName(name)) return false;
        Advance();
        return true;
    }

    private void ExpectStatementEnd() => Expect(TokenKind.StatementEnd, "'%}'");

    /// <summary>
    /// Parses statements until one of <paramref name="endTags"/> opens a tag; that tag's name is consumed and
    /// returned, the rest of the tag is left to the caller. Running out of source while an end tag is expected is
    /// reported at the opening tag, since that is the line to fix.
    /// </summary>
    private (List<Statement> Body, string EndTag) ParseBody(string[] endTags, string openerTag, SourcePosition openerPosition)
    {
        var body = new List<Statement>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.EndOfSource:
                    if (endTags.Length == 0) return (body, "");
                    throw openerPosition.Error(
                        $"unclosed '{{% {openerTag} %}}' tag: reached the end of the template looking for '{{% {endTags[^1]} %}}'");
                case TokenKind.Text:
                    Advance();
                    body.Add(new TextStatement(token.Text, token.Position));
                    break;
                case TokenKind.OutputBegin:
                    Advance();
                    var value = ParseExpression();
                    Expect(TokenKind.OutputEnd, "'}}'");
                    body.Add(new OutputStatement(value, token.Position));
                    break;
                case TokenKind.StatementBegin:
                    var tagName = Peek();
                    if (tagName.Kind == TokenKind.Name && Array.IndexOf(endTags, tagName.Text) >= 0)
                    {
                        Advance();
                        Advance();
                        return (body, tagName.Text);
                    }
                    Advance();
                    body.Add(ParseStatement());
                    break;
                default:
                    throw token.Position.Error($"unexpected {token.Describe()}");
            }
        }
    }

    private Statement ParseStatement()
    {
        var keyword = Expect(TokenKind.Name, "a tag name");
        switch (keyword.Text)
        {
            case "if": return ParseIf(keyword.Position);
            case "for": return ParseFor(keyword.Position);
            case "set": return ParseSet(keyword.Position);
            case "macro": return ParseMacro(keyword.Position);
            case "generation":
                ExpectStatementEnd();
                var (generationBody, _) = ParseBody(["endgeneration"], "generation", keyword.Position);
                ExpectStatementEnd();
                return new TransparentBlockStatement(generationBody, keyword.Position);
            case "break":
                ExpectStatementEnd();
                return new BreakStatement(keyword.Position);
            case "continue":
                ExpectStatementEnd();
                return new ContinueStatement(keyword.Position);
            case "elif" or "else" or "endif" or "endfor" or "endset" or "endmacro" or "endgeneration":
                throw keyword.Position.Error($"unexpected '{{% {keyword.Text} %}}' with no open tag it could close");
            default:
                throw keyword.Position.Error($"unsupported tag '{keyword.Text}'");
        }
    }

    private IfStatement ParseIf(SourcePosition position)
    {
        var branches = new List<(Expression, IReadOnlyList<Statement>)>();
        var condition = ParseExpression();
        ExpectStatementEnd();
        while (true)
        {
            var (body, endTag) = ParseBody(["elif", "else", "endif"], "if", position);
            branches.Add((condition, body));
            if (endTag == "elif")
            {
                condition = ParseExpression();
                ExpectStatementEnd();
                continue;
            }
            ExpectStatementEnd();
            if (endTag == "endif") return new IfStatement(branches, [], position);
            var (otherwise, _) = ParseBody(["endif"], "if", position);
            ExpectStatementEnd();
            return new IfStatement(branches, otherwise, position);
        }
    }

    private ForStatement ParseFor(SourcePosition position)
    {
        var targets = ParseTargetNames();
        ExpectName("in");
        // The iterable stops before 'if', which starts the loop filter rather than a conditional expression.
        var iterable = ParseExpression(allowConditional: false);
        Expression? filter = SkipName("if") ? ParseExpression(allowConditional: false) : null;
        if (Current.IsName("recursive")) throw Current.Position.Error("recursive for loops are not supported");
        ExpectStatementEnd();
        var (body, endTag) = ParseBody(["else", "endfor"], "for", position);
        ExpectStatementEnd();
        List<Statement> otherwise = [];
        if (endTag == "else")
        {
            (otherwise, _) = ParseBody(["endfor"], "for", position);
            ExpectStatementEnd();
        }
        return new ForStatement(targets, iterable, filter, body, otherwise, position);
    }

    private List<string> ParseTargetNames()
    {
        bool parenthesised = SkipOperator("(");
        var names = new List<string> { Expect(TokenKind.Name, "a variable name").Text };
        while (SkipOperator(","))
        {
            if (Current.Kind != TokenKind.Name) break;
            names.Add(Advance().Text);
        }
        if (parenthesised) ExpectOperator(")");
        return names;
    }

    private Statement ParseSet(SourcePosition position)
    {
        var first = Expect(TokenKind.Name, "a variable name");
        if (SkipOperator("."))
        {
            string attribute = Expect(TokenKind.Name, "an attribute name").Text;
            ExpectOperator("=");
            var attributeValue = ParseExpression();
            ExpectStatementEnd();
            return new SetStatement([first.Text], attribute, attributeValue, position);
        }

        var targets = new List<string> { first.Text };
        while (SkipOperator(",")) targets.Add(Expect(TokenKind.Name, "a variable name").Text);

        if (Current.Kind == TokenKind.StatementEnd && targets.Count == 1)
        {
            Advance();
            var (body, _) = ParseBody(["endset"], "set", position);
            ExpectStatementEnd();
            return new SetBlockStatement(first.Text, body, position);
        }

        ExpectOperator("=");
        var value = ParseTupleOrExpression();
        ExpectStatementEnd();
        return new SetStatement(targets, null, value, position);
    }

    private MacroStatement ParseMacro(SourcePosition position)
    {
        string name = Expect(TokenKind.Name, "a macro name").Text;
        ExpectOperator("(");
        var parameters = new List<(string, Expression?)>();
        while (!Current.IsOperator(")"))
        {
            string parameter = Expect(TokenKind.Name, "a parameter name").Text;
            Expression? defaultValue = SkipOperator("=") ? ParseExpression() : null;
            parameters.Add((parameter, defaultValue));
            if (!SkipOperator(",")) break;
        }
        ExpectOperator(")");
        ExpectStatementEnd();
        var (body, _) = ParseBody(["endmacro"], "macro", position);
        ExpectStatementEnd();
        return new MacroStatement(name, parameters, body, position);
    }
}
