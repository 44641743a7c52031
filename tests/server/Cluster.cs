// Scale-out options of the test server (tests/harness/cluster.py starts several of them):
// a Redis backplane (Microsoft.AspNetCore.SignalR.StackExchangeRedis), a user id taken from
// the request, and an Azure-SignalR-style "app server" + "service" pair (negotiate redirect
// with an HS256 JWT the two share). Without the options the server behaves as before, except
// that the new endpoints (/app, /client, /cluster/*) exist.
using System.Collections.Concurrent;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using System.Text.Encodings.Web;
using System.Text.Json;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;
using Microsoft.AspNetCore.SignalR.StackExchangeRedis;
using Microsoft.Extensions.Options;
using SignalRTestServer.Hubs;

namespace SignalRTestServer;

public sealed class ClusterOptions
{
    /// <summary>--redis HOST:PORT: the Redis backplane; null = a single server, as before.</summary>
    public string? Redis { get; set; }
    /// <summary>--node NAME: reported by /info and the hub method GetNode.</summary>
    public string Node { get; set; } = "single";
    /// <summary>--service-url URL: where the app server's negotiate sends clients (default: itself).</summary>
    public string? ServiceUrl { get; set; }
    /// <summary>--jwt-key KEY: HMAC-SHA256 key shared by app server and service.</summary>
    public string JwtKey { get; set; } = "libsignalr-cluster-jwt-key-not-a-secret-0123456789";

    public bool TryParse(string arg, Func<string> next)
    {
        switch (arg)
        {
            case "--redis": Redis = next(); return true;
            case "--node": Node = next(); return true;
            case "--service-url": ServiceUrl = next().TrimEnd('/'); return true;
            case "--jwt-key": JwtKey = next(); return true;
            default: return false;
        }
    }
}

/// <summary>
/// Clients.User(...) needs a user id: ?userId= (or the X-User-Id header) on the hub URL, else the
/// authenticated name identifier (what the default provider uses, so existing hubs are unchanged).
/// </summary>
public sealed class RequestUserIdProvider : IUserIdProvider
{
    public string? GetUserId(HubConnectionContext connection)
    {
        var http = connection.GetHttpContext();
        var q = http?.Request.Query["userId"].FirstOrDefault();
        if (!string.IsNullOrEmpty(q)) return q;
        var h = http?.Request.Headers["X-User-Id"].FirstOrDefault();
        if (!string.IsNullOrEmpty(h)) return h;
        return connection.User?.FindFirst(ClaimTypes.NameIdentifier)?.Value;
    }
}

/// <summary>The Redis lifetime manager plus the connection registry TrackingHubLifetimeManager keeps.</summary>
public sealed class TrackingRedisHubLifetimeManager<THub> : RedisHubLifetimeManager<THub> where THub : Hub
{
    private readonly ConnectionRegistry _registry;

    public TrackingRedisHubLifetimeManager(ILogger<RedisHubLifetimeManager<THub>> logger,
        IOptions<RedisOptions> options, IHubProtocolResolver resolver, IOptions<HubOptions> globalHubOptions,
        IOptions<HubOptions<THub>> hubOptions, ConnectionRegistry registry)
        : base(logger, options, resolver, globalHubOptions, hubOptions)
    {
        _registry = registry;
    }

    public override Task OnConnectedAsync(HubConnectionContext connection)
    {
        _registry.Add(connection);
        return base.OnConnectedAsync(connection);
    }

    public override Task OnDisconnectedAsync(HubConnectionContext connection)
    {
        _registry.Remove(connection);
        return base.OnDisconnectedAsync(connection);
    }
}

