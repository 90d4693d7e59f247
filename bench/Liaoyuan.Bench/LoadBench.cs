using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Liaoyuan.Server;
using Liaoyuan.Server.Scheduling;
using Spectre.Console;

namespace Liaoyuan.Bench;

/// <summary>
/// Concurrent streaming clients against the OpenAI-compatible server, started in process on a model file or
/// reached at --url: aggregate tokens/s, time to first token and failures per concurrency level, the 8-to-1
/// aggregate ratio, and with --soak the server's resident memory over a long run.
/// </summary>
public static class LoadBench
{
    private const string Usage =
        "usage: load (MODEL | --url URL --model-id ID) [--clients 1,4,8,16] [--seconds 20] [--max-tokens 64] [--threads T] [--slots N] [--ctx 1024]\n" +
        "            [--api-key K] [--soak MINUTES [--soak-clients 8] [--sample-seconds 5]]";

    private sealed record Outcome(bool Ok, int Tokens, double? FirstTokenSeconds, string? Problem);

    public static async Task<int> RunAsync(string[] args)
    {
        string? url = Text(args, "--url");
        string? model = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : null;
        if ((url is null) == (model is null))
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        int[] levels = (Text(args, "--clients") ?? "1,4,8,16").Split(',').Select(l => int.Parse(l, CultureInfo.InvariantCulture)).ToArray();
        double seconds = double.Parse(Text(args, "--seconds") ?? "20", CultureInfo.InvariantCulture);
        int maxTokens = Number(args, "--max-tokens", 64);
        double? soakMinutes = Text(args, "--soak") is { } soak ? double.Parse(soak, CultureInfo.InvariantCulture) : null;
        int soakClients = Number(args, "--soak-clients", 8);

        LiaoyuanServer? server = null;
        string modelId;
        Uri baseAddress;
        if (model is not null)
        {
            modelId = Path.GetFileNameWithoutExtension(model);
            server = LiaoyuanServer.Create(new ServerOptions
            {
                Models = [new ModelSource(modelId, model)],
                Host = "127.0.0.1",
                Port = 0,
                NoAuth = true,
                Threads = Number(args, "--threads", 0),
                Scheduler = new SchedulerOptions
                {
                    Slots = Number(args, "--slots", Math.Max(levels.Max(), soakMinutes is null ? 1 : soakClients)),
                    ContextLength = Number(args, "--ctx", 1024),
                    QueueCapacity = 1024,
                },
            }, logging => { });
            await server.StartAsync();
            baseAddress = server.BaseAddress;
        }
        else
        {
            modelId = Text(args, "--model-id") ?? throw new ArgumentException("--url needs --model-id");
            baseAddress = new Uri(url!);
        }
        try
        {
            using var http = new HttpClient { BaseAddress = baseAddress, Timeout = TimeSpan.FromMinutes(10) };
            if (Text(args, "--api-key") is { } key) http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
            var client = new StreamingClient(http, modelId, maxTokens);

            var warmUp = await client.RequestAsync(0, 0);
            if (!warmUp.Ok)
            {
                Console.Error.WriteLine($"the warm-up request failed: {warmUp.Problem}");
                return 1;
            }
            AnsiConsole.MarkupLine($"[bold]{Markup.Escape(modelId)}[/] at {baseAddress}, {maxTokens} tokens per request, {seconds:F0} s per level");
            if (soakMinutes is { } minutes)
                return await SoakAsync(client, http, soakClients, TimeSpan.FromMinutes(minutes), Number(args, "--sample-seconds", 5), inProcess: server is not null);

            var table = new Table().AddColumns("clients", "requests", "failed", "tokens", "aggregate t/s", "p50 TTFT ms", "p99 TTFT ms", "sequences/step");
            var aggregates = new Dictionary<int, double>();
            foreach (int clients in levels)
            {
                long stepsBefore = await MetricAsync(http, "liaoyuan_step_sequences_count") ?? 0, sequencesBefore = await MetricAsync(http, "liaoyuan_step_sequences_sum") ?? 0;
                var (outcomes, wall) = await AnsiConsole.Status().StartAsync($"{clients} concurrent streaming clients...",
                    _ => RunLevelAsync(client, clients, TimeSpan.FromSeconds(seconds)));
                int tokens = outcomes.Where(o => o.Ok).Sum(o => o.Tokens);
                var firstTokens = outcomes.Where(o => o.FirstTokenSeconds is not null).Select(o => o.FirstTokenSeconds!.Value * 1000).Order().ToList();
                aggregates[clients] = tokens / wall.TotalSeconds;
                table.AddRow(clients.ToString(CultureInfo.InvariantCulture), outcomes.Count.ToString(CultureInfo.InvariantCulture),
                    outcomes.Count(o => !o.Ok).ToString(CultureInfo.InvariantCulture), tokens.ToString(CultureInfo.InvariantCulture),
                    Format(aggregates[clients]), Format(Percentile(firstTokens, 0.50)), Format(Percentile(firstTokens, 0.99)),
                    Format(await MeanSequencesPerStepAsync(http, stepsBefore, sequencesBefore)));
                foreach (var problem in outcomes.Where(o => !o.Ok).Select(o => o.Problem).Distinct().Take(3))
                    AnsiConsole.MarkupLine($"[red]failed:[/] {Markup.Escape(problem ?? "")}");
            }
            AnsiConsole.Write(table);
            if (aggregates.TryGetValue(1, out double one) && aggregates.TryGetValue(8, out double eight) && one > 0)
                Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"aggregate at 8 clients / 1 client: {eight / one:F2}x"));
            return 0;
        }
        finally
        {
            if (server is not null)
            {
                await server.StopAsync();
                await server.DisposeAsync();
            }
        }
    }

    /// <summary>Each client sends streaming requests back to back until the time is up; returns every outcome and the wall time.</summary>
    private static async Task<(List<Outcome>, TimeSpan)> RunLevelAsync(StreamingClient client, int clients, TimeSpan duration)
    {
        var watch = Stopwatch.StartNew();
        var perClient = await Task.WhenAll(Enumerable.Range(0, clients).Select(async id =>
        {
            var outcomes = new List<Outcome>();
            for (int n = 0; watch.Elapsed < duration; n++) outcomes.Add(await client.RequestAsync(id, n));
            return outcomes;
        }));
        return (perClient.SelectMany(o => o).ToList(), watch.Elapsed);
    }

    private static async Task<int> SoakAsync(StreamingClient client, HttpClient http, int clients, TimeSpan duration, int sampleSeconds, bool inProcess)
    {
        var samples = new List<(TimeSpan At, long Bytes)>();
        long sessions = 0;
        string? breakdown = null;
        var watch = Stopwatch.StartNew();
        var load = RunLevelAsync(client, clients, duration);
        await AnsiConsole.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask($"soak: {clients} clients for {duration.TotalMinutes:F1} min", maxValue: duration.TotalSeconds);
            while (!load.IsCompleted)
            {
                if (await MetricAsync(http, "liaoyuan_process_resident_memory_bytes") is { } bytes) samples.Add((watch.Elapsed, bytes));
                sessions = await MetricAsync(http, "liaoyuan_session_memory_bytes") ?? sessions;
                if (inProcess) breakdown = MemoryBreakdown();
                task.Value = Math.Min(watch.Elapsed.TotalSeconds, duration.TotalSeconds);
                await Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(sampleSeconds)));
            }
            task.Value = duration.TotalSeconds;
        });
        var (outcomes, wall) = await load;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"soak: {outcomes.Count} requests, {outcomes.Count(o => !o.Ok)} failed, aggregate {outcomes.Where(o => o.Ok).Sum(o => o.Tokens) / wall.TotalSeconds:F1} t/s"));
        if (samples.Count == 0)
        {
            Console.Error.WriteLine("the server's /metrics reported no liaoyuan_process_resident_memory_bytes");
            return 1;
        }
        static string MiB(long bytes) => (bytes / 1048576.0).ToString("F1", CultureInfo.InvariantCulture);
        Console.WriteLine($"resident memory over {samples.Count} samples: first {MiB(samples[0].Bytes)} MiB, last {MiB(samples[^1].Bytes)} MiB, max {MiB(samples.Max(s => s.Bytes))} MiB");
        // The whole series, so warm-up (KV pages touched for the first time) can be told from growth.
        Console.WriteLine("  " + string.Join(", ", samples.Select(s => $"{s.At.TotalMinutes:F1} min {MiB(s.Bytes)}")));
        var secondHalf = samples.Where(s => s.At >= samples[^1].At / 2).ToList();
        Console.WriteLine($"second half: min {MiB(secondHalf.Min(s => s.Bytes))} MiB, max {MiB(secondHalf.Max(s => s.Bytes))} MiB");
        Console.WriteLine($"kept by the scheduler's sessions and buffers at the last sample: {MiB(sessions)} MiB");
        if (breakdown is not null) Console.WriteLine($"this process at the last sample: {breakdown}");
        return outcomes.Any(o => !o.Ok) ? 1 : 0;
    }

    /// <summary>Where this process's memory is (the server runs in it): anonymous vs file-backed resident pages and the GC heap.</summary>
    private static string MemoryBreakdown()
    {
        static string Field(string name) => File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith(name + ":", StringComparison.Ordinal))?[(name.Length + 1)..].Trim() ?? "?";
        var gc = GC.GetGCMemoryInfo();
        return string.Create(CultureInfo.InvariantCulture,
            $"RssAnon {Field("RssAnon")}, RssFile {Field("RssFile")}, GC heap {gc.HeapSizeBytes >> 20} MiB, committed {gc.TotalCommittedBytes >> 20} MiB, fragmented {gc.FragmentedBytes >> 20} MiB, gen2 collections {GC.CollectionCount(2)}");
    }

    /// <summary>How many sequences shared a forward pass on average since the counts given (NaN without the server's histogram).</summary>
    private static async Task<double> MeanSequencesPerStepAsync(HttpClient http, long stepsBefore, long sequencesBefore)
    {
        long steps = (await MetricAsync(http, "liaoyuan_step_sequences_count") ?? 0) - stepsBefore;
        long sequences = (await MetricAsync(http, "liaoyuan_step_sequences_sum") ?? 0) - sequencesBefore;
        return steps > 0 ? (double)sequences / steps : double.NaN;
    }

    /// <summary>A gauge from the server's /metrics endpoint, summed over its series.</summary>
    private static async Task<long?> MetricAsync(HttpClient http, string name)
    {
        try
        {
            string metrics = await http.GetStringAsync("/metrics");
            long? total = null;
            foreach (string line in metrics.Split('\n'))
            {
                if (!line.StartsWith(name, StringComparison.Ordinal) || (line.Length > name.Length && line[name.Length] is not (' ' or '{'))) continue;
                string[] parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length >= 2 && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double value)) total = (total ?? 0) + (long)value;
            }
            return total;
        }
        catch (HttpRequestException)
        {
        }
        return null;
    }

    private sealed class StreamingClient(HttpClient http, string modelId, int maxTokens)
    {
        public async Task<Outcome> RequestAsync(int client, int request)
        {
            var body = JsonSerializer.Serialize(new Dictionary<string, object>
            {
                ["model"] = modelId,
                ["messages"] = new[] { new Dictionary<string, string> { ["role"] = "user", ["content"] = $"Client {client}, request {request}: tell me a long story about the sea." } },
                ["max_tokens"] = maxTokens,
                ["temperature"] = 0.8,
                ["seed"] = client * 100_000 + request,
                ["stream"] = true,
                ["stream_options"] = new Dictionary<string, bool> { ["include_usage"] = true },
            });
            var watch = Stopwatch.StartNew();
            try
            {
                using var message = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
                using var response = await http.SendAsync(message, HttpCompletionOption.ResponseHeadersRead);
                if (!response.IsSuccessStatusCode) return new(false, 0, null, $"HTTP {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync()}");
                using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
                double? firstToken = null;
                int tokens = 0;
                bool done = false;
                while (await reader.ReadLineAsync() is { } line)
                {
                    if (!line.StartsWith("data: ", StringComparison.Ordinal)) continue;
                    if (line == "data: [DONE]") { done = true; break; }
                    using var chunk = JsonDocument.Parse(line.AsMemory(6));
                    var root = chunk.RootElement;
                    if (root.TryGetProperty("error", out var error)) return new(false, 0, firstToken, error.GetProperty("message").GetString());
                    if (root.TryGetProperty("usage", out var usage) && usage.ValueKind == JsonValueKind.Object) tokens = usage.GetProperty("completion_tokens").GetInt32();
                    if (firstToken is null && root.GetProperty("choices") is { } choices && choices.GetArrayLength() > 0
                        && choices[0].GetProperty("delta").TryGetProperty("content", out var content) && content.GetString() is { Length: > 0 })
                        firstToken = watch.Elapsed.TotalSeconds;
                }
                return done ? new(true, tokens, firstToken, null) : new(false, tokens, firstToken, "the stream ended without [DONE]");
            }
            catch (Exception problem) when (problem is HttpRequestException or IOException or JsonException or TaskCanceledException)
            {
                return new(false, 0, null, problem.Message);
            }
        }
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    private static string Format(double value) => double.IsNaN(value) ? "-" : value.ToString("F1", CultureInfo.InvariantCulture);

    private static string? Text(string[] args, string name)
    {
        int at = Array.IndexOf(args, name);
        return at >= 0 && at + 1 < args.Length ? args[at + 1] : null;
    }

    private static int Number(string[] args, string name, int fallback) =>
        Text(args, name) is { } text ? int.Parse(text, CultureInfo.InvariantCulture) : fallback;
}
