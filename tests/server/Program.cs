// SignalR interop test server for libsignalr.
//
// Usage: dotnet SignalRTestServer.dll [--parent-pid N] [--port N] [--https-port N] [--cert-dir DIR]
//        [--redis HOST:PORT] [--node NAME] [--service-url URL] [--jwt-key KEY]   (Cluster.cs)
//
// The FIRST line written to stdout is a single JSON object describing the server
// (see README.md). All logging goes to stderr.

using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.Extensions.DependencyInjection.Extensions;
using SignalRTestServer;
using SignalRTestServer.Hubs;

var opts = CommandLine.Parse(args);

var cert = CertificateFactory.Create(opts.CertDir);

var builder = WebApplication.CreateBuilder(new WebApplicationOptions
{
    Args = Array.Empty<string>(),
    ContentRootPath = AppContext.BaseDirectory,
});

// ---- logging: everything to stderr, modest verbosity --------------------------------
builder.Logging.ClearProviders();
builder.Logging.AddSimpleConsole(o =>
{
    o.SingleLine = true;
    o.TimestampFormat = "HH:mm:ss.fff ";
});
builder.Services.Configure<Microsoft.Extensions.Logging.Console.ConsoleLoggerOptions>(o =>
    o.LogToStandardErrorThreshold = LogLevel.Trace);
builder.Logging.SetMinimumLevel(LogLevel.Warning);
// SIGNALR_TEST_SERVER_LOG=Debug (or Trace) shows what SignalR's dispatcher and transports did
// with each message (CancelStream, UnexpectedCancel, ...) when a test needs explaining.
var signalrLevel = Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("SIGNALR_TEST_SERVER_LOG"), true,
    out var parsedLevel) ? parsedLevel : LogLevel.Information;
builder.Logging.AddFilter("Microsoft.AspNetCore.SignalR", signalrLevel);
builder.Logging.AddFilter("Microsoft.AspNetCore.Http.Connections", signalrLevel);
builder.Logging.AddFilter("SignalRTestServer", LogLevel.Information);
builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);

// ---- Kestrel: HTTP + HTTPS on loopback ------------------------------------------------
builder.WebHost.ConfigureKestrel(k =>
{
    // Explicit (these are Kestrel's defaults): a 64 KB access token in a header gives 431,
    // in the query string (request line > 8 KB) gives 414.
    k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
    k.Limits.MaxRequestLineSize = 8 * 1024;
    k.Listen(IPAddress.Loopback, opts.Port);
    // Scale tests (tools/bench/many.sh): the same HTTP port on 127.0.0.2.., so that one client
    // can hold more connections than the ~28k ephemeral ports of one address pair.
    for (var i = 0; i < opts.ExtraLoopback && opts.Port != 0; i++)
        k.Listen(IPAddress.Parse($"127.0.0.{i + 2}"), opts.Port);
    k.Listen(IPAddress.Loopback, opts.HttpsPort, lo => lo.UseHttps(cert.Certificate));
    DoctorEndpoints.ListenTls(k, cert.Dir); // certificates with one fault each (DoctorEndpoints.cs)
});

// ---- SignalR ----------------------------------------------------------------------------
builder.Services.AddSingleton(typeof(HubLifetimeManager<>), typeof(TrackingHubLifetimeManager<>));
builder.Services.AddSingleton<ConnectionRegistry>();

