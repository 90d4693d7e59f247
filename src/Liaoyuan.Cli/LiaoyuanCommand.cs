using System.CommandLine;

namespace Liaoyuan.Cli;

/// <summary>The `liaoyuan` command tree; callable in-process so tests drive exactly what users run.</summary>
public static class LiaoyuanCommand
{
    public static int Run(string[] args)
    {
        var root = new RootCommand("Liaoyuan: a self-hosted LLM platform in C#.");
        return root.Parse(args).Invoke();
    }
}
