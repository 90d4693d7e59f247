namespace Liaoyuan.Engine.Templates;

internal sealed partial class TemplateInterpreter
{
    private object? Evaluate(Expression expression, Scope scope)
    {
        switch (expression)
        {
            case LiteralExpression literal:
                return literal.Value;
            case NameExpression name:
                return scope.TryLookup(name.Name, out var value) ? value : new UndefinedValue(name.Name);
            case ListExpression list:
                return list.Items.Select(item => Evaluate(item, scope)).ToList();
            case TupleExpression tuple:
                return tuple.Items.Select(item => Evaluate(item, scope)).ToList();
            case DictExpression dict:
                return EvaluateDict(dict, scope);
            case AttributeExpression attribute:
                return ValueOperations.GetAttribute(Evaluate(attribute.Target, scope), attribute.Name, attribute.Position);
            case IndexExpression index:
                return ValueOperations.GetItem(Evaluate(index.Target, scope), Evaluate(index.Index, scope), index.Position);
            case SliceExpression slice:
                return ValueOperations.Slice(Evaluate(slice.Target, scope), EvaluateOptional(slice.Start, scope),
                    EvaluateOptional(slice.Stop, scope), EvaluateOptional(slice.Step, scope), slice.Position);
            case CallExpression call:
                return EvaluateCall(call, scope);
            case FilterExpression filter:
                return BuiltinFilters.Apply(filter.Name, Evaluate(filter.Value, scope),
                    EvaluateArguments(filter.Arguments, scope, filter.Name), filter.Position);
            case TestExpression test:
                bool passed = BuiltinTests.Apply(test.Name, Evaluate(test.Value, scope),
                    EvaluateArguments(test.Arguments, scope, test.Name), test.Position);
                return passed != test.Negated;
            case BinaryExpression binary:
                return EvaluateBinary(binary, scope);
            case UnaryExpression unary:
                return EvaluateUnary(unary, scope);
            case ComparisonExpression comparison:
                return EvaluateComparison(comparison, scope);
            case ConditionalExpression conditional:
                if (ValueOperations.IsTruthy(Evaluate(conditional.Condition, scope))) return Evaluate(conditional.Then, scope);
                return conditional.Otherwise is null ? new UndefinedValue("conditional without else") : Evaluate(conditional.Otherwise, scope);
            default:
                throw expression.Position.Error($"cannot evaluate {expression.GetType().Name}");
        }
    }

    private object? EvaluateOptional(Expression? expression, Scope scope) =>
        expression is null ? null : Evaluate(expression, scope);

    private OrderedDictionary<string, object?> EvaluateDict(DictExpression dict, Scope scope)
    {
        var result = new OrderedDictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (keyExpression, valueExpression) in dict.Entries)
        {
            if (Evaluate(keyExpression, scope) is not string key)
            {
                throw keyExpression.Position.Error("dictionary keys must be strings");
            }
            result[key] = Evaluate(valueExpression, scope);
        }
        return result;
    }

    private CallArguments EvaluateArguments(Arguments arguments, Scope scope, string calleeName)
    {
        var positional = arguments.Positional.Select(argument => Evaluate(argument, scope)).ToList();
        if (arguments.Named.Count == 0) return new CallArguments(positional, CallArguments.NoNames, calleeName);
        var named = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (name, value) in arguments.Named) named[name] = Evaluate(value, scope);
        return new CallArguments(positional, named, calleeName);
    }

    private object? EvaluateCall(CallExpression call, Scope scope)
    {
        var callee = Evaluate(call.Callee, scope);
        string calleeName = call.Callee switch
        {
            NameExpression name => name.Name,
            AttributeExpression attribute => attribute.Name,
            _ => "function",
        };
        ValueOperations.FailIfUndefined(callee, call.Position);
        if (callee is not ITemplateCallable callable)
        {
            throw call.Position.Error($"'{PythonFormatting.TypeName(callee)}' object is not callable");
        }
        return callable.Invoke(EvaluateArguments(call.Arguments, scope, calleeName), call.Position);
    }

    private object? EvaluateBinary(BinaryExpression binary, Scope scope)
    {
        var left = Evaluate(binary.Left, scope);
        switch (binary.Operator)
        {
            // Python's and/or give back one of their operands, not a bool.
            case "and": return ValueOperations.IsTruthy(left) ? Evaluate(binary.Right, scope) : left;
            case "or": return ValueOperations.IsTruthy(left) ? left : Evaluate(binary.Right, scope);
            case "~": return PythonFormatting.ToStr(left) + PythonFormatting.ToStr(Evaluate(binary.Right, scope));
            default: return ValueOperations.Arithmetic(binary.Operator, left, Evaluate(binary.Right, scope), binary.Position);
        }
    }

    private object? EvaluateUnary(UnaryExpression unary, Scope scope)
    {
        var operand = Evaluate(unary.Operand, scope);
        return unary.Operator switch
        {
            "not" => !ValueOperations.IsTruthy(operand),
            "-" => ValueOperations.Negate(operand, unary.Position),
            _ => operand is long or double or bool
                ? operand
                : throw unary.Position.Error($"bad operand type for unary +: '{PythonFormatting.TypeName(operand)}'"),
        };
    }

    private bool EvaluateComparison(ComparisonExpression comparison, Scope scope)
    {
        var left = Evaluate(comparison.First, scope);
        foreach (var (op, operandExpression) in comparison.Rest)
        {
            var right = Evaluate(operandExpression, scope);
            var position = operandExpression.Position;
            bool holds = op switch
            {
                "==" => ValueOperations.AreEqual(left, right),
                "!=" => !ValueOperations.AreEqual(left, right),
                "<" => ValueOperations.Compare(left, right, position) < 0,
                "<=" => ValueOperations.Compare(left, right, position) <= 0,
                ">" => ValueOperations.Compare(left, right, position) > 0,
                ">=" => ValueOperations.Compare(left, right, position) >= 0,
                "in" => ValueOperations.Contains(right, left, position),
                "not in" => !ValueOperations.Contains(right, left, position),
                _ => throw position.Error($"unknown comparison {op}"),
            };
            if (!holds) return false;
            left = right;
        }
        return true;
    }
}
