using System.Text;

namespace Liaoyuan.Engine.Templates;

/// <summary>
/// Walks the syntax tree and writes the output. This file runs statements; TemplateInterpreter.Expressions.cs
/// evaluates expressions.
/// </summary>
internal sealed partial class TemplateInterpreter
{
    /// <summary>
    /// Variables visible at one point of the template. A for-loop iteration and a macro call get their own scope,
    /// so a <c>set</c> inside them does not leak out; <c>if</c> does not, as in Jinja.
    /// </summary>
    private sealed class Scope(Scope? parent)
    {
        private readonly Dictionary<string, object?> _variables = new(StringComparer.Ordinal);

        public bool TryLookup(string name, out object? value)
        {
            for (var scope = this; scope is not null; scope = scope.Parent)
            {
                if (scope._variables.TryGetValue(name, out value)) return true;
            }
            value = null;
            return false;
        }

        public Scope? Parent { get; } = parent;

        public void Set(string name, object? value) => _variables[name] = value;
    }

    private enum Flow { Normal, Break, Continue }

    // A macro that calls itself without end would otherwise take the process down with a stack overflow.
    private const int MaximumMacroDepth = 200;

    private int _macroDepth;

    public static string Render(IReadOnlyList<Statement> template, IReadOnlyDictionary<string, object?> globals,
        IReadOnlyDictionary<string, object?> variables)
    {
        var globalScope = new Scope(null);
        foreach (var (name, value) in globals) globalScope.Set(name, value);
        var scope = new Scope(globalScope);
        foreach (var (name, value) in variables) scope.Set(name, value);
        var output = new StringBuilder();
        new TemplateInterpreter().Execute(template, scope, output);
        return output.ToString();
    }

    private Flow Execute(IReadOnlyList<Statement> body, Scope scope, StringBuilder output)
    {
        foreach (var statement in body)
        {
            Flow flow;
            try
            {
                flow = Execute(statement, scope, output);
            }
            catch (Exception unexpected) when (unexpected is not TemplateException)
            {
                // Anything not already reported with a position is reported at the statement that caused it.
                throw statement.Position.Error(unexpected.Message);
            }
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    private Flow Execute(Statement statement, Scope scope, StringBuilder output)
    {
        switch (statement)
        {
            case TextStatement text:
                output.Append(text.Text);
                return Flow.Normal;
            case OutputStatement print:
                output.Append(PythonFormatting.ToStr(Evaluate(print.Value, scope)));
                return Flow.Normal;
            case IfStatement branch:
                foreach (var (condition, body) in branch.Branches)
                {
                    if (ValueOperations.IsTruthy(Evaluate(condition, scope))) return Execute(body, scope, output);
                }
                return Execute(branch.Otherwise, scope, output);
            case ForStatement loop:
                ExecuteFor(loop, scope, output);
                return Flow.Normal;
            case SetStatement assignment:
                ExecuteSet(assignment, scope);
                return Flow.Normal;
            case SetBlockStatement capture:
                var captured = new StringBuilder();
                Execute(capture.Body, scope, captured);
                scope.Set(capture.Target, captured.ToString());
                return Flow.Normal;
            case MacroStatement macro:
                scope.Set(macro.Name, new MacroCallable(macro, scope, this));
                return Flow.Normal;
            case TransparentBlockStatement block:
                return Execute(block.Body, scope, output);
            case BreakStatement:
                return Flow.Break;
            case ContinueStatement:
                return Flow.Continue;
            default:
                throw statement.Position.Error($"cannot run {statement.GetType().Name}");
        }
    }

    private void ExecuteFor(ForStatement loop, Scope scope, StringBuilder output)
    {
        var candidates = ValueOperations.Iterate(Evaluate(loop.Iterable, scope), loop.Iterable.Position);
        var items = new List<object?>(candidates.Count);
        foreach (var candidate in candidates)
        {
            // The loop filter runs before the loop, so loop.index and loop.last count only the kept items.
            if (loop.Filter is null)
            {
                items.Add(candidate);
                continue;
            }
            var filterScope = new Scope(scope);
            BindTargets(loop.Targets, candidate, filterScope, loop.Position);
            if (ValueOperations.IsTruthy(Evaluate(loop.Filter, filterScope))) items.Add(candidate);
        }

        if (items.Count == 0)
        {
            Execute(loop.Otherwise, new Scope(scope), output);
            return;
        }

        var context = new LoopContext(items);
        for (int i = 0; i < items.Count; i++)
        {
            context.Index0 = i;
            var iterationScope = new Scope(scope);
            BindTargets(loop.Targets, items[i], iterationScope, loop.Position);
            iterationScope.Set("loop", context);
            if (Execute(loop.Body, iterationScope, output) == Flow.Break) break;
        }
    }

    private static void BindTargets(IReadOnlyList<string> targets, object? value, Scope scope, SourcePosition position)
    {
        if (targets.Count == 1)
        {
            scope.Set(targets[0], value);
            return;
        }
        var parts = ValueOperations.Iterate(value, position);
        if (parts.Count != targets.Count)
        {
            throw position.Error($"cannot unpack {parts.Count} values into {targets.Count} names");
        }
        for (int i = 0; i < targets.Count; i++) scope.Set(targets[i], parts[i]);
    }

    private void ExecuteSet(SetStatement assignment, Scope scope)
    {
        var value = Evaluate(assignment.Value, scope);
        if (assignment.Attribute is null)
        {
            BindTargets(assignment.Targets, value, scope, assignment.Position);
            return;
        }
        string target = assignment.Targets[0];
        if (!scope.TryLookup(target, out var holder) || holder is not NamespaceValue ns)
        {
            throw assignment.Position.Error($"cannot set '{target}.{assignment.Attribute}': '{target}' is not a namespace()");
        }
        ns.Attributes[assignment.Attribute] = value;
    }

    /// <summary>A <c>{% macro %}</c>: called like a function, it renders its body and returns the text.</summary>
    private sealed class MacroCallable(MacroStatement macro, Scope definitionScope, TemplateInterpreter interpreter) : ITemplateCallable
    {
        public object? Invoke(CallArguments arguments, SourcePosition position)
        {
            var scope = new Scope(definitionScope);
            var extraNamed = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
            foreach (var (name, value) in arguments.Named)
            {
                if (!macro.Parameters.Any(parameter => parameter.Name == name)) extraNamed[name] = value;
            }
            for (int i = 0; i < macro.Parameters.Count; i++)
            {
                var (name, defaultValue) = macro.Parameters[i];
                object? value = arguments.Has(i, name) ? arguments.Get(i, name)
                    : defaultValue is not null ? interpreter.Evaluate(defaultValue, scope)
                    : new UndefinedValue(name);
                scope.Set(name, value);
            }
            scope.Set("varargs", arguments.Positional.Skip(macro.Parameters.Count).ToList());
            scope.Set("kwargs", extraNamed);
            if (interpreter._macroDepth >= MaximumMacroDepth)
            {
                throw position.Error($"macro '{macro.Name}' nested more than {MaximumMacroDepth} calls deep");
            }
            interpreter._macroDepth++;
            try
            {
                var output = new StringBuilder();
                interpreter.Execute(macro.Body, scope, output);
                return output.ToString();
            }
            finally
            {
                interpreter._macroDepth--;
            }
        }
    }
}
