using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.AspNetCore.Connections.Abstractions;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Connections.Features;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace SignalRTestServer.Hubs;

/// <summary>A structured payload; property names go over the wire in PascalCase.</summary>
public sealed class ComplexObject
{
    public string? Name { get; set; }
    public long Number { get; set; }
    public double Value { get; set; }
    public bool Flag { get; set; }
    public List<string>? Items { get; set; }
    public Dictionary<string, long>? Map { get; set; }
    public ComplexObject? Nested { get; set; }
}

/// <summary>
/// Main test hub. Endpoint variants that need different HubOptions use the subclasses at the
/// end of this file (hub options are per hub type).
/// </summary>
public class TestHub : Hub
{
    private readonly ConnectionRegistry _registry;
    private readonly ILogger _logger;

    public TestHub(ConnectionRegistry registry, ILogger<TestHub> logger)
    {
        _registry = registry;
        _logger = logger;
    }

    // ---------------------------------------------------------------- echo
    public string Echo(string value) => value;
    public long EchoInt(long value) => value;
    public double EchoDouble(double value) => value;
    public bool EchoBool(bool value) => value;
    public object? EchoNull() => null;
    public object? EchoAny(object? value) => value;
    public ComplexObject EchoObject(ComplexObject value) => value;
    public int[] EchoArray(int[] value) => value;
    public string[] EchoStringArray(string[] value) => value;
    public byte[] EchoBytes(byte[] value) => value;
    public int BytesLength(byte[] value) => value.Length;
    public long Add(long a, long b) => a + b;
    public string Concat(string a, string b) => a + b;
    public void NoReturn() { }
    public Task NoReturnAsync() => Task.CompletedTask;

    public async Task<string> DelayedEcho(int ms, string value)
    {
        await Task.Delay(ms, Context.ConnectionAborted);
        return value;
    }

    /// <summary>Returns a string of exactly <paramref name="size"/> ASCII characters.</summary>
    public string LargeMessage(int size) => MakeString(size);

    /// <summary>Sends "Large"(string of size chars) to the caller, returns size.</summary>
    public async Task<int> SendLarge(int size)
    {
        await Clients.Caller.SendAsync("Large", MakeString(size));
        return size;
    }

    // ---------------------------------------------------------------- errors
    public void Throw(string message) => throw new InvalidOperationException(message);
    public void ThrowHubException(string message) => throw new HubException(message);
    public async Task<string> ThrowAfterDelay(int ms, string message)
    {
        await Task.Delay(ms);
        throw new InvalidOperationException(message);
    }

    // ---------------------------------------------------------------- callbacks to the caller
    public Task Callback(string value) => Clients.Caller.SendAsync("Callback", value);

    /// <summary>Sends three different targets: Callback1(value), Callback2(value, 42), NoArgs().</summary>
    public async Task CallbackMulti(string value)
    {
        await Clients.Caller.SendAsync("Callback1", value);
        await Clients.Caller.SendAsync("Callback2", value, 42);
        await Clients.Caller.SendAsync("NoArgs");
    }

    /// <summary>Sends an invocation of an arbitrary target with arbitrary arguments.</summary>
    public Task CallbackWith(string target, object?[] args) => Clients.Caller.SendCoreAsync(target, args);

    /// <summary>Sends "Numbered"(i) for i = 1..count, in order; returns count.</summary>
    public async Task<int> SendNumbered(int count)
    {
        for (var i = 1; i <= count; i++)
        {
            await Clients.Caller.SendAsync("Numbered", i);
        }
        return count;
    }

