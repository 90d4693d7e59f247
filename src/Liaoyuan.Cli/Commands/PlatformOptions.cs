using System.CommandLine;
using System.Data.Common;
using System.Net.Sockets;

namespace Liaoyuan.Cli.Commands;

/// <summary>The options `serve` and `apps` share for the data folder, the database and the admin key.</summary>
internal static class PlatformOptions
{
    public static Option<string?> AdminKeyOption(string description) => new("--admin-key") { Description = description };

    public static Option<string?> DatabaseOption() => new("--database")
    {
        Description = "A PostgreSQL connection string (\"Host=...;Database=...;Username=...\") or a SQLite file (default: $LIAOYUAN_DATABASE, else DATA/liaoyuan.db)",
    };

    public static Option<string?> DataOption() => new("--data")
    {
        Description = "State folder (default: $LIAOYUAN_DATA or ~/.liaoyuan)",
    };

    public static string DataDirectory(string? given) => given ?? Environment.GetEnvironmentVariable("LIAOYUAN_DATA")
        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".liaoyuan");

    public static string? AdminKey(string? given) => given ?? NonEmpty(Environment.GetEnvironmentVariable("LIAOYUAN_ADMIN_KEY"));

    public static string? Database(string? given) => given ?? NonEmpty(Environment.GetEnvironmentVariable("LIAOYUAN_DATABASE"));

    /// <summary>Failures that mean the database is unreachable, refused the login or is not a database at all.</summary>
    public static bool IsDatabaseProblem(Exception problem) => problem is DbException or SocketException or TimeoutException or InvalidDataException;

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;
}