/// <summary>HS256 JSON Web Tokens, by hand: JwtBearer is a NuGet package, not part of the shared framework.</summary>
public static class Jwt
{
    private static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    private static byte[] UnB64(string s)
    {
        s = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '='));
    }

    public static string Issue(byte[] key, string audience, string user, long lifetimeSeconds)
    {
        var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var header = B64(Encoding.UTF8.GetBytes("{\"alg\":\"HS256\",\"typ\":\"JWT\"}"));
        var payload = B64(JsonSerializer.SerializeToUtf8Bytes(new Dictionary<string, object>
        {
            ["aud"] = audience,
            ["nameid"] = user,
            ["iat"] = now,
            ["nbf"] = now,
            ["exp"] = now + lifetimeSeconds,
        }));
        var sig = B64(HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(header + "." + payload)));
        return header + "." + payload + "." + sig;
    }

    /// <summary>The claims of a valid token, or null with the reason.</summary>
    public static JsonElement? Validate(byte[] key, string token, out string failure)
    {
        failure = "malformed token";
        var parts = token.Split('.');
        if (parts.Length != 3) return null;
        try
        {
            using var header = JsonDocument.Parse(UnB64(parts[0]));
            if (!header.RootElement.TryGetProperty("alg", out var alg) || alg.GetString() != "HS256")
            {
                failure = "alg is not HS256"; return null;
            }
            var expect = HMACSHA256.HashData(key, Encoding.ASCII.GetBytes(parts[0] + "." + parts[1]));
            if (!CryptographicOperations.FixedTimeEquals(expect, UnB64(parts[2]))) { failure = "bad signature"; return null; }
            var claims = JsonDocument.Parse(UnB64(parts[1])).RootElement;
            var now = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
            if (!claims.TryGetProperty("exp", out var exp) || exp.GetInt64() <= now) { failure = "token expired"; return null; }
            if (claims.TryGetProperty("nbf", out var nbf) && nbf.GetInt64() > now + 5) { failure = "token not yet valid"; return null; }
            return claims;
        }
        catch (Exception e) when (e is FormatException or JsonException or InvalidOperationException)
        {
            return null;
        }
    }
}

/// <summary>
/// The "service" side: a bearer JWT (Authorization header or access_token query) signed with the
/// shared key, whose audience names this hub as Azure's does ("…/client/?hub=NAME").
/// </summary>
public sealed class ServiceJwtHandler : AuthenticationHandler<AuthenticationSchemeOptions>
{
    public const string SchemeName = "ServiceJwt";
    private readonly ClusterOptions _cluster;
    private readonly ClusterStats _stats;

    public ServiceJwtHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger,
        UrlEncoder encoder, ClusterOptions cluster, ClusterStats stats)
        : base(options, logger, encoder)
    {
        _cluster = cluster;
        _stats = stats;
    }

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? token = null;
        var auth = Request.Headers.Authorization.ToString();
        if (auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) token = auth["Bearer ".Length..].Trim();
        else if (Request.Query.TryGetValue("access_token", out var q) && !string.IsNullOrEmpty(q)) token = q.ToString();
        if (string.IsNullOrEmpty(token))
        {
            _stats.Rejected("no token");
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        var claims = Jwt.Validate(Encoding.UTF8.GetBytes(_cluster.JwtKey), token, out var failure);
        var hub = Context.Items[ServiceRoutes.HubItem] as string ?? "";
        if (claims is JsonElement c)
        {
            var aud = c.TryGetProperty("aud", out var a) ? a.GetString() ?? "" : "";
            if (aud.EndsWith("/client/?hub=" + hub, StringComparison.OrdinalIgnoreCase))
            {
                var user = c.TryGetProperty("nameid", out var n) ? n.GetString() ?? "" : "";
                _stats.Accepted();
                var identity = new ClaimsIdentity(new[]
                {
                    new Claim(ClaimTypes.Name, user), new Claim(ClaimTypes.NameIdentifier, user),
                }, SchemeName);
                return Task.FromResult(AuthenticateResult.Success(
                    new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName)));
            }
            failure = $"audience '{aud}' is not this hub ('{hub}')";
        }
        _stats.Rejected(failure);
        return Task.FromResult(AuthenticateResult.Fail(failure));
    }
}

/// <summary>What the app server and the service saw (GET /cluster/stats).</summary>
public sealed class ClusterStats
{
    private int _appNegotiates, _accepted, _rejected;
    private readonly ConcurrentQueue<string> _rejections = new();
    public void AppNegotiate() => Interlocked.Increment(ref _appNegotiates);
    public void Accepted() => Interlocked.Increment(ref _accepted);
    public void Rejected(string why)
    {
        Interlocked.Increment(ref _rejected);
        _rejections.Enqueue(why);
        while (_rejections.Count > 20) _rejections.TryDequeue(out _);
    }
    public object Snapshot(string node) => new
    {
        node,
        appNegotiates = Volatile.Read(ref _appNegotiates),
        tokensAccepted = Volatile.Read(ref _accepted),
        tokensRejected = Volatile.Read(ref _rejected),
        rejections = _rejections.ToArray(),
    };
}

public static class ServiceRoutes
{
    public const string HubItem = "signalr-service-hub";
    // Hubs the "service" serves at /client/?hub=NAME.
    private static readonly string[] Hubs = { "test", "stateful" };