    // ---------------------------------------------------------------- client results
    /// <summary>
    /// Invokes <paramref name="method"/>(arg) on the calling client and awaits its result.
    /// Returns the client's value, or the string "error: " + message if the client answered
    /// with an error (or the invocation failed / timed out after 10 s).
    /// </summary>
    public async Task<object?> GetClientResult(string method, object? arg)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Context.ConnectionAborted);
        cts.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            return await Clients.Client(Context.ConnectionId).InvokeAsync<object?>(method, arg, cts.Token);
        }
        catch (Exception ex)
        {
            return "error: " + ex.Message;
        }
    }

    /// <summary>Same as GetClientResult but with no argument.</summary>
    public async Task<object?> GetClientResultNoArgs(string method)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Context.ConnectionAborted);
        cts.CancelAfter(TimeSpan.FromSeconds(10));
        try
        {
            return await Clients.Client(Context.ConnectionId).InvokeCoreAsync<object?>(method, Array.Empty<object?>(), cts.Token);
        }
        catch (Exception ex)
        {
            return "error: " + ex.Message;
        }
    }

    // ---------------------------------------------------------------- server-to-client streams
    public async IAsyncEnumerable<int> Counter(int count, int delayMs,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (var i = 0; i < count; i++)
        {
            if (delayMs > 0) await Task.Delay(delayMs, cancellationToken);
            yield return i;
        }
    }

    public ChannelReader<int> CounterChannel(int count, int delayMs, CancellationToken cancellationToken)
    {
        var channel = Channel.CreateUnbounded<int>();
        _ = Task.Run(async () =>
        {
            try
            {
                for (var i = 0; i < count; i++)
                {
                    if (delayMs > 0) await Task.Delay(delayMs, cancellationToken);
                    await channel.Writer.WriteAsync(i, cancellationToken);
                }
                channel.Writer.TryComplete();
            }
            catch (Exception ex)
            {
                channel.Writer.TryComplete(ex);
            }
        });
        return channel.Reader;
    }

    public async IAsyncEnumerable<string> EmptyStream()
    {
        await Task.CompletedTask;
        yield break;
    }

    /// <summary>
    /// Never-ending stream (one item every delayMs); records under <paramref name="key"/> that
    /// its CancellationToken fired (query with WasStreamCanceled(key) / GetCancelCount()).
    /// </summary>
    public async IAsyncEnumerable<int> InfiniteStream(string key, int delayMs,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        TestState.StreamStarted(key);
        // Recorded inside Cancel(), before the server reads the client's next message. The
        // registration is not disposed by this method: callbacks run last-registered first, so
        // Task.Delay's runs before ours and may resume this iterator inline, whose exit would
        // unregister ours before it ran (the CTS is disposed by SignalR when the stream ends).
        var once = new Once();
        cancellationToken.Register(() => { if (once.First()) TestState.StreamCanceled(key); });
        var i = 0;
        try
        {
            while (true)
            {
                try
                {
                    await Task.Delay(Math.Max(delayMs, 1), cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    yield break;
                }
                yield return i++;
            }
        }
        finally
        {
            if (cancellationToken.IsCancellationRequested && once.First()) TestState.StreamCanceled(key);
        }
    }

    private sealed class Once
    {
        private int _done;
        public bool First() => Interlocked.Exchange(ref _done, 1) == 0;
    }

    public bool WasStreamCanceled(string key) => TestState.WasStreamCanceled(key);
    public int GetCancelCount() => TestState.CancelCount;

    /// <summary>Yields 0..count-1, then throws InvalidOperationException(message).</summary>
    public async IAsyncEnumerable<int> StreamThenFail(int count, string message)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return i;
        }
        throw new InvalidOperationException(message);
    }

    /// <summary>Yields 0..count-1, then throws HubException(message).</summary>
    public async IAsyncEnumerable<int> StreamThenHubException(int count, string message)
    {
        for (var i = 0; i < count; i++)
        {
            await Task.Yield();
            yield return i;
        }
        throw new HubException(message);
    }

    // ---------------------------------------------------------------- client-to-server streams
    public async Task<string> UploadConcat(IAsyncEnumerable<string> items)
    {
        var sb = new System.Text.StringBuilder();
        await foreach (var s in items) sb.Append(s);
        return sb.ToString();
    }

    public async Task<long> UploadSum(ChannelReader<int> items)
    {
        long sum = 0;
        await foreach (var i in items.ReadAllAsync()) sum += i;
        return sum;
    }

    /// <summary>Stream invocation with an upload stream: each uploaded item is streamed back.</summary>
    public async IAsyncEnumerable<int> UploadEcho(ChannelReader<int> items,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var i in items.ReadAllAsync(cancellationToken)) yield return i;
    }

    /// <summary>Records every uploaded item under key (GetRecorded(key)); returns the count.</summary>
    public async Task<int> UploadRecord(string key, IAsyncEnumerable<object?> items)
    {
        TestState.ClearRecorded(key);
        var n = 0;
        await foreach (var item in items)
        {
            TestState.Record(key, item);
            n++;
        }
        return n;
    }

    /// <summary>Two upload streams in one invocation: returns concat(a) + "|" + concat(b).</summary>
    public async Task<string> UploadTwo(IAsyncEnumerable<string> a, IAsyncEnumerable<string> b)
    {
        var ta = UploadConcat(a);
        var tb = UploadConcat(b);
        return await ta + "|" + await tb;
    }

    public object?[] GetRecorded(string key) => TestState.GetRecorded(key);
    public int GetRecordedCount(string key) => TestState.GetRecorded(key).Length;

    /// <summary>Appends one value to the key's record (numbered client sends: exactly-once checks).</summary>
    public void Record(string key, object? value) => TestState.Record(key, value);
    public void ClearRecord(string key) => TestState.ClearRecorded(key);

    // ---------------------------------------------------------------- what the server saw
    public string GetConnectionId() => Context.ConnectionId;

    /// <summary>Which server of a cluster this connection is on (--node; "single" otherwise).</summary>
    public string GetNode() =>
        Context.GetHttpContext()?.RequestServices.GetService<ClusterOptions>()?.Node ?? "single";

    /// <summary>"WebSockets", "ServerSentEvents" or "LongPolling" (IHttpTransportFeature).</summary>
    public string? GetTransport() => Context.Features.Get<IHttpTransportFeature>()?.TransportType.ToString();

    public string? GetProtocol() => _registry.Get(Context.ConnectionId)?.Protocol.Name;

    /// <summary>Header of the connection's HTTP request (the WebSocket upgrade / SSE GET / first LP poll).</summary>
    public string? GetHeader(string name)
    {
        var http = Context.GetHttpContext();
        if (http is null) return null;
        return http.Request.Headers.TryGetValue(name, out var v) ? v.ToString() : null;
    }

    public string? GetCookie(string name) =>
        Context.GetHttpContext()?.Request.Cookies.TryGetValue(name, out var v) == true ? v : null;

    public string? GetUserName() => Context.User?.Identity?.Name;
    public string? GetUserIdentifier() => Context.UserIdentifier;

    public string? GetQueryValue(string name)
    {
        var http = Context.GetHttpContext();
        if (http is null) return null;
        return http.Request.Query.TryGetValue(name, out var v) ? v.ToString() : null;
    }

    /// <summary>Number of negotiate redirects the client followed (redirect endpoints add ?redirects=N).</summary>
    public int GetRedirects() =>
        int.TryParse(GetQueryValue("redirects"), out var n) ? n : 0;

    /// <summary>true when this connection negotiated stateful reconnect.</summary>
