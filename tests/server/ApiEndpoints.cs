// Endpoints for the client-API tests (cookies, User-Agent, ...): /hubs/api, a TestHub that
// also reports what every HTTP request of a test reached the server with; /raw/echo, an echo
// ConnectionHandler for raw connections.
//
// Every request under /hubs/api whose query has key=K is recorded under K: its kind
// (negotiate, ws, sse, poll, send, delete), its Cookie, User-Agent and X-SignalR-User-Agent
// headers. The hub method Seen(K) returns the records in arrival order.
//
// Cookies (RFC 6265 behaviour the client must get from its cookie engine): the first negotiate
// of a key sets
//   ver=1 (Path=/hubs/api), keep=yes (Path=/), gone=soon (Path=/), elsewhere=no (Path=/other),
//   foreign=no (Domain=example.com), sec=yes (Secure: over http:// sent to loopback hosts only);
// the second replaces ver with 2 and deletes gone the way ASP.NET Core does
// (Response.Cookies.Delete: "gone=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/").
using System.Buffers;
using System.Collections.Concurrent;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using SignalRTestServer.Hubs;

namespace SignalRTestServer;

public static class ApiEndpoints
{
    public sealed record Seen(string Kind, string? Cookie, string? UserAgent, string? SignalRUserAgent);

    private static readonly ConcurrentDictionary<string, ConcurrentQueue<Seen>> Records = new();
    private static readonly ConcurrentDictionary<string, int> Negotiations = new();

    public static IReadOnlyList<Seen> For(string key) =>
        Records.TryGetValue(key, out var q) ? q.ToArray() : Array.Empty<Seen>();

    public static void Map(WebApplication app)
    {
        app.Use(async (ctx, next) =>
        {
            var path = ctx.Request.Path.Value ?? "";
            var key = ctx.Request.Query["key"].FirstOrDefault();
            if (!path.StartsWith("/hubs/api", StringComparison.OrdinalIgnoreCase) || string.IsNullOrEmpty(key))
            {
                await next(ctx);
                return;
            }
            var negotiate = path.EndsWith("/negotiate", StringComparison.OrdinalIgnoreCase);
            var kind = negotiate ? "negotiate"
                : ctx.WebSockets.IsWebSocketRequest ? "ws"
                : HttpMethods.IsPost(ctx.Request.Method) ? "send"
                : HttpMethods.IsDelete(ctx.Request.Method) ? "delete"
                : ctx.Request.Headers.Accept.ToString().Contains("text/event-stream") ? "sse"
                : "poll";
            string? Header(string name) => ctx.Request.Headers.TryGetValue(name, out var v) ? v.ToString() : null;
            Records.GetOrAdd(key, _ => new ConcurrentQueue<Seen>())
                .Enqueue(new Seen(kind, Header("Cookie"), Header("User-Agent"), Header("X-SignalR-User-Agent")));
            if (negotiate)
            {
                var round = Negotiations.AddOrUpdate(key, 1, (_, n) => n + 1);
                ctx.Response.OnStarting(() =>
                {
                    var jar = ctx.Response.Cookies;
                    if (round == 1)
                    {
                        jar.Append("ver", "1", new CookieOptions { Path = "/hubs/api" });
                        jar.Append("keep", "yes", new CookieOptions { Path = "/" });
                        jar.Append("gone", "soon", new CookieOptions { Path = "/" });
                        jar.Append("elsewhere", "no", new CookieOptions { Path = "/other" });
                        jar.Append("foreign", "no", new CookieOptions { Path = "/", Domain = "example.com" });
                        jar.Append("sec", "yes", new CookieOptions { Path = "/", Secure = true });
                    }
                    else if (round == 2)
                    {
                        jar.Append("ver", "2", new CookieOptions { Path = "/hubs/api" });
                        jar.Delete("gone", new CookieOptions { Path = "/" });
                    }
                    return Task.CompletedTask;
                });
            }
            await next(ctx);
        });
        app.MapHub<ApiHub>("/hubs/api");
        // A raw connection endpoint (no hub protocol) for the client's raw mode: echoes bytes.
        app.MapConnectionHandler<EchoConnectionHandler>("/raw/echo");
    }
}

public class ApiHub : TestHub
{
    public ApiHub(ConnectionRegistry r, ILogger<TestHub> l) : base(r, l) { }

    /// <summary>What the requests recorded under key carried (see ApiEndpoints).</summary>
    public IReadOnlyList<ApiEndpoints.Seen> Seen(string key) => ApiEndpoints.For(key);
}

/// <summary>Writes back every byte it reads, until the client goes (ConnectionHandler: what the
/// official clients' HttpConnection talks to).</summary>
public sealed class EchoConnectionHandler : ConnectionHandler
{
    public override async Task OnConnectedAsync(ConnectionContext connection)
    {
        var input = connection.Transport.Input;
        var output = connection.Transport.Output;
        while (true)
        {
            var result = await input.ReadAsync();
            var buffer = result.Buffer;
            foreach (var segment in buffer)
                await output.WriteAsync(segment);
            input.AdvanceTo(buffer.End);
            if (result.IsCompleted || result.IsCanceled) break;
        }
    }
}