    public static void AddCluster(this WebApplicationBuilder builder, ClusterOptions cluster)
    {
        builder.Services.AddSingleton(cluster);
        builder.Services.AddSingleton<ClusterStats>();
        builder.Services.AddSingleton<IUserIdProvider, RequestUserIdProvider>();
        builder.Services.AddAuthentication()
            .AddScheme<AuthenticationSchemeOptions, ServiceJwtHandler>(ServiceJwtHandler.SchemeName, null);
    }

    /// <summary>After AddSignalR: the Redis backplane, when --redis was given.</summary>
    public static ISignalRServerBuilder AddClusterBackplane(this ISignalRServerBuilder signalr, ClusterOptions cluster)
    {
        if (cluster.Redis is null) return signalr;
        signalr.AddStackExchangeRedis(cluster.Redis, o =>
        {
            o.Configuration.AbortOnConnectFail = false;
            o.Configuration.ClientName = "signalr-test-" + cluster.Node;
        });
        // Replaces the Redis manager AddStackExchangeRedis registered: same, plus the registry.
        signalr.Services.AddSingleton(typeof(HubLifetimeManager<>), typeof(TrackingRedisHubLifetimeManager<>));
        return signalr;
    }

    /// <summary>Before routing: /client/...?hub=NAME -> /client-hubs/NAME/... (Azure's URL shape).</summary>
    public static void UseServiceRewrite(this WebApplication app)
    {
        app.Use(async (ctx, next) =>
        {
            var path = ctx.Request.Path.Value ?? "";
            if (path.Equals("/client", StringComparison.OrdinalIgnoreCase)
                || path.StartsWith("/client/", StringComparison.OrdinalIgnoreCase))
            {
                var hub = (ctx.Request.Query["hub"].FirstOrDefault() ?? "").ToLowerInvariant();
                if (!Hubs.Contains(hub))
                {
                    ctx.Response.StatusCode = StatusCodes.Status404NotFound;
                    await ctx.Response.WriteAsync($"no hub '{hub}' on this service");
                    return;
                }
                ctx.Items[HubItem] = hub;
                var rest = path.Length > "/client".Length ? path["/client".Length..].TrimStart('/') : "";
                ctx.Request.Path = "/client-hubs/" + hub + (rest.Length > 0 ? "/" + rest : "");
            }
            await next(ctx);
        });
    }

    public static void MapCluster(this WebApplication app, ClusterOptions cluster, ServerInfo info)
    {
        var stats = app.Services.GetRequiredService<ClusterStats>();
        var jwtOnly = new AuthorizeAttribute { AuthenticationSchemes = ServiceJwtHandler.SchemeName };
        app.MapHub<TestHub>("/client-hubs/test").RequireAuthorization(jwtOnly);
        app.MapHub<TestHub>("/client-hubs/stateful", o => o.AllowStatefulReconnects = true).RequireAuthorization(jwtOnly);

        app.MapGet("/cluster/stats", () => Results.Json(stats.Snapshot(cluster.Node)));

        // The app server's negotiate (what Azure's SDK adds to an app): {url, accessToken}.
        // ?hub=NAME&user=U&ttl=SECONDS; ?bounce=N first redirects N more times to itself.
        app.MapMethods("/app/negotiate", new[] { "GET", "POST" }, (HttpContext ctx) =>
        {
            stats.AppNegotiate();
            var q = ctx.Request.Query;
            var hub = (q["hub"].FirstOrDefault() ?? "test").ToLowerInvariant();
            var bounce = int.TryParse(q["bounce"].FirstOrDefault(), out var b) ? b : 0;
            if (bounce > 0)
                return Results.Json(new { url = $"{info.Http}/app?hub={hub}&bounce={bounce - 1}" + Keep(q, "user", "ttl") });
            var user = q["user"].FirstOrDefault();
            if (string.IsNullOrEmpty(user)) user = "app-user";
            var ttl = long.TryParse(q["ttl"].FirstOrDefault(), out var t) ? t : 3600;
            var service = cluster.ServiceUrl ?? info.Http;
            var url = $"{service}/client/?hub={hub}";
            return Results.Json(new
            {
                url,
                accessToken = Jwt.Issue(Encoding.UTF8.GetBytes(cluster.JwtKey), url, user, ttl),
            });
        });
    }

    private static string Keep(IQueryCollection q, params string[] names) =>
        string.Concat(names.Where(n => q.ContainsKey(n)).Select(n => $"&{n}={Uri.EscapeDataString(q[n].ToString())}"));
}
