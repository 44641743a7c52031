using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.AspNetCore.WebUtilities;
using SignalRTestServer.Hubs;

namespace SignalRTestServer;

// Hubs that show the failures `signalr doctor` diagnoses and that the other endpoints do not
// (WebSockets disabled: /hubs/no-websockets; a 503 upgrade: /hubs/ws-rejected; 401: /hubs/auth;
// 307 to https: /https-redirect/...; a self-signed certificate: the HTTPS port).
public static class DoctorEndpoints
{
    // Called before UseRouting: the rewrite must run before the hub endpoint sees the request.
    public static void Add(WebApplication app)
    {
        // Several servers without sticky sessions, simulated: negotiate is answered as usual, but
        // every transport request arrives with a connection id this server never issued, as when
        // a load balancer sends the connect to another instance. The hub answers 404, as the
        // other instance would.
        app.Use(async (ctx, next) =>
        {
            var path = ctx.Request.Path.Value ?? "";
            if (path.Equals("/hubs/doctor-nosticky", StringComparison.OrdinalIgnoreCase)
                && ctx.Request.Query.ContainsKey("id"))
            {
                var q = QueryHelpers.ParseQuery(ctx.Request.QueryString.Value);
                q["id"] = "issued-by-another-server";
                ctx.Request.QueryString = new QueryBuilder(
                    q.SelectMany(kv => kv.Value.Select(v => new KeyValuePair<string, string>(kv.Key, v ?? ""))))
                    .ToQueryString();
            }
            await next(ctx);
        });
        app.MapHub<TestHub>("/hubs/doctor-nosticky");
        // Authenticated is not enough: the user needs a role no test token has (403).
        app.MapHub<TestHub>("/hubs/doctor-forbidden").RequireAuthorization(p => p.RequireRole("admin"));
    }
}