builder.Services.AddSignalR(o =>
    {
        o.EnableDetailedErrors = false;
        // The default (1): invocations from one client run one at a time, in order.
        // Client results awaited inside a hub method (GetClientResult) still work with it.
        o.MaximumParallelInvocationsPerClient = 1;
    })
    // Payload property names stay PascalCase (no camelCase policy) so that JSON and
    // MessagePack payloads look the same, like Microsoft's SignalR functional-test server.
    .AddJsonProtocol(o => o.PayloadSerializerOptions.PropertyNamingPolicy = null)
    // --redis: several servers share one Redis backplane (tests/harness/cluster.py).
    .AddClusterBackplane(opts.Cluster)
    // Microsoft's MessagePack hub protocol (Microsoft.AspNetCore.SignalR.Protocols.MessagePack):
    // every MessagePack test runs against Microsoft's encoder and decoder.
    .AddMessagePackProtocol()
    .AddHubOptions<TestHub>(o => o.EnableDetailedErrors = true)
    .AddHubOptions<NoDetailHub>(o => o.EnableDetailedErrors = false)
    .AddHubOptions<ShortTimeoutHub>(o =>
    {
        o.EnableDetailedErrors = true;
        o.KeepAliveInterval = TimeSpan.FromSeconds(1);
        o.ClientTimeoutInterval = TimeSpan.FromSeconds(3);
        o.HandshakeTimeout = TimeSpan.FromSeconds(3);
    })
    .AddHubOptions<SilentHub>(o =>
    {
        o.EnableDetailedErrors = true;
        o.KeepAliveInterval = TimeSpan.FromHours(1);
        o.ClientTimeoutInterval = TimeSpan.FromHours(2);
    })
    .AddHubOptions<SmallBufferHub>(o =>
    {
        o.EnableDetailedErrors = true;
        o.StatefulReconnectBufferSize = 1000;
    })
    .AddHubOptions<JsonOnlyHub>(o => o.SupportedProtocols = new List<string> { "json" })
    // signalr bench --large: a 100 KB echo per connection (the default limit is 32 KB).
    .AddHubOptions<BenchHub>(o => o.MaximumReceiveMessageSize = 1024 * 1024);

// ---- authentication: a tiny bearer-token scheme (no JwtBearer package) -----------------
builder.Services.AddAuthentication(TokenAuthHandler.SchemeName)
    .AddScheme<AuthenticationSchemeOptions, TokenAuthHandler>(TokenAuthHandler.SchemeName, null);
builder.Services.AddAuthorization();
// The user id provider, the app server/service JWT scheme (Cluster.cs).
builder.AddCluster(opts.Cluster);
// Nothing is persisted: keep data-protection keys in memory (no ~/.aspnet writes, no warning).
builder.Services.AddDataProtection().UseEphemeralDataProtectionProvider();

var app = builder.Build();
var registry = app.Services.GetRequiredService<ConnectionRegistry>();
var serverInfo = new ServerInfo();

