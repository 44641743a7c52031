using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.AspNetCore.WebUtilities;
using SignalRTestServer.Hubs;

namespace SignalRTestServer;

// Hubs that show the failures `signalr doctor` diagnoses and that the other endpoints do not
// (WebSockets disabled: /hubs/no-websockets; a 503 upgrade: /hubs/ws-rejected; 401: /hubs/auth;
// 307 to https: /https-redirect/...; a self-signed certificate: the HTTPS port).
public static class DoctorEndpoints
{
    // HTTPS listeners whose certificate is wrong in one way each; the client trusts each one
    // (its PEM as tls_ca_file) so that only that one fault remains. GET /doctor/tls lists them.
    private static readonly Dictionary<string, string> Tls = new();

    // Called inside ConfigureKestrel, after the main listeners (so that those stay the first
    // http:// and https:// addresses).
    public static void ListenTls(KestrelServerOptions k, string dir)
    {
        var now = DateTimeOffset.UtcNow;
        // Valid for another name only: a hostname mismatch at 127.0.0.1.
        AddListener(k, dir, "wrong_name", "wrong-name.invalid", null, now.AddDays(-1), now.AddDays(30));
        // For 127.0.0.1, but expired yesterday.
        AddListener(k, dir, "expired", null, IPAddress.Loopback, now.AddDays(-30), now.AddDays(-1));
    }

    private static void AddListener(KestrelServerOptions k, string dir, string name, string? dns, IPAddress? ip,
                                    DateTimeOffset from, DateTimeOffset to)
    {
        using var key = RSA.Create(2048);
        var req = new CertificateRequest($"CN={dns ?? ip!.ToString()}", key, HashAlgorithmName.SHA256,
                                         RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        if (dns is not null) san.AddDnsName(dns);
        if (ip is not null) san.AddIpAddress(ip);
        req.CertificateExtensions.Add(san.Build());
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
        using var ephemeral = req.CreateSelfSigned(from, to);
        var cert = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12, "pw"), "pw",
            X509KeyStorageFlags.Exportable);
        var pem = Path.Combine(dir, $"{name}.pem");
        File.WriteAllText(pem, cert.ExportCertificatePem() + "\n");
        // A free port, picked now (Kestrel's addresses would not say which listener is which).
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        var port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        k.Listen(IPAddress.Loopback, port, lo => lo.UseHttps(cert));
        Tls[name] = $"https://127.0.0.1:{port}";
        Tls[name + "_cert"] = pem;
    }

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
        app.MapGet("/doctor/tls", () => Results.Json(Tls));
        // Authenticated is not enough: the user needs a role no test token has (403).
        app.MapHub<TestHub>("/hubs/doctor-forbidden").RequireAuthorization(p => p.RequireRole("admin"));
    }
}
