using System.Collections.Concurrent;
using System.Net;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.SignalR;
using Microsoft.Extensions.Options;

namespace SignalRTestServer;

/// <summary>Self-signed certificate for 127.0.0.1/localhost, generated at start.</summary>
public sealed record GeneratedCertificate(X509Certificate2 Certificate, string PemPath, string Dir, bool OwnsDir);

public static class CertificateFactory
{
    public static GeneratedCertificate Create(string? dir)
    {
        var owns = dir is null;
        dir ??= Path.Combine(Path.GetTempPath(), $"signalr-test-server-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);

        using var key = RSA.Create(2048);
        var req = new CertificateRequest("CN=127.0.0.1", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddIpAddress(IPAddress.IPv6Loopback);
        san.AddDnsName("localhost");
        req.CertificateExtensions.Add(san.Build());
        // Self-signed trust anchor: clients put cert.pem in their CA file.
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.KeyCertSign, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            new OidCollection { new Oid("1.3.6.1.5.5.7.3.1") }, false));
        req.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(req.PublicKey, false));

        var now = DateTimeOffset.UtcNow;
        using var ephemeral = req.CreateSelfSigned(now.AddDays(-1), now.AddDays(30));
        // Round-trip through PKCS#12 so the private key is usable by Kestrel/OpenSSL.
        var cert = X509CertificateLoader.LoadPkcs12(ephemeral.Export(X509ContentType.Pkcs12, "pw"), "pw",
            X509KeyStorageFlags.Exportable);

        var pemPath = Path.Combine(dir, "cert.pem");
        File.WriteAllText(pemPath, cert.ExportCertificatePem() + "\n");
        return new GeneratedCertificate(cert, pemPath, dir, owns);
    }

    public static void Cleanup(GeneratedCertificate cert)
    {
        try
        {
            if (cert.OwnsDir && Directory.Exists(cert.Dir)) Directory.Delete(cert.Dir, true);
        }
        catch (Exception) { /* best effort */ }
    }
}

/// <summary>
/// Minimal bearer-token scheme built on the shared framework (no JwtBearer package).
/// Token = base64url("user\nexpiryUnixSeconds") + "." + base64url(HMACSHA256(payload)).
/// The key is fixed so tokens stay valid across server restarts (fault tests restart it).
/// Accepted from "Authorization: Bearer &lt;t&gt;" or from the "access_token" query parameter.
/// </summary>
public sealed class TokenAuthHandler : AuthenticationHandler<AuthenticationSchemeOptions>
{
    public const string SchemeName = "TestBearer";
    private static readonly byte[] Key = Encoding.UTF8.GetBytes("libsignalr-interop-test-key-not-a-secret");

    public TokenAuthHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
        : base(options, logger, encoder) { }

    public static string IssueToken(string user, long? expiresInSeconds)
    {
        var exp = expiresInSeconds is long s ? DateTimeOffset.UtcNow.ToUnixTimeSeconds() + s : 0;
        var payload = Encoding.UTF8.GetBytes($"{user}\n{exp}");
        return B64(payload) + "." + B64(HMACSHA256.HashData(Key, payload));
    }

    public static string? Validate(string token, out string? failure)
    {
        failure = null;
        var dot = token.IndexOf('.');
        if (dot <= 0) { failure = "malformed token"; return null; }
        byte[] payload, sig;
        try
        {
            payload = UnB64(token[..dot]);
            sig = UnB64(token[(dot + 1)..]);
        }
        catch (FormatException) { failure = "malformed token"; return null; }
        if (!CryptographicOperations.FixedTimeEquals(sig, HMACSHA256.HashData(Key, payload)))
        {
            failure = "bad signature"; return null;
        }
        var parts = Encoding.UTF8.GetString(payload).Split('\n');
        if (parts.Length != 2 || !long.TryParse(parts[1], out var exp)) { failure = "malformed token"; return null; }
        if (exp != 0 && DateTimeOffset.UtcNow.ToUnixTimeSeconds() >= exp) { failure = "token expired"; return null; }
        return parts[0];
    }

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? token = null;
        var auth = Request.Headers.Authorization.ToString();
        if (auth.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            token = auth["Bearer ".Length..].Trim();
        else if (Request.Query.TryGetValue("access_token", out var q) && !string.IsNullOrEmpty(q))
            token = q.ToString();
        if (string.IsNullOrEmpty(token)) return Task.FromResult(AuthenticateResult.NoResult());

        var user = Validate(token, out var failure);
        if (user is null) return Task.FromResult(AuthenticateResult.Fail(failure ?? "invalid token"));

        var identity = new ClaimsIdentity(new[]
        {
            new Claim(ClaimTypes.Name, user),
            new Claim(ClaimTypes.NameIdentifier, user),
        }, SchemeName);
        var ticket = new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName);
        return Task.FromResult(AuthenticateResult.Success(ticket));
    }

    private static string B64(byte[] b) => Convert.ToBase64String(b).TrimEnd('=').Replace('+', '-').Replace('/', '_');
    private static byte[] UnB64(string s)
    {
        s = s.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '='));
    }
}

/// <summary>Maps connection id to its HubConnectionContext (filled by TrackingHubLifetimeManager).</summary>
public sealed class ConnectionRegistry
{
    private readonly ConcurrentDictionary<string, HubConnectionContext> _connections = new();
    public void Add(HubConnectionContext c) => _connections[c.ConnectionId] = c;
    public void Remove(HubConnectionContext c) => _connections.TryRemove(c.ConnectionId, out _);
    public HubConnectionContext? Get(string id) => _connections.TryGetValue(id, out var c) ? c : null;
}

/// <summary>
/// The default lifetime manager, plus a registry of HubConnectionContext objects so a hub
/// method can reach public APIs that HubCallerContext does not expose
/// (HubConnectionContext.WriteAsync(HubMessage) and .Protocol).
/// </summary>
public sealed class TrackingHubLifetimeManager<THub> : DefaultHubLifetimeManager<THub> where THub : Hub
{
    private readonly ConnectionRegistry _registry;

    public TrackingHubLifetimeManager(ILogger<DefaultHubLifetimeManager<THub>> logger, ConnectionRegistry registry)
        : base(logger)
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

/// <summary>Process-wide state the tests can query.</summary>
public static class TestState
{
    private static readonly ConcurrentDictionary<string, bool> Canceled = new();
    private static readonly ConcurrentDictionary<string, ConcurrentQueue<object?>> Recorded = new();
    private static int _cancelCount;

    public static int CancelCount => Volatile.Read(ref _cancelCount);

    public static void StreamStarted(string key) => Canceled[key] = false;
    public static void StreamCanceled(string key)
    {
        Canceled[key] = true;
        Interlocked.Increment(ref _cancelCount);
    }
    public static bool WasStreamCanceled(string key) => Canceled.TryGetValue(key, out var c) && c;

    public static void Record(string key, object? item) =>
        Recorded.GetOrAdd(key, _ => new ConcurrentQueue<object?>()).Enqueue(item);
    public static void ClearRecorded(string key) => Recorded.TryRemove(key, out _);
    public static object?[] GetRecorded(string key) =>
        Recorded.TryGetValue(key, out var q) ? q.ToArray() : Array.Empty<object?>();
}