#pragma warning disable CA2252 // IStatefulReconnectFeature is marked preview
    public bool IsStatefulReconnect() => Context.Features.Get<IStatefulReconnectFeature>() is not null;
#pragma warning restore CA2252

    // ---------------------------------------------------------------- groups / broadcast
    public Task JoinGroup(string group) => Groups.AddToGroupAsync(Context.ConnectionId, group);
    public Task LeaveGroup(string group) => Groups.RemoveFromGroupAsync(Context.ConnectionId, group);

    /// <summary>Sends "GroupMessage"(group, message) to every member of group.</summary>
    public Task SendToGroup(string group, string message) =>
        Clients.Group(group).SendAsync("GroupMessage", group, message);

    /// <summary>Sends "Broadcast"(message) to all connections of this hub type.</summary>
    public Task Broadcast(string message) => Clients.All.SendAsync("Broadcast", message);

    /// <summary>Sends "Direct"(fromConnectionId, message) to one connection.</summary>
    public Task SendToConnection(string connectionId, string message) =>
        Clients.Client(connectionId).SendAsync("Direct", Context.ConnectionId, message);

    /// <summary>Sends "UserMessage"(message) to all connections of a user name.</summary>
    public Task SendToUser(string user, string message) =>
        Clients.User(user).SendAsync("UserMessage", message);

    // ---------------------------------------------------------------- connection control
    /// <summary>Context.Abort(): server closes the connection; Close message without allowReconnect.</summary>
    public void AbortConnection() => Context.Abort();

    /// <summary>
    /// Server-initiated close that allows reconnect: requests a close through the connection's
    /// IConnectionLifetimeNotificationFeature (what ASP.NET does at shutdown/auth expiry).
    /// The client gets Close{allowReconnect:true} with no error.
    /// </summary>
    public bool CloseWithReconnect()
    {
        var feature = Context.Features.Get<IConnectionLifetimeNotificationFeature>();
        if (feature is null) return false;
        _ = Task.Run(async () =>
        {
            await Task.Delay(50); // let the completion of this invocation go out first
            feature.RequestClose();
        });
        return true;
    }

    /// <summary>
    /// Writes Close{error, allowReconnect} to this connection (HubConnectionContext.WriteAsync,
    /// public API) shortly after returning, then aborts the connection.
    /// </summary>
    public bool CloseWithError(string error, bool allowReconnect)
    {
        var connection = _registry.Get(Context.ConnectionId);
        if (connection is null) return false;
        _ = Task.Run(async () =>
        {
            await Task.Delay(50);
            try
            {
                await connection.WriteAsync(new CloseMessage(error, allowReconnect));
            }
            catch (Exception ex)
            {
                _logger.LogInformation(ex, "CloseWithError: write failed");
            }
            connection.Abort();
        });
        return true;
    }

    /// <summary>
    /// Ungraceful transport drop: aborts the underlying HTTP request / TCP connection without a
    /// WebSocket close handshake (triggers stateful reconnect on /hubs/stateful).
    /// </summary>
    public bool DropTransport()
    {
        var http = Context.GetHttpContext();
        if (http is null) return false;
        _ = Task.Run(async () =>
        {
            await Task.Delay(50);
            http.Abort();
        });
        return true;
    }

    // ---------------------------------------------------------------- lifecycle
    public override Task OnConnectedAsync()
    {
        _logger.LogInformation("Connected {ConnectionId} transport={Transport} user={User}",
            Context.ConnectionId, GetTransport(), Context.User?.Identity?.Name);
        return base.OnConnectedAsync();
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        _logger.LogInformation("Disconnected {ConnectionId} error={Error}", Context.ConnectionId, exception?.Message);
        return base.OnDisconnectedAsync(exception);
    }

    private static string MakeString(int size)
    {
        if (size < 0) throw new HubException("size must be >= 0");
        return string.Create(size, 0, static (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = (char)('a' + i % 26);
        });
    }
}

