using System.Diagnostics;
using System.Text.RegularExpressions;

namespace Liaoyuan.Cli.Tests;

/// <summary>`liaoyuan serve` in a child process, so a test can kill it as an operating system would.</summary>
public sealed partial class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly List<string> _output = [];

    private ServerProcess(Process process, Uri address)
    {
        _process = process;
        Address = address;
    }

    public Uri Address { get; }

    /// <summary>Starts the server with <paramref name="arguments"/> after "serve" and waits until it listens.</summary>
    public static async Task<ServerProcess> StartAsync(params string[] arguments)
    {
        string cli = Path.Combine(AppContext.BaseDirectory, "liaoyuan.dll");
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in new[] { cli, "serve", "--port", "0" }.Concat(arguments)) start.ArgumentList.Add(argument);
        var process = Process.Start(start)!;
        var lines = new List<string>();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            while (await process.StandardOutput.ReadLineAsync(timeout.Token) is { } line)
            {
                lines.Add(line);
                if (ListeningLine().Match(line) is { Success: true } match)
                {
                    // Keep draining stdout so the child never blocks on a full pipe.
                    _ = process.StandardOutput.ReadToEndAsync();
                    return new ServerProcess(process, new Uri(match.Groups[1].Value));
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
        process.Kill();
        await process.WaitForExitAsync();
        throw new InvalidOperationException($"the server did not start: {string.Join(" | ", lines)} {await error}");
    }

    /// <summary>SIGKILL: no shutdown code runs, nothing is flushed.</summary>
    public async Task KillAsync()
    {
        _process.Kill();
        await _process.WaitForExitAsync();
    }

    public void Dispose()
    {
        if (!_process.HasExited) _process.Kill();
        _process.WaitForExit();
        _process.Dispose();
    }

    [GeneratedRegex(@"^Serving .* on (http://\S+) \(")]
    private static partial Regex ListeningLine();
}
