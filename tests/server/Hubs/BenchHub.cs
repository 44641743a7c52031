using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.SignalR;

namespace SignalRTestServer.Hubs;

/// <summary>
/// The hub `signalr bench` drives (tools/cli/bench.c), mapped at /hubs/bench. Timestamps are
/// the client's own monotonic clock, passed through untouched: the client measures latency
/// against itself, so no clock is shared with the server. No per-connection logging or
/// state: at tens of thousands of connections the server's cost should be SignalR's own.
/// </summary>
public class BenchHub : Hub
{
    /// <summary>Round trip: the caller gets ("Echo", timestamp, payload) back.</summary>
    public Task Echo(long timestamp, string payload) =>
        Clients.Caller.SendAsync("Echo", timestamp, payload);

    /// <summary>
    /// Fan-out: every connection of this hub gets ("Broadcast", run, timestamp, seq, payload).
    /// The run id lets a client ignore the broadcasts of another bench run on the same server.
    /// Completes once the message is queued for every connection.
    /// </summary>
    public Task Broadcast(long run, long timestamp, long seq, string payload) =>
        Clients.All.SendAsync("Broadcast", run, timestamp, seq, payload);

    /// <summary>A counted server-to-client stream: 0, 1, ..., count-1, delayMs apart.</summary>
    public async IAsyncEnumerable<long> Stream(int count, int delayMs,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        for (long i = 0; i < count; i++)
        {
            if (delayMs > 0) await Task.Delay(delayMs, cancellationToken);
            yield return i;
        }
    }
}
