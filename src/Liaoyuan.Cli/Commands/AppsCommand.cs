using System.CommandLine;
using System.Text.Json;
using Liaoyuan.Server.Platform;
using Liaoyuan.Server.Platform.Storage;

namespace Liaoyuan.Cli.Commands;

/// <summary>
/// `liaoyuan apps`: the admin API's operations from the command line, either against a running server
/// (--url with the admin key) or directly on the data folder's database. Each prints the admin API's JSON.
/// </summary>
internal static class AppsCommand
{
    public static Command Create(Terminal terminal)
    {
        var url = new Option<string?>("--url") { Description = "A running server's address, e.g. http://127.0.0.1:8080 (default: work on the database directly)", Recursive = true };
        var adminKey = PlatformOptions.AdminKeyOption("The admin key, with --url (default: $LIAOYUAN_ADMIN_KEY)");
        adminKey.Recursive = true;
        var data = PlatformOptions.DataOption();
        data.Recursive = true;
        var database = PlatformOptions.DatabaseOption();
        database.Recursive = true;

        var apps = new Command("apps", "Manage apps, their API keys and see their usage (the admin API)");
        foreach (var option in new Option[] { url, adminKey, data, database }) apps.Options.Add(option);
        AdminTarget Target(ParseResult parse) => AdminTarget.For(parse.GetValue(url), parse.GetValue(adminKey), parse.GetValue(data), parse.GetValue(database));

        var name = new Argument<string>("name") { Description = "The app's name" };
        var quota = new Option<long?>("--daily-token-quota") { Description = "Tokens (prompt + completion) per UTC day (default: no limit)" };
        var rpm = new Option<long?>("--requests-per-minute") { Description = "Requests per sliding minute (default: no limit)" };
        var tpm = new Option<long?>("--tokens-per-minute") { Description = "Tokens per sliding minute (default: no limit)" };
        var create = new Command("create", "Create an app; prints it with its id") { name, quota, rpm, tpm };
        create.SetAction((parse, cancel) => RunAsync(terminal, Target(parse), target =>
            target.CreateAppAsync(parse.GetValue(name)!, parse.GetValue(quota), parse.GetValue(rpm), parse.GetValue(tpm), cancel)));
        apps.Subcommands.Add(create);

        var list = new Command("list", "List the apps");
        list.SetAction((parse, cancel) => RunAsync(terminal, Target(parse), target => target.ListAppsAsync(cancel)));
        apps.Subcommands.Add(list);

        var app = new Argument<string>("app") { Description = "The app's id" };
        var key = new Command("key", "Create, list and revoke an app's API keys");
        var keyCreate = new Command("create", "Create a key for an app; prints it — the only time it is shown") { app };
        keyCreate.SetAction((parse, cancel) => RunAsync(terminal, Target(parse), target => target.CreateKeyAsync(parse.GetValue(app)!, cancel)));
        var keyList = new Command("list", "List an app's keys (ids and state, never the keys)") { app };
        keyList.SetAction((parse, cancel) => RunAsync(terminal, Target(parse), target => target.ListKeysAsync(parse.GetValue(app)!, cancel)));
        var keyId = new Argument<string>("key") { Description = "The key's id (key_...)" };
        var keyRevoke = new Command("revoke", "Revoke a key; requests with it are refused from now on") { keyId };
        keyRevoke.SetAction((parse, cancel) => RunAsync(terminal, Target(parse), target => target.RevokeKeyAsync(parse.GetValue(keyId)!, cancel)));
        key.Subcommands.Add(keyCreate);
        key.Subcommands.Add(keyList);
        key.Subcommands.Add(keyRevoke);
        apps.Subcommands.Add(key);

        var from = new Option<string?>("--from") { Description = "First day, yyyy-MM-dd (UTC)" };
        var to = new Option<string?>("--to") { Description = "Last day, yyyy-MM-dd (UTC)" };
        var usageApp = new Argument<string>("app") { Description = "The app's id" };
        var usage = new Command("usage", "An app's requests and tokens per UTC day") { usageApp, from, to };
        usage.SetAction((parse, cancel) => RunAsync(terminal, Target(parse), target =>
            target.UsageAsync(parse.GetValue(usageApp)!, parse.GetValue(from), parse.GetValue(to), cancel)));
        apps.Subcommands.Add(usage);
        return apps;
    }

