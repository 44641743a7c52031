// The .NET side of the differential test (tests/differential/README.md): Microsoft's SignalR
// client runs the fixed scenario list against the test hub and prints one JSON line per
// scenario: {"scenario": NAME, "observed": OBSERVATION}. libsignalr_side.cpp prints the same.
//
// Usage: DiffDotnet --url URL --transport websockets|serversentevents|longpolling
//                   --protocol json|messagepack
//
// Observations: {"result": VALUE} | {"error": TEXT} | {"items": [...], "error": TEXT|null}
// | {"close": TEXT|null}. TEXT is the exception's Message as is: for invoke and stream errors the
// .NET client puts the server's text there unchanged; for a close with an error it is
// "The server closed the connection with the following error: " + the server's text, which
// libsignalr's signalr_error_message reports word for word too, so nothing is stripped.

using System.Collections;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;

string? url = null, transport = null, protocol = null;
for (var i = 0; i + 1 < args.Length; i += 2)
{
    switch (args[i])
    {
        case "--url": url = args[i + 1]; break;
        case "--transport": transport = args[i + 1]; break;
        case "--protocol": protocol = args[i + 1]; break;
        default: Console.Error.WriteLine("unknown argument " + args[i]); return 2;
    }
}
if (url is null || transport is null || protocol is null)
{
    Console.Error.WriteLine("usage: DiffDotnet --url URL --transport T --protocol P");
    return 2;
}
var transportType = transport switch
{
    "websockets" => HttpTransportType.WebSockets,
    "serversentevents" => HttpTransportType.ServerSentEvents,
    "longpolling" => HttpTransportType.LongPolling,
    _ => throw new ArgumentException("transport " + transport),
};

var timeout = TimeSpan.FromSeconds(20);

async Task<HubConnection> Connect(string? hubUrl = null)
{
    var b = new HubConnectionBuilder().WithUrl(hubUrl ?? url, transportType);
    if (protocol == "messagepack") b.AddMessagePackProtocol();
    else b.AddJsonProtocol(o => o.PayloadSerializerOptions.PropertyNamingPolicy = null);
    var c = b.Build();
    // Client results: the hub's GetClientResult(method, arg) calls these.
    c.On<object?, object?>("GetValue", arg => "got:" + Canon(ToNode(arg)));
    c.On<object?, object?>("EchoBack", arg => arg);
    c.On<object?, object?>("Fail", arg => throw new InvalidOperationException("client-boom"));
    using var cts = new CancellationTokenSource(timeout);
    await c.StartAsync(cts.Token);
    return c;
}

void Emit(string scenario, JsonNode? observed)
{
    var o = new JsonObject { ["scenario"] = scenario, ["observed"] = observed };
    Console.WriteLine(o.ToJsonString());
    Console.Out.Flush();
}

async Task Invoke(HubConnection c, string scenario, string method, params object?[] a)
{
    JsonNode? obs;
    try
    {
        using var cts = new CancellationTokenSource(timeout);
        var r = await c.InvokeCoreAsync<object?>(method, a, cts.Token);
        obs = new JsonObject { ["result"] = ToNode(r) };
    }
    catch (Exception ex)
    {
        obs = new JsonObject { ["error"] = ex.Message };
    }
    Emit(scenario, obs);
}

async Task Stream(HubConnection c, string scenario, string method, params object?[] a)
{
    var items = new JsonArray();
    string? error = null;
    try
    {
        using var cts = new CancellationTokenSource(timeout);
        await foreach (var item in c.StreamAsyncCore<object?>(method, a, cts.Token))
            items.Add(ToNode(item));
    }
    catch (Exception ex)
    {
        error = ex.Message;
    }
    Emit(scenario, new JsonObject { ["items"] = items, ["error"] = error });
}

async Task Close(string scenario, string method, params object?[] a)
{
    var c = await Connect();
    var closed = new TaskCompletionSource<Exception?>(TaskCreationOptions.RunContinuationsAsynchronously);
    c.Closed += ex => { closed.TrySetResult(ex); return Task.CompletedTask; };
    try { await c.InvokeCoreAsync<object?>(method, a); } catch (Exception) { /* the close may win */ }
    var done = await Task.WhenAny(closed.Task, Task.Delay(timeout));
    JsonNode? obs;
    if (done != closed.Task) obs = new JsonObject { ["close"] = "TIMEOUT: not closed" };
    else
    {
        var ex = closed.Task.Result;
        obs = new JsonObject { ["close"] = ex?.Message };
    }
    Emit(scenario, obs);
    await c.DisposeAsync();
}

