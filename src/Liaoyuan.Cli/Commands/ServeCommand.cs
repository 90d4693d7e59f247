using System.CommandLine;
using System.Globalization;
using Liaoyuan.Operators.Tensors;
using Liaoyuan.Server;
using Liaoyuan.Server.Scheduling;
using Liaoyuan.Server.Store;

namespace Liaoyuan.Cli.Commands;

/// <summary>`liaoyuan serve`: the OpenAI-compatible HTTP API over one or more models.</summary>
internal static class ServeCommand
{
    public static Command Create(Terminal terminal)
    {
        var models = new Option<string[]>("--model", "-m") { Description = "A model to serve, as PATH, STORE-NAME or ID=PATH|STORE-NAME (repeatable; its id is ID, the store name, or the file name without .gguf)" };
        var lora = new Option<string[]>("--lora") { Description = "Serve a LoRA adapter GGUF as the model BASE:NAME, given as [[BASE:]NAME=]PATH[@SCALE] (repeatable; BASE defaults to the only --model, NAME to the file name, SCALE to 1)" };
        var store = StoreOption.Create();
        var host = new Option<string>("--host") { Description = "Address to listen on", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port", "-p") { Description = "Port to listen on (0 picks a free one)", DefaultValueFactory = _ => 8080 };
        var data = new Option<string?>("--data") { Description = "State folder: liaoyuan.db (apps, keys, usage) and models/, whose GGUF files and the store's models are served too (default: $LIAOYUAN_DATA or ~/.liaoyuan)" };
        var noAuth = new Option<bool>("--no-auth") { Description = "Single-user mode: serve without keys, apps or a database" };
        var adminKey = PlatformOptions.AdminKeyOption("The admin key for /admin (default: $LIAOYUAN_ADMIN_KEY, else the stored one, else one made and printed at the first start)");
        var database = PlatformOptions.DatabaseOption();
        var parallel = new Option<int>("--parallel", "-np") { Description = "Sequences decoded together per model", DefaultValueFactory = _ => 4 };
        var queue = new Option<int>("--queue") { Description = "Requests that may wait per model before new ones get 429", DefaultValueFactory = _ => 64 };
        var context = new Option<int>("--ctx", "-c") { Description = "Context length per sequence (default: the model's, at most 4096)" };
        var kvType = new Option<string>("--kv-type") { Description = "KV cache element type: f16 or f32", DefaultValueFactory = _ => "f16" };
        var threads = new Option<int>("--threads", "-t") { Description = "Compute threads per model (default: all cores)" };
        var kvBudget = new Option<string?>("--kv-budget") { Description = "Memory each model's sequences may keep in KV caches, idle ones kept for prompt reuse included, e.g. 512M; least recently used idle ones are dropped to fit (default: --parallel full-context caches)" };
        var memory = new Option<string?>("--memory-budget") { Description = "Memory loaded models may use, e.g. 16G; idle models are unloaded to fit (default: no limit)" };
        var maxBody = new Option<int>("--max-body-mb") { Description = "Largest request body in MiB", DefaultValueFactory = _ => 8 };

        var command = new Command("serve", "Serve models over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models, /health, /metrics)");
        foreach (var option in new Option[] { models, lora, store, host, port, data, noAuth, adminKey, database, parallel, queue, context, kvType, kvBudget, threads, memory, maxBody })
            command.Options.Add(option);
        command.SetAction(async (parse, cancel) =>
        {
            string dataDirectory = PlatformOptions.DataDirectory(parse.GetValue(data));
            bool open = parse.GetValue(noAuth);
            if (open && (parse.GetValue(adminKey) is not null || parse.GetValue(database) is not null))
                throw new UserInputException("--no-auth serves without keys or a database; leave out --admin-key and --database");
            // In no-auth mode the environment's admin key and database are not used.
            string? admin = open ? null : PlatformOptions.AdminKey(parse.GetValue(adminKey));
            string? databaseName = open ? null : PlatformOptions.Database(parse.GetValue(database));
            string[] named = parse.GetValue(models) ?? [];
            var sources = ModelSources(named, dataDirectory, parse.GetValue(store));
            var options = new ServerOptions
            {
                Models = sources,
                Adapters = (parse.GetValue(lora) ?? []).Select(spec => AdapterSource(spec, sources, named.Length)).ToList(),
                Host = parse.GetValue(host)!,
                Port = Check(parse.GetValue(port), 0, 65535, "--port"),
                DataDirectory = dataDirectory,
                NoAuth = open,
                AdminKey = admin,
                Database = databaseName,
                Threads = Check(parse.GetValue(threads), 0, 1024, "--threads"),
                MemoryBudgetBytes = ParseBytes(parse.GetValue(memory), "--memory-budget"),
                MaxRequestBodyBytes = Check(parse.GetValue(maxBody), 1, 1024, "--max-body-mb") * 1024L * 1024,
                Scheduler = new SchedulerOptions
                {
                    Slots = Check(parse.GetValue(parallel), 1, 256, "--parallel"),
                    QueueCapacity = Check(parse.GetValue(queue), 0, 100_000, "--queue"),
                    ContextLength = Check(parse.GetValue(context), 0, 1 << 20, "--ctx"),
                    KvBudgetBytes = ParseBytes(parse.GetValue(kvBudget), "--kv-budget"),
                    KvType = parse.GetValue(kvType)?.ToLowerInvariant() switch
                    {
                        "f16" or null => GgmlType.F16,
                        "f32" => GgmlType.F32,
                        var other => throw new UserInputException($"--kv-type must be f16 or f32, got '{other}'"),
                    },
                },
            };
            LiaoyuanServer server;
            try
            {
                server = LiaoyuanServer.Create(options);
            }
            catch (ArgumentException problem)
            {
                throw new UserInputException(problem.Message);
            }
            await using (server)
            {
                try
                {
                    await server.StartAsync(cancel);
                }
                catch (Exception problem) when (PlatformOptions.IsDatabaseProblem(problem))
                {
                    throw new UserInputException($"cannot open the database: {problem.Message}");
                }
                if (server.Platform?.GeneratedAdminKey is { } generated)
                {
                    terminal.Out.WriteLine($"Admin key (shown only now; only its hash is stored): {generated}");
                }
                string mode = open ? "no auth" : $"app keys required, {server.Platform!.Store.Backend} database";
                terminal.Out.WriteLine($"Serving {string.Join(", ", options.Models.Select(m => m.Id).Concat(options.Adapters.Select(a => a.Id)))} on {server.BaseAddress} ({mode}). Ctrl+C stops.");
                terminal.Out.Flush();
                try
                {
                    // The host hears Ctrl+C and SIGTERM itself (the command's token does not under a synchronous Invoke).
                    await server.WaitForShutdownAsync(cancel);
                }
                catch (OperationCanceledException)
                {
                }
                await server.StopAsync(CancellationToken.None);
            }
            return 0;
        });
        return command;
    }

    /// <summary>
    /// Models named on the command line, then those in DATA/models and in the model store (by default the same
    /// folder: --store, else $LIAOYUAN_STORE, else DATA/models); the demo model when there are none.
    /// </summary>
    internal static List<ModelSource> ModelSources(IEnumerable<string> given, string dataDirectory, string? storeRoot = null)
    {
        storeRoot ??= Environment.GetEnvironmentVariable("LIAOYUAN_STORE") is { Length: > 0 } fromEnvironment
            ? fromEnvironment : Path.Combine(dataDirectory, "models");
        var sources = new List<ModelSource>();
        foreach (string value in given)
        {
            int equals = value.IndexOf('=');
            bool aliased = !File.Exists(value) && equals > 0;
            var (path, storeName) = ModelLocator.ResolveNamed(aliased ? value[(equals + 1)..] : value, storeRoot);
            sources.Add(new ModelSource(aliased ? value[..equals] : storeName ?? IdOf(path), path));
        }
        string folder = Path.Combine(dataDirectory, "models");
        if (Directory.Exists(folder))
        {
            foreach (string path in Directory.GetFiles(folder, "*.gguf").Order(StringComparer.Ordinal))
            {
                if (sources.All(s => s.Id != IdOf(path))) sources.Add(new ModelSource(IdOf(path), path));
            }
        }
        using (var installed = new ModelStore(storeRoot))
        {
            foreach (var model in installed.List())
            {
                if (sources.All(s => s.Id != model.Name && s.Path != model.Path)) sources.Add(new ModelSource(model.Name, model.Path));
            }
        }
        if (sources.Count == 0)
        {
            string path = ModelLocator.Resolve(null);
            sources.Add(new ModelSource(IdOf(path), path));
        }
        var duplicate = sources.GroupBy(s => s.Id).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new UserInputException($"two models have the id '{duplicate.Key}'; give one a name with --model NAME=PATH");
        return sources;
    }

    /// <summary>
    /// "[[BASE:]NAME=]PATH[@SCALE]" → the adapter served as BASE:NAME. Without BASE the adapter goes on the model given
    /// with --model when there is exactly one (or the only model served); without NAME it is the file name.
    /// </summary>
    internal static AdapterSource AdapterSource(string spec, IReadOnlyList<ModelSource> models, int namedModels)
    {
        int equals = spec.IndexOf('=');
        string? id = !File.Exists(spec) && equals > 0 ? spec[..equals] : null;
        string path = id is null ? spec : spec[(equals + 1)..];
        float scale = 1f;
        int at = path.LastIndexOf('@');
        if (!File.Exists(path) && at > 0)
        {
            if (!float.TryParse(path[(at + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture, out scale) || !float.IsFinite(scale))
                throw new UserInputException($"--lora {spec}: the scale after '@' must be a number, got '{path[(at + 1)..]}'");
            path = path[..at];
        }
        if (!File.Exists(path)) throw new UserInputException($"--lora {spec}: {path}: no such file");
        int colon = id?.LastIndexOf(':') ?? -1;
        string name = colon >= 0 ? id![(colon + 1)..] : id ?? IdOf(path);
        string baseId;
        if (colon >= 0) baseId = id![..colon];
        else if (namedModels == 1 || models.Count == 1) baseId = models[0].Id;
        else throw new UserInputException($"--lora {spec}: say which model the adapter is for, as --lora BASE:NAME=PATH (served: {string.Join(", ", models.Select(m => m.Id))})");
        if (name.Length == 0 || name.Contains(':')) throw new UserInputException($"--lora {spec}: the adapter's name must be non-empty and without ':'");
        return new AdapterSource(baseId, name, path, scale);
    }

    private static string IdOf(string path) => Path.GetFileNameWithoutExtension(path);

    private static int Check(int value, int min, int max, string name) =>
        value >= min && value <= max ? value : throw new UserInputException($"{name} must be from {min} to {max}, got {value}");

    /// <summary>"16G", "512M", "1048576" → bytes.</summary>
    internal static long ParseBytes(string? text, string option = "--memory-budget")
    {
        if (string.IsNullOrWhiteSpace(text)) return 0;
        string t = text.Trim().ToUpperInvariant().TrimEnd('B', 'I');
        long unit = t.EndsWith('K') ? 1L << 10 : t.EndsWith('M') ? 1L << 20 : t.EndsWith('G') ? 1L << 30 : t.EndsWith('T') ? 1L << 40 : 1;
        if (unit > 1) t = t[..^1];
        if (!double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) || number < 0)
            throw new UserInputException($"{option} must be a size such as 16G or 512M, got '{text}'");
        return (long)(number * unit);
    }
}