    private static async Task<int> RunAsync(Terminal terminal, AdminTarget target, Func<AdminTarget, Task<string>> operation)
    {
        await using (target)
        {
            string json = await operation(target);
            terminal.Out.WriteLine(json);
            return 0;
        }
    }
}

/// <summary>Where `apps` sends an operation; either way the answer is the admin API's JSON.</summary>
internal abstract class AdminTarget : IAsyncDisposable
{
    public static AdminTarget For(string? url, string? adminKey, string? data, string? database)
    {
        if (url is null)
        {
            if (adminKey is not null) throw new UserInputException("--admin-key goes with --url; on the data folder no key is needed");
            return new DirectAdminTarget(PlatformOptions.DataDirectory(data), PlatformOptions.Database(database));
        }
        if (data is not null || database is not null) throw new UserInputException("give either --url or --data/--database, not both");
        string key = PlatformOptions.AdminKey(adminKey) ?? throw new UserInputException("--url needs the admin key: --admin-key KEY or $LIAOYUAN_ADMIN_KEY");
        if (!Uri.TryCreate(url, UriKind.Absolute, out var address) || (address.Scheme != "http" && address.Scheme != "https"))
            throw new UserInputException($"--url must be an http:// or https:// address, got '{url}'");
        return new RemoteAdminTarget(address, key);
    }

    public abstract Task<string> CreateAppAsync(string name, long? dailyTokenQuota, long? requestsPerMinute, long? tokensPerMinute, CancellationToken cancel);
    public abstract Task<string> ListAppsAsync(CancellationToken cancel);
    public abstract Task<string> CreateKeyAsync(string app, CancellationToken cancel);
    public abstract Task<string> ListKeysAsync(string app, CancellationToken cancel);
    public abstract Task<string> RevokeKeyAsync(string key, CancellationToken cancel);
    public abstract Task<string> UsageAsync(string app, string? from, string? to, CancellationToken cancel);
    public abstract ValueTask DisposeAsync();
}

/// <summary>Operates on the database itself, as the server would; safe beside a running server.</summary>
internal sealed class DirectAdminTarget(string dataDirectory, string? database) : AdminTarget
{
    private IPlatformStore? _store;

    private async Task<string> RunAsync<T>(Func<PlatformAdmin, Task<T>> operation, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> type, CancellationToken cancel)
    {
        try
        {
            _store ??= await PlatformStores.OpenAsync(database, dataDirectory, cancel);
            return JsonSerializer.Serialize(await operation(new PlatformAdmin(_store, TimeProvider.System)), type);
        }
        catch (PlatformInputException problem)
        {
            throw new UserInputException(problem.Message);
        }
        catch (Exception problem) when (PlatformOptions.IsDatabaseProblem(problem))
        {
            throw new UserInputException($"cannot open the database: {problem.Message}");
        }
    }

    public override Task<string> CreateAppAsync(string name, long? dailyTokenQuota, long? requestsPerMinute, long? tokensPerMinute, CancellationToken cancel) =>
        RunAsync(admin => admin.CreateAppAsync(name, dailyTokenQuota, requestsPerMinute, tokensPerMinute, cancel), AdminJsonContext.Default.AppDto, cancel);

    public override Task<string> ListAppsAsync(CancellationToken cancel) =>
        RunAsync(async admin => new AdminList<AppDto>(await admin.ListAppsAsync(cancel)), AdminJsonContext.Default.AdminListAppDto, cancel);

    public override Task<string> CreateKeyAsync(string app, CancellationToken cancel) =>
        RunAsync(admin => admin.CreateKeyAsync(app, cancel), AdminJsonContext.Default.CreatedKeyDto, cancel);

