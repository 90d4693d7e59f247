using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Liaoyuan.Engine.Evaluation;
using Liaoyuan.Engine.Templates;
using Spectre.Console;

namespace Liaoyuan.Cli.Commands;

/// <summary>`liaoyuan eval [MODEL] --data held.jsonl`: greedy exact-match accuracy per task on held-out chat questions.</summary>
internal static class EvalCommand
{
    public static Command Create(Terminal terminal)
    {
        var models = new ModelOptions();
        var modelOption = new Option<string?>("--model", "-m") { Description = "Path to a GGUF model (the same as the MODEL argument)" };
        var data = new Option<string>("--data", "-d") { Description = "Held-out chat set: JSON Lines of {\"task\", \"messages\"}; the last message is the reference answer", Required = true };
        var taskField = new Option<string>("--task-field") { Description = "The field that names each example's task", DefaultValueFactory = _ => "task" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Longest answer generated", DefaultValueFactory = _ => 96 };
        var limit = new Option<int>("--limit") { Description = "Evaluate at most this many examples per task (default: all)" };
        var json = new Option<bool>("--json") { Description = "Print the scores as one JSON object instead of a table" };
        var predictions = new Option<string?>("--predictions") { Description = "Write every question, reference and prediction to this JSON Lines file" };
        var command = new Command("eval", "Exact-match accuracy per task of greedy answers to held-out chat questions, and the answers' perplexity");
        models.AddTo(command);
        foreach (var option in new Option[] { modelOption, data, taskField, maxTokens, limit, json, predictions })
            command.Options.Add(option);
        command.SetAction((parse, cancel) =>
        {
            string? positional = parse.GetValue(models.Model), named = parse.GetValue(modelOption);
            if (positional is not null && named is not null && positional != named)
                throw new UserInputException($"two models given: '{positional}' and --model '{named}'; give one");
            int max = parse.GetValue(maxTokens);
            if (max <= 0) throw new UserInputException($"--max-tokens must be > 0, got {max}");
            int perTask = parse.GetValue(limit);
            if (perTask < 0) throw new UserInputException($"--limit must be ≥ 0, got {perTask}");
            string dataPath = parse.GetValue(data)!;
            if (!File.Exists(dataPath)) throw new UserInputException($"{dataPath}: no such file");
            IReadOnlyList<HeldOutExample> examples;
            try
            {
                examples = HeldOutChatSet.Read(dataPath, parse.GetValue(taskField)!);
            }
            catch (InvalidDataException e)
            {
                throw new UserInputException(e.Message);
            }
            if (perTask > 0) examples = examples.GroupBy(e => e.Task).SelectMany(g => g.Take(perTask)).OrderBy(e => e.Line).ToList();

            using var model = models.LoadPath(parse, named ?? positional);
            var session = models.Session(parse, model);
            var template = ChatTemplate.FromModelOrFallback(model.Tokenizer.ChatTemplate, warning => terminal.Error.WriteLine($"warning: {warning}"));
            var evaluation = new ExactMatchEvaluation(session, model.Tokenizer, template, max);
            var outcomes = Run(terminal, examples, e => evaluation.Evaluate(e, cancel));
            var scores = ExactMatchEvaluation.Summarize(outcomes);

            string? predictionsPath = parse.GetValue(predictions);
            if (predictionsPath is not null) WritePredictions(predictionsPath, outcomes);
            if (parse.GetValue(json)) terminal.Out.WriteLine(Json(model.File.Path, dataPath, max, scores));
            else WriteTable(terminal, model.File.Path, scores);
            return Task.FromResult(0);
        });
        return command;
    }

    private static List<ExactMatchOutcome> Run(Terminal terminal, IReadOnlyList<HeldOutExample> examples, Func<HeldOutExample, ExactMatchOutcome> evaluate)
    {
        var outcomes = new List<ExactMatchOutcome>(examples.Count);
        bool live = ReferenceEquals(terminal.Error, Console.Error) && !Console.IsErrorRedirected;
        if (!live)
        {
            foreach (var example in examples)
            {
                outcomes.Add(evaluate(example));
                if (outcomes.Count % 100 == 0 || outcomes.Count == examples.Count)
                    terminal.Error.WriteLine($"[{outcomes.Count}/{examples.Count}] {outcomes.Count(o => o.Correct)} exact");
            }
            return outcomes;
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        console.Progress()
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .Start(context =>
            {
                var bar = context.AddTask("evaluating", maxValue: examples.Count);
                foreach (var example in examples)
                {
                    outcomes.Add(evaluate(example));
                    int correct = outcomes.Count(o => o.Correct);
                    bar.Description = Markup.Escape($"{example.Task}: {outcomes.Count}/{examples.Count}, {correct} exact");
                    bar.Increment(1);
                }
            });
        return outcomes;
    }

    private static void WriteTable(Terminal terminal, string modelPath, IReadOnlyList<TaskScore> scores)
    {
        var table = new Table().AddColumns("task", "exact", "of", "accuracy", "answer perplexity");
        for (int i = 1; i < table.Columns.Count; i++) table.Columns[i].RightAligned();
        foreach (var s in scores)
        {
            if (s.Task == "all") table.AddEmptyRow();
            table.AddRow(Markup.Escape(s.Task), Num(s.Correct), Num(s.Total), Percent(s.Accuracy), Fixed(s.AnswerPerplexity));
        }
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(terminal.Out), Ansi = AnsiSupport.No, ColorSystem = ColorSystemSupport.NoColors });
        console.Profile.Width = 100;
        console.WriteLine(Path.GetFileName(modelPath));
        console.Write(table);
        terminal.Out.WriteLine($"exact match: {ExactMatchEvaluation.NormalizationRule}");
    }

    private static string Json(string modelPath, string dataPath, int maxTokens, IReadOnlyList<TaskScore> scores) =>
        JsonSerializer.Serialize(new
        {
            model = modelPath,
            data = dataPath,
            max_tokens = maxTokens,
            normalization = ExactMatchEvaluation.NormalizationRule,
            tasks = scores.Where(s => s.Task != "all").Select(JsonScore),
            all = JsonScore(scores[^1]),
        });

    private static object JsonScore(TaskScore s) => new
    {
        task = s.Task,
        correct = s.Correct,
        total = s.Total,
        accuracy = s.Accuracy,
        answer_perplexity = double.IsNaN(s.AnswerPerplexity) ? (double?)null : s.AnswerPerplexity,
        answer_tokens = s.AnswerTokens,
    };

    private static void WritePredictions(string path, IReadOnlyList<ExactMatchOutcome> outcomes)
    {
        using var writer = new StreamWriter(path, append: false, new System.Text.UTF8Encoding(false));
        var options = new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
        foreach (var o in outcomes)
        {
            writer.WriteLine(JsonSerializer.Serialize(new
            {
                line = o.Example.Line,
                task = o.Example.Task,
                question = o.Example.Prompt[^1].Content,
                reference = o.Example.Reference,
                prediction = o.Prediction,
                correct = o.Correct,
            }, options));
        }
    }

    private static string Num(int n) => n.ToString("N0", CultureInfo.InvariantCulture);
    private static string Percent(double x) => (100 * x).ToString("F1", CultureInfo.InvariantCulture) + "%";
    private static string Fixed(double x) => double.IsNaN(x) ? "-" : x.ToString("F2", CultureInfo.InvariantCulture);
}