var conn = await Connect();
var complex = new Dictionary<string, object?>
{
    ["Name"] = "n", ["Number"] = 7L, ["Value"] = 2.5, ["Flag"] = true,
    ["Items"] = new[] { "a", "b" }, ["Map"] = new Dictionary<string, object?> { ["k"] = 1L },
    ["Nested"] = null,
};
await Invoke(conn, "echo_string", "Echo", "hello \u00e9\u00e8 \"q\"");
await Invoke(conn, "echo_int", "EchoInt", 42L);
await Invoke(conn, "echo_negative_int", "EchoInt", -9007199254740993L);
await Invoke(conn, "echo_double", "EchoDouble", 1.5);
await Invoke(conn, "echo_bool", "EchoBool", true);
await Invoke(conn, "echo_null", "EchoAny", new object?[] { null });
await Invoke(conn, "echo_any_number", "EchoAny", 42L);
await Invoke(conn, "echo_any_array", "EchoAny", new object?[] { new object?[] { 1L, "x", null, true } });
await Invoke(conn, "echo_object", "EchoObject", complex);
await Invoke(conn, "echo_null_returning", "EchoNull");
await Invoke(conn, "void_method", "NoReturn");
await Invoke(conn, "add", "Add", 2L, 3L);
await Invoke(conn, "hub_exception", "ThrowHubException", "boom-hub");
await Invoke(conn, "other_exception", "Throw", "boom-plain");
await Invoke(conn, "unknown_method", "NoSuchMethod", 1L);
await Invoke(conn, "too_few_args", "Add", 1L);
await Invoke(conn, "too_many_args", "Echo", "a", "b");
await Invoke(conn, "wrong_arg_type", "EchoInt", "not a number");
await Stream(conn, "stream_counter", "Counter", 5L, 0L);
await Stream(conn, "stream_empty", "EmptyStream");
await Stream(conn, "stream_then_fail", "StreamThenFail", 3L, "stream-boom");
await Stream(conn, "stream_then_hub_exception", "StreamThenHubException", 2L, "stream-hub-boom");
await Stream(conn, "stream_unknown_method", "NoSuchStream");
await Stream(conn, "stream_wrong_arg_count", "Counter", 5L);
await Stream(conn, "stream_non_stream_method", "Echo", "x");
await Invoke(conn, "invoke_stream_method", "Counter", 2L, 0L);
await Invoke(conn, "client_result", "GetClientResult", "GetValue", 41L);
await Invoke(conn, "client_result_object", "GetClientResult", "EchoBack", complex);
await Invoke(conn, "client_result_error", "GetClientResult", "Fail", 1L);
await Invoke(conn, "client_result_no_handler", "GetClientResult", "NoSuchHandler", 1L);
await conn.DisposeAsync();
// The same hub without EnableDetailedErrors (/hubs/test-nodetail).
var nodetail = await Connect(url + "-nodetail");
await Invoke(nodetail, "nodetail_hub_exception", "ThrowHubException", "boom-hub");
await Invoke(nodetail, "nodetail_other_exception", "Throw", "boom-plain");
await Invoke(nodetail, "nodetail_wrong_arg_type", "EchoInt", "not a number");
await Stream(nodetail, "nodetail_stream_then_fail", "StreamThenFail", 3L, "stream-boom");
await nodetail.DisposeAsync();
await Close("close_with_error_allow_reconnect", "CloseWithError", "bye-reconnect", true);
await Close("close_with_error", "CloseWithError", "bye-error", false);
await Close("abort_connection", "AbortConnection");
return 0;

// ------------------------------------------------------------------ normalization to JSON
static string Canon(JsonNode? n) => n is null ? "null" : n.ToJsonString();

static JsonNode? ToNode(object? v)
{
    switch (v)
    {
        case null: return null;
        case JsonElement e: return e.ValueKind == JsonValueKind.Null ? null : JsonNode.Parse(e.GetRawText());
        case string s: return JsonValue.Create(s);
        case bool b: return JsonValue.Create(b);
        case byte[] bytes: return JsonValue.Create(Convert.ToBase64String(bytes));
        case float f: return JsonValue.Create((double)f);
        case double d: return JsonValue.Create(d);
        case decimal m: return JsonValue.Create(m);
        case sbyte or byte or short or ushort or int or uint or long:
            return JsonValue.Create(Convert.ToInt64(v));
        case ulong u: return JsonValue.Create(u);
        case IDictionary dict:
        {
            var o = new JsonObject();
            foreach (DictionaryEntry kv in dict) o[Convert.ToString(kv.Key)!] = ToNode(kv.Value);
            return o;
        }
        case IEnumerable list:
        {
            var a = new JsonArray();
            foreach (var x in list) a.Add(ToNode(x));
            return a;
        }
        default: return JsonNode.Parse(JsonSerializer.Serialize(v));
    }
}
