using System.Net;
using Liaoyuan.Server.Api;
using Liaoyuan.Server.Hosting;
using Liaoyuan.Server.Platform;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using OpenTelemetry.Metrics;

namespace Liaoyuan.Server;

/// <summary>
/// The OpenAI-compatible HTTP server: <c>/v1/chat/completions</c>, <c>/v1/completions</c>, <c>/v1/models</c>,
/// <c>/health</c> and <c>/metrics</c> on Kestrel, over one scheduler per loaded model. Unless in no-auth mode,
/// callers are apps with keys, quotas and usage records kept in a database, managed through <c>/admin</c>.
/// </summary>
public sealed class LiaoyuanServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly PlatformHolder _platform;

    private LiaoyuanServer(WebApplication app, ServerOptions options, PlatformHolder platform)
    {
        _app = app;
        Options = options;
        _platform = platform;
    }

    public ServerOptions Options { get; }

    /// <summary>Apps, keys and usage once started; null in no-auth mode.</summary>
    public PlatformServices? Platform => _platform.Value;
    public ModelRegistry Registry => _app.Services.GetRequiredService<ModelRegistry>();

    /// <summary>The address the server listens on, with the actual port when port 0 was asked for.</summary>
    public Uri BaseAddress
    {
        get
        {
            var addresses = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
            return new Uri(addresses.First());
        }
    }

    public static LiaoyuanServer Create(ServerOptions options, Action<ILoggingBuilder>? logging = null)
    {
        if (!options.NoAuth && options.DataDirectory is null && options.Database is null)
            throw new ArgumentException("the server needs a data folder or a database for apps and keys, or no-auth mode");
        ModelRegistry.CheckAtStart(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        if (logging is not null) logging(builder.Logging);
        else builder.Logging.AddSimpleConsole(console => console.SingleLine = true).SetMinimumLevel(LogLevel.Information)
            .AddFilter("Microsoft", LogLevel.Warning);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes;
            kestrel.AddServerHeader = false;
            if (IPAddress.TryParse(options.Host, out var address)) kestrel.Listen(address, options.Port);
            else if (options.Host == "localhost") kestrel.ListenLocalhost(options.Port);
            else throw new ArgumentException($"host must be an IP address or localhost, got '{options.Host}'");
        });
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton<ModelRegistry>();
        var platform = new PlatformHolder();
        builder.Services.AddSingleton(_ => platform.Value ?? throw new InvalidOperationException("the platform is used before the server started"));
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(ServerMetrics.MeterName).AddPrometheusExporter());

        var app = builder.Build();
        app.Use(ErrorHandling.CatchAsync);
        app.UseStatusCodePages(ErrorHandling.StatusCodePageAsync);
        if (!options.NoAuth)
        {
            app.Use((http, next) => new PlatformGate(platform.Value!).InvokeAsync(http, next));
            AdminEndpoints.Map(app);
        }
        app.MapPost("/v1/chat/completions", ChatCompletionsEndpoint.HandleAsync);
        app.MapPost("/v1/completions", CompletionsEndpoint.HandleAsync);
        app.MapGet("/v1/models", ModelsEndpoint.List);
        app.MapGet("/v1/models/{**id}", ModelsEndpoint.Get); // store names contain '/'
        app.MapGet("/health", ModelsEndpoint.Health);
        app.MapPrometheusScrapingEndpoint("/metrics");
        return new LiaoyuanServer(app, options, platform);
    }

    /// <summary>Opens the database (creating or upgrading its schema) unless in no-auth mode, then listens.</summary>
    public async Task StartAsync(CancellationToken cancel = default)
    {
        if (!Options.NoAuth && _platform.Value is null) _platform.Value = await PlatformServices.StartAsync(Options, cancel);
        await _app.StartAsync(cancel);
    }

    public Task StopAsync(CancellationToken cancel = default) => _app.StopAsync(cancel);

    /// <summary>Completes when the process is asked to stop (Ctrl+C, SIGTERM) or <paramref name="cancel"/> fires.</summary>
    public Task WaitForShutdownAsync(CancellationToken cancel = default) => _app.WaitForShutdownAsync(cancel);

    /// <summary>Runs until the process is asked to stop (Ctrl+C, SIGTERM).</summary>
    public async Task RunAsync(CancellationToken cancel = default)
    {
        await StartAsync(cancel);
        await _app.WaitForShutdownAsync(cancel);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        if (_platform.Value is { } platform) await platform.DisposeAsync();
    }

    private sealed class PlatformHolder
    {
        public PlatformServices? Value { get; set; }
    }
}
