namespace Liaoyuan.Cli.Tests;

public sealed record CliResult(int ExitCode, string Out, string Error);

/// <summary>Runs the `liaoyuan` command in-process with captured output, exactly as the executable would.</summary>
public static class CliRunner
{
    public static CliResult Run(params string[] args) => RunWithInput("", args);

    public static CliResult RunWithInput(string input, params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        int code = LiaoyuanCommand.Run(args, new Terminal(new StringReader(input), output, error));
        return new CliResult(code, output.ToString(), error.ToString());
    }
}