/// <summary>Same methods, EnableDetailedErrors = false (/hubs/test-nodetail).</summary>
public class NoDetailHub : TestHub
{
    public NoDetailHub(ConnectionRegistry r, ILogger<TestHub> l) : base(r, l) { }
}

/// <summary>KeepAliveInterval 1 s, ClientTimeoutInterval 3 s (/hubs/short-timeout).</summary>
public class ShortTimeoutHub : TestHub
{
    public ShortTimeoutHub(ConnectionRegistry r, ILogger<TestHub> l) : base(r, l) { }
}

/// <summary>Server never sends keep-alive pings (KeepAliveInterval 1 h) (/hubs/silent).</summary>
public class SilentHub : TestHub
{
    public SilentHub(ConnectionRegistry r, ILogger<TestHub> l) : base(r, l) { }
}

/// <summary>StatefulReconnectBufferSize = 1000 bytes (/hubs/stateful-smallbuffer).</summary>
public class SmallBufferHub : TestHub
{
    public SmallBufferHub(ConnectionRegistry r, ILogger<TestHub> l) : base(r, l) { }
}

/// <summary>Only the JSON hub protocol (SupportedProtocols = json) (/hubs/json-only): a
/// MessagePack client's handshake is rejected with the server's text.</summary>
public class JsonOnlyHub : TestHub
{
    public JsonOnlyHub(ConnectionRegistry r, ILogger<TestHub> l) : base(r, l) { }
}
