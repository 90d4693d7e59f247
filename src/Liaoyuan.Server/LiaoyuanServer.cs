using System.Net;
using Liaoyuan.Server.Api;
using Liaoyuan.Server.Hosting;
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
/// <c>/health</c> and <c>/metrics</c> on Kestrel, over one scheduler per loaded model.
/// </summary>
public sealed class LiaoyuanServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private LiaoyuanServer(WebApplication app, ServerOptions options)
    {
        _app = app;
        Options = options;
    }

    public ServerOptions Options { get; }
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
        if (!options.NoAuth && options.ApiKeys.Count == 0)
            throw new ArgumentException("the server needs API keys or no-auth mode");
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
        builder.Services.AddOpenTelemetry().WithMetrics(metrics => metrics.AddMeter(ServerMetrics.MeterName).AddPrometheusExporter());

        var app = builder.Build();
        app.Use(ErrorHandling.CatchAsync);
        app.UseStatusCodePages(ErrorHandling.StatusCodePageAsync);
        if (!options.NoAuth) app.Use(new ApiKeyCheck(options.ApiKeys).InvokeAsync);
        app.MapPost("/v1/chat/completions", ChatCompletionsEndpoint.HandleAsync);
        app.MapPost("/v1/completions", CompletionsEndpoint.HandleAsync);
        app.MapGet("/v1/models", ModelsEndpoint.List);
        app.MapGet("/v1/models/{**id}", ModelsEndpoint.Get); // store names contain '/'
        app.MapGet("/health", ModelsEndpoint.Health);
        app.MapPrometheusScrapingEndpoint("/metrics");
        return new LiaoyuanServer(app, options);
    }

    public Task StartAsync(CancellationToken cancel = default) => _app.StartAsync(cancel);

    public Task StopAsync(CancellationToken cancel = default) => _app.StopAsync(cancel);

    /// <summary>
    /// Completes when the host shuts down: the host's own SIGTERM / Ctrl+C handling stops it, and a caller waiting
    /// on anything else would not notice.
    /// </summary>
    public Task WaitForShutdownAsync(CancellationToken cancel = default) => _app.WaitForShutdownAsync(cancel);

    /// <summary>Runs until the process is asked to stop (Ctrl+C, SIGTERM).</summary>
    public async Task RunAsync(CancellationToken cancel = default)
    {
        await _app.StartAsync(cancel);
        await _app.WaitForShutdownAsync(cancel);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
    }
}