    public override Task<string> ListKeysAsync(string app, CancellationToken cancel) =>
        RunAsync(async admin => new AdminList<KeyDto>(await admin.ListKeysAsync(app, cancel)), AdminJsonContext.Default.AdminListKeyDto, cancel);

    public override Task<string> RevokeKeyAsync(string key, CancellationToken cancel) =>
        RunAsync(admin => admin.RevokeKeyAsync(key, cancel), AdminJsonContext.Default.KeyDto, cancel);

    public override Task<string> UsageAsync(string app, string? from, string? to, CancellationToken cancel) =>
        RunAsync(async admin => new AdminList<UsageDto>(await admin.UsageAsync(app, from, to, cancel)), AdminJsonContext.Default.AdminListUsageDto, cancel);

    public override async ValueTask DisposeAsync()
    {
        if (_store is not null) await _store.DisposeAsync();
    }
}

/// <summary>Calls a running server's admin API with the admin key.</summary>
internal sealed class RemoteAdminTarget(Uri server, string adminKey) : AdminTarget
{
    private readonly HttpClient _http = new() { BaseAddress = server, Timeout = TimeSpan.FromSeconds(30), DefaultRequestHeaders = { { "Authorization", "Bearer " + adminKey } } };

    private async Task<string> SendAsync(HttpMethod method, string path, object? body, CancellationToken cancel)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(JsonSerializer.Serialize(body), System.Text.Encoding.UTF8, "application/json");
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, cancel);
        }
        catch (HttpRequestException problem)
        {
            throw new UserInputException($"cannot reach {server}: {problem.Message}");
        }
        using (response)
        {
            string text = await response.Content.ReadAsStringAsync(cancel);
            if (response.IsSuccessStatusCode) return text;
            throw new UserInputException($"the server answered {(int)response.StatusCode}: {ErrorMessage(text)}");
        }
    }

    private static string ErrorMessage(string body)
    {
        try
        {
            using var document = JsonDocument.Parse(body);
            return document.RootElement.GetProperty("error").GetProperty("message").GetString() ?? body;
        }
        catch (Exception problem) when (problem is JsonException or KeyNotFoundException or InvalidOperationException)
        {
            return body.Length > 200 ? body[..200] : body;
        }
    }

    public override Task<string> CreateAppAsync(string name, long? dailyTokenQuota, long? requestsPerMinute, long? tokensPerMinute, CancellationToken cancel) =>
        SendAsync(HttpMethod.Post, "/admin/apps", new Dictionary<string, object?>
        {
            ["name"] = name,
            ["daily_token_quota"] = dailyTokenQuota,
            ["requests_per_minute"] = requestsPerMinute,
            ["tokens_per_minute"] = tokensPerMinute,
        }, cancel);

    public override Task<string> ListAppsAsync(CancellationToken cancel) => SendAsync(HttpMethod.Get, "/admin/apps", null, cancel);

    public override Task<string> CreateKeyAsync(string app, CancellationToken cancel) =>
        SendAsync(HttpMethod.Post, $"/admin/apps/{Uri.EscapeDataString(app)}/keys", null, cancel);

    public override Task<string> ListKeysAsync(string app, CancellationToken cancel) =>
        SendAsync(HttpMethod.Get, $"/admin/apps/{Uri.EscapeDataString(app)}/keys", null, cancel);

    public override Task<string> RevokeKeyAsync(string key, CancellationToken cancel) =>
        SendAsync(HttpMethod.Delete, $"/admin/keys/{Uri.EscapeDataString(key)}", null, cancel);

    public override Task<string> UsageAsync(string app, string? from, string? to, CancellationToken cancel)
    {
        string query = "app=" + Uri.EscapeDataString(app) + (from is null ? "" : "&from=" + Uri.EscapeDataString(from)) + (to is null ? "" : "&to=" + Uri.EscapeDataString(to));
        return SendAsync(HttpMethod.Get, "/admin/usage?" + query, null, cancel);
    }

    public override ValueTask DisposeAsync()
    {
        _http.Dispose();
        return ValueTask.CompletedTask;
    }
}
