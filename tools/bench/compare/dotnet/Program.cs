// The .NET client of tools/bench/compare: Microsoft.AspNetCore.SignalR.Client against the
// bundled test hub, over WebSockets, JSON or MessagePack. One workload per process:
//
//   dotnet BenchDotnet.dll --url URL --workload echo|inflight64|flood|upload
//                          --protocol json|messagepack [--messages N] [--warmup N] [--timeout S]
//
// Connects, warms up with --warmup messages of the same workload, then measures --messages and
// prints one JSON line: {"client":"dotnet","workload":..,"protocol":..,"messages":N,
// "cpu_us":..,"wall_ms":..}. cpu_us is this process's user+sys CPU time during the measured
// phase (Process.TotalProcessorTime), every thread included.
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http.Connections;
using Microsoft.AspNetCore.SignalR.Client;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

string url = "", workload = "echo", protocol = "json";
int messages = 10000, warmup = 1000;
double timeoutS = 120;
for (var i = 0; i < args.Length; i++)
{
    string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
    switch (args[i])
    {
        case "--url": url = Next(); break;
        case "--workload": workload = Next(); break;
        case "--protocol": protocol = Next(); break;
        case "--messages": messages = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--warmup": warmup = int.Parse(Next(), CultureInfo.InvariantCulture); break;
        case "--timeout": timeoutS = double.Parse(Next(), CultureInfo.InvariantCulture); break;
        default: Console.Error.WriteLine($"unknown argument {args[i]}"); return 2;
    }
}
if (url == "" || messages <= 0 || warmup < 0
    || !new[] { "echo", "inflight64", "flood", "upload" }.Contains(workload)
    || !new[] { "json", "messagepack" }.Contains(protocol))
{
    Console.Error.WriteLine("usage: BenchDotnet --url URL --workload echo|inflight64|flood|upload --protocol json|messagepack [--messages N] [--warmup N] [--timeout S]");
    return 2;
}

// Everything (connect, warm-up, measurement) must end within the time limit.
using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutS));
var ct = cts.Token;

var builder = new HubConnectionBuilder()
    .WithUrl(url, HttpTransportType.WebSockets)
    .ConfigureLogging(l => l.SetMinimumLevel(LogLevel.Warning));
if (protocol == "messagepack") builder.AddMessagePackProtocol();
await using var conn = builder.Build();

int floodTarget = 0, floodCount = 0;
TaskCompletionSource? floodDone = null;
conn.On<int>("Numbered", _ =>
{
    if (Interlocked.Increment(ref floodCount) == floodTarget) floodDone!.TrySetResult();
});

try
{
    await conn.StartAsync(ct);
    if (warmup > 0) await Run(warmup);
    using var self = Process.GetCurrentProcess();
    self.Refresh();
    var cpu0 = self.TotalProcessorTime;
    var wall = Stopwatch.StartNew();
    await Run(messages);
    wall.Stop();
    self.Refresh();
    var cpu = self.TotalProcessorTime - cpu0;
    Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, object>
    {
        ["client"] = "dotnet",
        ["workload"] = workload,
        ["protocol"] = protocol,
        ["messages"] = messages,
        ["cpu_us"] = Math.Round(cpu.TotalMilliseconds * 1000.0),
        ["wall_ms"] = Math.Round(wall.Elapsed.TotalMilliseconds, 1),
        ["version"] = typeof(HubConnection).Assembly.GetName().Version?.ToString() ?? "?",
    }));
    await conn.StopAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(10));
    return 0;
}
catch (Exception e) when (e is OperationCanceledException or TimeoutException)
{
    Console.Error.WriteLine($"dotnet {workload} {protocol}: timed out after {timeoutS} s ({e.Message})");
    return 1;
}
catch (Exception e)
{
    Console.Error.WriteLine($"dotnet {workload} {protocol}: {e.GetType().Name}: {e.Message}");
    return 1;
}

async Task Run(int n)
{
    switch (workload)
    {
        case "echo":
            for (var i = 0; i < n; i++)
            {
                var r = await conn.InvokeAsync<string>("Echo", "hello", ct);
                if (r != "hello") throw new InvalidOperationException($"Echo returned {r}");
            }
            break;
        case "inflight64":
        {
            // 64 workers, each awaiting one invoke at a time: 64 outstanding until the last ones.
            var issued = 0;
            async Task Worker()
            {
                while (Interlocked.Increment(ref issued) <= n)
                {
                    var r = await conn.InvokeAsync<string>("Echo", "hello", ct);
                    if (r != "hello") throw new InvalidOperationException($"Echo returned {r}");
                }
            }
            await Task.WhenAll(Enumerable.Range(0, Math.Min(64, n)).Select(_ => Worker()));
            break;
        }
        case "flood":
        {
            floodCount = 0;
            floodTarget = n;
            floodDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var sent = await conn.InvokeAsync<int>("SendNumbered", n, ct);
            if (sent != n) throw new InvalidOperationException($"SendNumbered returned {sent}");
            await floodDone.Task.WaitAsync(ct);
            break;
        }
        case "upload":
        {
            var channel = Channel.CreateBounded<int>(new BoundedChannelOptions(1024) { SingleReader = true, SingleWriter = true });
            var result = conn.InvokeAsync<long>("UploadSum", channel.Reader, ct);
            for (var i = 0; i < n; i++) await channel.Writer.WriteAsync(1, ct);
            channel.Writer.Complete();
            var sum = await result;
            if (sum != n) throw new InvalidOperationException($"UploadSum returned {sum}, expected {n}");
            break;
        }
    }
}
