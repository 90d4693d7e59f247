using System.Globalization;
using Liaoyuan.Server.Store;
using Spectre.Console;

namespace Liaoyuan.Cli.Commands;

/// <summary>A pull's progress as a live Spectre.Console bar on an interactive stderr.</summary>
internal sealed class PullProgressView(ProgressContext context) : IPullProgress
{
    private ProgressTask? _task;
    private string _label = "pulling";

    public static bool Interactive(Terminal terminal) =>
        ReferenceEquals(terminal.Error, Console.Error) && !Console.IsErrorRedirected;

    public static Task<PullResult> RunWithBarAsync(Func<IPullProgress, Task<PullResult>> pull)
    {
        var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(Console.Error) });
        return console.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn { Alignment = Justify.Left }, new ProgressBarColumn(), new PercentageColumn(),
                new DownloadedColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
            .StartAsync(context => pull(new PullProgressView(context)));
    }

    public void Resolved(ModelName name, HubFile file)
    {
        _label = Markup.Escape($"{name} ({file.FileName})");
        _task = context.AddTask(_label, autoStart: false, maxValue: file.Size ?? 1);
    }

    public void Started(long offset, long? total)
    {
        if (_task is null) return;
        if (total is { } t) _task.MaxValue = Math.Max(t, 1);
        _task.IsIndeterminate = total is null;
        _task.Value = offset;
        if (!_task.IsStarted) _task.StartTask();
    }

    public void Advanced(long received) => _task?.Increment(received);

    public void Retrying(int attempt, string reason)
    {
        if (_task is not null) _task.Description = Markup.Escape($"{_label} — retry {attempt}: {reason}");
    }

    public void Verifying()
    {
        if (_task is not null) _task.Description = _label + " [grey]verifying[/]";
    }
}

/// <summary>A pull's progress as plain lines, for pipes, logs and tests.</summary>
internal sealed class PullProgressLines(TextWriter log) : IPullProgress
{
    public void Resolved(ModelName name, HubFile file) =>
        log.WriteLine($"pulling {name}: {file.Path}{(file.Size is { } size ? $" ({StoreCommands.Size(size)})" : "")}");

    public void Started(long offset, long? total)
    {
        if (offset > 0) log.WriteLine($"resuming at byte {offset.ToString(CultureInfo.InvariantCulture)}");
    }

    public void Advanced(long received)
    {
    }

    public void Retrying(int attempt, string reason) => log.WriteLine($"connection lost ({reason}); retry {attempt}");

    public void Verifying() => log.WriteLine("verifying SHA-256 and GGUF structure");
}
