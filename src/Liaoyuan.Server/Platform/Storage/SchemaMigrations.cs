namespace Liaoyuan.Server.Platform.Storage;

/// <summary>
/// The schema, as numbered steps. A database records the steps it has run in <c>schema_migrations</c>; a newer
/// build runs only the steps after that. Steps are never edited once released — changes are new steps.
/// The SQL is common to SQLite and PostgreSQL except for the placeholders a backend fills in.
/// </summary>
internal static class SchemaMigrations
{
    /// <summary>Placeholder for an auto-numbered 64-bit primary key column.</summary>
    public const string AutoId = "{auto_id}";

    public static readonly IReadOnlyList<(int Version, string[] Statements)> Steps =
    [
        (1,
        [
            "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
            """
            CREATE TABLE apps (
                id TEXT PRIMARY KEY, name TEXT NOT NULL, daily_token_quota BIGINT, requests_per_minute BIGINT,
                tokens_per_minute BIGINT, created_at BIGINT NOT NULL)
            """,
            """
            CREATE TABLE api_keys (
                id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES apps (id), key_hash TEXT NOT NULL UNIQUE,
                created_at BIGINT NOT NULL, revoked_at BIGINT)
            """,
            "CREATE INDEX api_keys_app ON api_keys (app_id)",
            $"""
            CREATE TABLE usage_records (
                id {AutoId}, request_id TEXT, app_id TEXT NOT NULL REFERENCES apps (id),
                key_id TEXT NOT NULL REFERENCES api_keys (id), model TEXT NOT NULL, prompt_tokens BIGINT NOT NULL,
                completion_tokens BIGINT NOT NULL, latency_ms BIGINT NOT NULL, status BIGINT NOT NULL,
                admitted_at BIGINT NOT NULL, day TEXT NOT NULL)
            """,
            "CREATE INDEX usage_records_app_day ON usage_records (app_id, day)",
            "CREATE INDEX usage_records_app_admitted ON usage_records (app_id, admitted_at)",
        ]),
    ];

    public static int Latest => Steps[^1].Version;
}
