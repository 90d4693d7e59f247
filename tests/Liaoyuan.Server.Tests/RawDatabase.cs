using System.Data.Common;
using Liaoyuan.Server.Platform.Storage;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace Liaoyuan.Server.Tests;

/// <summary>Reads a platform database with plain SQL, bypassing the store: what is really on disk.</summary>
public static class RawDatabase
{
    public static async Task<List<string[]>> RowsAsync(string dataDirectory, string? database, string sql)
    {
        await using DbConnection connection = database is null
            ? new SqliteConnection($"Data Source={Path.Combine(dataDirectory, SqlitePlatformStore.FileName)};Pooling=False")
            : new NpgsqlConnection(database + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await using var reader = await command.ExecuteReaderAsync();
        var rows = new List<string[]>();
        while (await reader.ReadAsync())
        {
            rows.Add(Enumerable.Range(0, reader.FieldCount)
                .Select(i => reader.IsDBNull(i) ? "" : Convert.ToString(reader.GetValue(i), System.Globalization.CultureInfo.InvariantCulture)!).ToArray());
        }
        return rows;
    }
}