// Rewrites that must happen before routing.
app.Use(async (ctx, next) =>
{
    var path = ctx.Request.Path.Value ?? "";
    // /hubs/v0/negotiate: force negotiate version 0 on a real hub endpoint (no connectionToken;
    // the client must use connectionId as the transport id).
    if (path.Equals("/hubs/v0/negotiate", StringComparison.OrdinalIgnoreCase))
    {
        var q = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(ctx.Request.QueryString.Value);
        q["negotiateVersion"] = "0";
        var qb = new Microsoft.AspNetCore.Http.Extensions.QueryBuilder(
            q.SelectMany(kv => kv.Value.Select(v => new KeyValuePair<string, string>(kv.Key, v ?? ""))));
        ctx.Request.QueryString = qb.ToQueryString();
    }
    // /hubs/ws-rejected: negotiate advertises WebSockets, but the WebSocket upgrade request is
    // refused with 503 (like a proxy that blocks WebSockets) -> clients must fall back.
    if (path.Equals("/hubs/ws-rejected", StringComparison.OrdinalIgnoreCase)
        && ctx.Request.Headers.Upgrade.ToString().Contains("websocket", StringComparison.OrdinalIgnoreCase))
    {
        ctx.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        await ctx.Response.WriteAsync("WebSockets are blocked on this endpoint");
        return;
    }
    // /hubs/cookie/negotiate: the negotiate response sets cookies that the client must replay
    // (one valid, one already expired that it must NOT replay).
    if (path.Equals("/hubs/cookie/negotiate", StringComparison.OrdinalIgnoreCase))
    {
        ctx.Response.OnStarting(() =>
        {
            ctx.Response.Headers.Append("Set-Cookie", "testCookie=negotiate-cookie; Path=/");
            ctx.Response.Headers.Append("Set-Cookie",
                "expiredCookie=should-not-be-sent; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
            return Task.CompletedTask;
        });
    }
    await next(ctx);
});

app.UseServiceRewrite();
DoctorEndpoints.Add(app); // hubs for `signalr doctor`'s failure cases (DoctorEndpoints.cs)
app.UseRouting();
app.UseAuthentication();
app.UseAuthorization();

// ---- hub endpoints -----------------------------------------------------------------------
app.MapHub<TestHub>("/hubs/test");
app.MapHub<NoDetailHub>("/hubs/test-nodetail");
app.MapHub<TestHub>("/hubs/no-websockets", o =>
    o.Transports = HttpTransportType.ServerSentEvents | HttpTransportType.LongPolling);
app.MapHub<TestHub>("/hubs/longpolling", o => o.Transports = HttpTransportType.LongPolling);
app.MapHub<TestHub>("/hubs/sse", o => o.Transports = HttpTransportType.ServerSentEvents);
app.MapHub<TestHub>("/hubs/websockets", o => o.Transports = HttpTransportType.WebSockets);
app.MapHub<TestHub>("/hubs/stateful", o => o.AllowStatefulReconnects = true);
app.MapHub<SmallBufferHub>("/hubs/stateful-smallbuffer", o => o.AllowStatefulReconnects = true);
app.MapHub<JsonOnlyHub>("/hubs/json-only");
app.MapHub<TestHub>("/hubs/auth").RequireAuthorization();
app.MapHub<ShortTimeoutHub>("/hubs/short-timeout");
app.MapHub<SilentHub>("/hubs/silent");
app.MapHub<BenchHub>("/hubs/bench"); // signalr bench (tools/cli/bench.c)
app.MapHub<TestHub>("/hubs/v0");
app.MapHub<TestHub>("/hubs/cookie");
ApiEndpoints.Map(app); // /hubs/api: what each request carried (ApiEndpoints.cs)
app.MapHub<TestHub>("/hubs/ws-rejected");
app.MapHub<TestHub>("/hubs/short-disconnect", o =>
{
    o.Transports = HttpTransportType.LongPolling;
    o.LongPolling.PollTimeout = TimeSpan.FromSeconds(2);
    o.TransportMaxBufferSize = 64 * 1024;
});

// Azure-SignalR-style app server (/app/negotiate) and service (/client/?hub=NAME).
app.MapCluster(opts.Cluster, serverInfo);

// ---- plain HTTP endpoints ----------------------------------------------------------------
string[] getPost = { "GET", "POST" };

app.MapGet("/health", () => Results.Text("ok"));
app.MapGet("/info", () => Results.Text(serverInfo.Json, "application/json"));

// Token endpoint: GET or POST /token?user=alice[&expiresIn=seconds] -> plain-text token.
app.MapMethods("/token", getPost, (HttpContext ctx) =>
{
    var user = ctx.Request.Query["user"].FirstOrDefault();
    if (string.IsNullOrEmpty(user)) user = "testuser";
    long? expiresIn = long.TryParse(ctx.Request.Query["expiresIn"].FirstOrDefault(), out var e) ? e : null;
    return Results.Text(TokenAuthHandler.IssueToken(user, expiresIn), "text/plain");
});

// Azure-SignalR-style negotiate redirects.
app.MapMethods("/redirect/url/negotiate", getPost, () =>
    Json(new { url = serverInfo.Http + "/hubs/test?redirects=1" }));
app.MapMethods("/redirect/token/negotiate", getPost, (HttpContext ctx) =>
{
    var user = ctx.Request.Query["user"].FirstOrDefault();
    if (string.IsNullOrEmpty(user)) user = "redirected-user";
    return Json(new
    {
        url = serverInfo.Http + "/hubs/auth?redirects=1",
        accessToken = TokenAuthHandler.IssueToken(user, null),
    });
});
app.MapMethods("/redirect/https/negotiate", getPost, () =>
    Json(new { url = serverInfo.Https + "/hubs/test?redirects=1" }));
// Reached over https, redirects to http: the client must refuse the downgrade by default.
app.MapMethods("/redirect/downgrade/negotiate", getPost, () =>
    Json(new { url = serverInfo.Http + "/hubs/test?redirects=1", accessToken = "secret-token" }));
app.MapMethods("/redirect/loop/negotiate", getPost, (HttpContext ctx) =>
{
    var hop = int.TryParse(ctx.Request.Query["hop"].FirstOrDefault(), out var h) ? h : 0;
    serverInfo.RecordLoopHop(hop);
    return Json(new { url = serverInfo.Http + "/redirect/loop?hop=" + (hop + 1) });
});
app.MapGet("/redirect/loop/stats", () => Json(new { lastHop = serverInfo.LastLoopHop, requests = serverInfo.LoopRequests }));
app.MapMethods("/redirect/chain/{n:int}/negotiate", getPost, (int n, HttpContext ctx) =>
{
    var r = int.TryParse(ctx.Request.Query["redirects"].FirstOrDefault(), out var rr) ? rr : 0;
    var url = n > 1
        ? $"{serverInfo.Http}/redirect/chain/{n - 1}?redirects={r + 1}"
        : $"{serverInfo.Http}/hubs/test?redirects={r + 1}";
    return Json(new { url });
});

// Negotiate answering HTTP 200 with an error.
app.MapMethods("/negotiate-error/negotiate", getPost, () =>
    Json(new { error = "This connection is not allowed." }));

// Old ASP.NET (non-Core) SignalR negotiate body: contains ProtocolVersion.
app.MapMethods("/legacy/negotiate", getPost, () => Json(new Dictionary<string, object>
{
    ["Url"] = "/legacy",
    ["ConnectionToken"] = "legacy-token",
    ["ConnectionId"] = "legacy-connection-id",
    ["KeepAliveTimeout"] = 20.0,
    ["DisconnectTimeout"] = 30.0,
    ["ConnectionTimeout"] = 110.0,
    ["TryWebSockets"] = true,
    ["ProtocolVersion"] = "1.5",
    ["TransportConnectTimeout"] = 5.0,
    ["LongPollDelay"] = 0.0,
}));

// Negotiate (or anything) answering a given HTTP status: /status/{code}/negotiate.
app.MapMethods("/status/{code:int}/{**rest}", new[] { "GET", "POST", "DELETE" }, (int code) =>
    Results.Text($"status {code}", "text/plain", statusCode: code));

// HTTP -> HTTPS redirect (307 keeps method and body): /https-redirect/<path> -> <https>/<path>.
app.MapMethods("/https-redirect/{**rest}", new[] { "GET", "POST", "DELETE" }, (string? rest, HttpContext ctx) =>
{
    ctx.Response.StatusCode = StatusCodes.Status307TemporaryRedirect;
    ctx.Response.Headers.Location = serverInfo.Https + "/" + (rest ?? "") + ctx.Request.QueryString.Value;
    return Task.CompletedTask;
});

// Test-state helpers reachable over plain HTTP too.
app.MapGet("/state/stream-canceled/{key}", (string key) => Json(new { key, canceled = TestState.WasStreamCanceled(key) }));
app.MapGet("/state/cancel-count", () => Json(new { count = TestState.CancelCount }));

// ---- start ---------------------------------------------------------------------------------
await app.StartAsync();

var addresses = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
serverInfo.Http = addresses.First(a => a.StartsWith("http://", StringComparison.Ordinal)).TrimEnd('/');
serverInfo.Https = addresses.First(a => a.StartsWith("https://", StringComparison.Ordinal)).TrimEnd('/');
var protocols = app.Services.GetServices<IHubProtocol>().Select(p => p.Name).Distinct().ToArray();
serverInfo.Json = JsonSerializer.Serialize(new Dictionary<string, object?>
{
    ["http"] = serverInfo.Http,
    ["https"] = serverInfo.Https,
    ["cert"] = cert.PemPath,
    ["messagepack"] = protocols.Contains("messagepack"),
    ["protocols"] = protocols,
    ["pid"] = Environment.ProcessId,
    ["node"] = opts.Cluster.Node,
    ["redis"] = opts.Cluster.Redis,
    ["version"] = 1,
});

// The one line the harness waits for. Nothing was written to stdout before it.
var stdout = Console.Out;
stdout.WriteLine(serverInfo.Json);
stdout.Flush();

var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
if (opts.ParentPid is int parentPid)
{
    ParentWatchdog.Start(parentPid, lifetime, app.Logger);
}

lifetime.ApplicationStopping.Register(() => CertificateFactory.Cleanup(cert));
await app.WaitForShutdownAsync();
CertificateFactory.Cleanup(cert);
return 0;

static IResult Json(object body) => Results.Json(body);

namespace SignalRTestServer
{
    public sealed class ServerInfo
    {
        private int _lastLoopHop;
        private int _loopRequests;
        public string Http { get; set; } = "";
        public string Https { get; set; } = "";
        public string Json { get; set; } = "{}";
        public int LastLoopHop => Volatile.Read(ref _lastLoopHop);
        public int LoopRequests => Volatile.Read(ref _loopRequests);
        public void RecordLoopHop(int hop)
        {
            Volatile.Write(ref _lastLoopHop, hop);
            Interlocked.Increment(ref _loopRequests);
        }
    }

    public sealed record CommandLine(int? ParentPid, int Port, int HttpsPort, string? CertDir, ClusterOptions Cluster,
                                     int ExtraLoopback)
    {
        public static CommandLine Parse(string[] args)
        {
            int? parent = null;
            int port = 0, httpsPort = 0, extraLoopback = 0;
            string? certDir = null;
            var cluster = new ClusterOptions();
            for (var i = 0; i < args.Length; i++)
            {
                string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
                switch (args[i])
                {
                    case "--parent-pid": parent = int.Parse(Next()); break;
                    case "--port": port = int.Parse(Next()); break;
                    case "--https-port": httpsPort = int.Parse(Next()); break;
                    case "--cert-dir": certDir = Next(); break;
                    case "--extra-loopback": extraLoopback = int.Parse(Next()); break;
                    default:
                        if (cluster.TryParse(args[i], Next)) break;
                        Console.Error.WriteLine($"unknown argument: {args[i]}");
                        Environment.Exit(2);
                        break;
                }
            }
            return new CommandLine(parent, port, httpsPort, certDir, cluster, extraLoopback);
        }
    }

    public static class ParentWatchdog
    {
        public static void Start(int pid, IHostApplicationLifetime lifetime, ILogger logger)
        {
            var thread = new Thread(() =>
            {
                while (true)
                {
                    if (!IsAlive(pid))
                    {
                        logger.LogWarning("Parent process {Pid} is gone; shutting down.", pid);
                        lifetime.StopApplication();
                        // Hard exit if graceful shutdown takes too long.
                        Thread.Sleep(700);
                        Environment.Exit(0);
                    }
                    Thread.Sleep(200);
                }
            })
            { IsBackground = true, Name = "parent-watchdog" };
            thread.Start();
        }

        private static bool IsAlive(int pid)
        {
            // /proc is authoritative on Linux and also lets us treat zombies as dead.
            var stat = $"/proc/{pid}/stat";
            if (OperatingSystem.IsLinux())
            {
                try
                {
                    var text = File.ReadAllText(stat);
                    var close = text.LastIndexOf(')');
                    return close < 0 || close + 2 >= text.Length || text[close + 2] != 'Z';
                }
                // Gone is "no such file"; any other failure (EMFILE when a scale test holds every
                // descriptor this process may have) says nothing about the parent.
                catch (FileNotFoundException) { return false; }
                catch (DirectoryNotFoundException) { return false; }
                catch (IOException) { return true; }
                catch (UnauthorizedAccessException) { return true; }
            }
            try
            {
                using var p = Process.GetProcessById(pid);
                return !p.HasExited;
            }
            catch (ArgumentException) { return false; }
            catch (InvalidOperationException) { return false; }
        }
    }
}
