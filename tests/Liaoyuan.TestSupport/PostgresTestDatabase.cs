using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace Liaoyuan.TestSupport;

/// <summary>
/// A real PostgreSQL for tests. With <c>LIAOYUAN_TEST_POSTGRES</c> set (as <c>.ci/run</c> does) its server is
/// used, and being unreachable fails the tests. Without it, a throwaway cluster is made with the local
/// <c>initdb</c> (as the <c>postgres</c> user when running as root) and stopped when the test process exits;
/// no PostgreSQL binaries also fails the tests. Tests never skip. Each test gets its own schema.
/// </summary>
public static class PostgresTestDatabase
{
    public const string Variable = "LIAOYUAN_TEST_POSTGRES";

    private static readonly Lazy<string> Server = new(FindOrStartServer, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>A connection string whose search path is a new, empty schema.</summary>
    public static string NewSchema()
    {
        string server = Server.Value;
        string schema = "t_" + Guid.NewGuid().ToString("N")[..16];
        try
        {
            using var connection = new NpgsqlConnection(server);
            connection.Open();
            using var command = new NpgsqlCommand($"CREATE SCHEMA {schema}", connection);
            command.ExecuteNonQuery();
        }
        catch (Exception problem) when (problem is NpgsqlException or SocketException)
        {
            throw new InvalidOperationException($"PostgreSQL at {Describe(server)} is unreachable: {problem.Message}", problem);
        }
        return new NpgsqlConnectionStringBuilder(server) { SearchPath = schema }.ConnectionString;
    }

    private static string Describe(string connectionString)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString);
        return $"{builder.Host}:{builder.Port}/{builder.Database}";
    }

    private static string FindOrStartServer()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } given) return given;
        string initdb = FindBinary("initdb") ?? throw new InvalidOperationException(
            $"the PostgreSQL tests need a server: set {Variable} to a connection string (as .ci/run does) or install PostgreSQL (apt-get install postgresql) so they can start one with initdb");
        string bin = Path.GetDirectoryName(initdb)!;
        bool asRoot = Environment.UserName == "root";
        RemoveStoppedClusters();
        string folder = Path.Combine(Path.GetTempPath(), FolderPrefix + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        if (asRoot) Run("chown", ["postgres:postgres", folder], asPostgres: false);
        string data = Path.Combine(folder, "data");
        int port = FreePort();
        Run(initdb, ["-D", data, "-U", "liaoyuan", "--auth=trust", "--no-sync", "-E", "UTF8"], asRoot);
        Run(Path.Combine(bin, "pg_ctl"), ["-D", data, "-l", Path.Combine(folder, "log"), "-w", "-o",
            $"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start"], asRoot);
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try
            {
                Run(Path.Combine(bin, "pg_ctl"), ["-D", data, "-m", "immediate", "stop"], asRoot);
            }
            catch (InvalidOperationException)
            {
                // The process is ending; the folder of a cluster that did not stop is left for the next run's check.
            }
            // The test host may end this process before a recursive delete finishes: the next run removes what is left.
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        return $"Host=127.0.0.1;Port={port};Username=liaoyuan;Database=postgres;Pooling=true;Maximum Pool Size=100";
    }

    private const string FolderPrefix = "liaoyuan-postgres-";

    /// <summary>
    /// Removes clusters earlier test runs left behind once they are stopped (no postmaster.pid). Only old ones:
    /// a test process running beside this one may be between initdb and start.
    /// </summary>
    private static void RemoveStoppedClusters()
    {
        foreach (string folder in Directory.GetDirectories(Path.GetTempPath(), FolderPrefix + "*"))
        {
            if (File.Exists(Path.Combine(folder, "data", "postmaster.pid")) || Directory.GetCreationTimeUtc(folder) > DateTime.UtcNow.AddMinutes(-10)) continue;
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static string? FindBinary(string name)
    {
        foreach (string folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            string path = Path.Combine(folder, name);
            if (File.Exists(path)) return path;
        }
        if (!Directory.Exists("/usr/lib/postgresql")) return null;
        return Directory.GetDirectories("/usr/lib/postgresql").Order(StringComparer.Ordinal)
            .Select(version => Path.Combine(version, "bin", name)).LastOrDefault(File.Exists);
    }

    private static void Run(string program, string[] arguments, bool asPostgres)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : program) { RedirectStandardOutput = true, RedirectStandardError = true };
        if (asPostgres)
        {
            foreach (string part in new[] { "-u", "postgres", "--", program }) start.ArgumentList.Add(part);
        }
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{Path.GetFileName(program)} failed ({process.ExitCode}): {error.Trim()} {output.Result.Trim()}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
