// A hand-written MessagePack hub protocol ("messagepack", version 2, binary) for the test
// server. The NuGet packages Microsoft.AspNetCore.SignalR.Protocols.MessagePack and
// MessagePack are not available on this machine, so this is written from the SignalR hub
// protocol spec (src/SignalR/docs/specs/HubProtocol.md in dotnet/aspnetcore) and the
// MessagePack format spec; no code was taken from Microsoft's implementation.
//
// Framing: VarInt length prefix (7 bits per byte, least significant group first, at most 5
// bytes, lengths up to 2^31-1) followed by one MessagePack array:
//   [1, Headers, InvocationId|nil, Target, [Arguments], [StreamIds]?]   Invocation
//   [2, Headers, InvocationId, Item]                                    StreamItem
//   [3, Headers, InvocationId, ResultKind, Error|Result?]               Completion (1 error, 2 void, 3 result)
//   [4, Headers, InvocationId, Target, [Arguments], [StreamIds]?]       StreamInvocation
//   [5, Headers, InvocationId]                                          CancelInvocation
//   [6]                                                                 Ping
//   [7, Error|nil, AllowReconnect?]                                     Close
//   [8, SequenceId]                                                     Ack
//   [9, SequenceId]                                                     Sequence
// Unknown message types are skipped (forward compatibility); extra trailing array elements
// are ignored.

using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.ExceptionServices;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.SignalR;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace SignalRTestServer.MessagePack;

public sealed class MessagePackHubProtocol : IHubProtocol
{
    public const string ProtocolName = "messagepack";
    public const int ProtocolVersion = 2;

    private const int InvocationType = 1;
    private const int StreamItemType = 2;
    private const int CompletionType = 3;
    private const int StreamInvocationType = 4;
    private const int CancelInvocationType = 5;
    private const int PingType = 6;
    private const int CloseType = 7;
    private const int AckType = 8;
    private const int SequenceType = 9;

    private const int ErrorResult = 1;
    private const int VoidResult = 2;
    private const int NonVoidResult = 3;

    /// <summary>Largest body length a 5-byte VarInt prefix may announce (2 GB - 1).</summary>
    private const int MaxMessageLength = int.MaxValue;

    // Framed Ping: length 2, [6]
    private static readonly byte[] PingBytes = { 0x02, 0x91, 0x06 };

    public string Name => ProtocolName;
    public int Version => ProtocolVersion;
    public TransferFormat TransferFormat => TransferFormat.Binary;
    public bool IsVersionSupported(int version) => version <= Version;

    // ================================================================== reading

    public bool TryParseMessage(ref ReadOnlySequence<byte> input, IInvocationBinder binder,
        [NotNullWhen(true)] out HubMessage? message)
    {
        // Loop so that an ignored (unknown type) frame does not hide a complete frame after it.
        while (TryReadFrame(ref input, out var payload))
        {
            message = ParseFrame(payload, binder);
            if (message is not null) return true;
        }
        message = null;
        return false;
    }

    /// <summary>
    /// Splits one VarInt-framed message off the front of <paramref name="input"/>. Returns false
    /// (input untouched) when the prefix or the body is not complete yet.
    /// </summary>
    private static bool TryReadFrame(ref ReadOnlySequence<byte> input, out ReadOnlySequence<byte> payload)
    {
        payload = default;
        var reader = new SequenceReader<byte>(input);
        long length = 0;
        var prefixBytes = 0;
        while (true)
        {
            if (!reader.TryRead(out var b)) return false; // prefix not complete
            prefixBytes++;
            if (prefixBytes == 5 && (b & 0xf8) != 0)
                throw new InvalidDataException("Messages over 2GB in size are not supported (invalid VarInt length prefix).");
            length |= (long)(b & 0x7f) << (7 * (prefixBytes - 1));
            if ((b & 0x80) == 0) break;
        }
        if (length == 0)
            throw new InvalidDataException("Invalid MessagePack hub message: the length prefix is 0 (the body must be a MessagePack array).");
        if (length > MaxMessageLength)
            throw new InvalidDataException("Messages over 2GB in size are not supported.");
        if (reader.Remaining < length) return false; // body not complete
        payload = input.Slice(reader.Position, length);
        input = input.Slice(payload.End);
        return true;
    }

    private static HubMessage? ParseFrame(ReadOnlySequence<byte> payload, IInvocationBinder binder)
    {
        ReadOnlySpan<byte> span = payload.IsSingleSegment ? payload.FirstSpan : payload.ToArray();
        var r = new MsgPackReader(span);
        var count = r.ReadArrayHeader("message");
        if (count == 0)
            throw new InvalidDataException("Invalid MessagePack hub message: empty array (no message type).");
        var type = r.ReadInt32("messageType");
        return type switch
        {
            InvocationType => ParseInvocation(ref r, count, binder, stream: false),
            StreamInvocationType => ParseInvocation(ref r, count, binder, stream: true),
            StreamItemType => ParseStreamItem(ref r, count, binder),
            CompletionType => ParseCompletion(ref r, count, binder),
            CancelInvocationType => ParseCancel(ref r, count),
            PingType => PingMessage.Instance,
            CloseType => ParseClose(ref r, count),
            AckType => new AckMessage(ReadSequenceId(ref r, count, "Ack")),
            SequenceType => new SequenceMessage(ReadSequenceId(ref r, count, "Sequence")),
            // Future protocol versions may add message types: ignore them.
            _ => null,
        };
    }

    private static HubMessage ParseInvocation(ref MsgPackReader r, int count, IInvocationBinder binder, bool stream)
    {
        var kind = stream ? "StreamInvocation" : "Invocation";
        RequireCount(count, 5, kind);
        var headers = ReadHeaders(ref r);
        var invocationId = r.ReadStringOrNil("invocationId");
        if (string.IsNullOrEmpty(invocationId))
        {
            if (stream) throw new InvalidDataException("Invalid StreamInvocation message: an invocation id is required.");
            invocationId = null; // nil or "" = non-blocking invocation
        }
        var target = r.ReadStringOrNil("target");
        if (string.IsNullOrEmpty(target))
            throw new InvalidDataException($"Invalid {kind} message: the target must be a non-empty string.");
        var code = r.PeekCode("arguments");
        if (!(code is >= 0x90 and <= 0x9f or 0xdc or 0xdd))
            throw new InvalidDataException($"Reading 'arguments' as Array failed: found {MsgPackReader.FormatName(code)} (0x{code:x2}).");
        var arguments = r.ReadValue(0, "arguments");
        string[]? streamIds = null;
        if (count > 5) streamIds = ReadStreamIds(ref r);

        object?[] boundArguments;
        try
        {
            boundArguments = BindArguments(arguments.Items!, binder.GetParameterTypes(target));
        }
        catch (Exception ex)
        {
            return new InvocationBindingFailureMessage(invocationId, target, ExceptionDispatchInfo.Capture(ex));
        }

        HubMethodInvocationMessage message = stream
            ? new StreamInvocationMessage(invocationId!, target, boundArguments, streamIds)
            : new InvocationMessage(invocationId, target, boundArguments, streamIds);
        return ApplyHeaders(message, headers);
    }

    private static object?[] BindArguments(MsgPackValue[] values, IReadOnlyList<Type> types)
    {
        if (values.Length != types.Count)
            throw new InvalidDataException($"Invocation provides {values.Length} argument(s) but target expects {types.Count}.");
        try
        {
            var result = new object?[values.Length];
            for (var i = 0; i < values.Length; i++) result[i] = MsgPackConverter.ToType(values[i], types[i]);
            return result;
        }
        catch (Exception ex)
        {
            throw new InvalidDataException(
                "Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.", ex);
        }
    }

    private static HubMessage ParseStreamItem(ref MsgPackReader r, int count, IInvocationBinder binder)
    {
        RequireCount(count, 4, "StreamItem");
        var headers = ReadHeaders(ref r);
        var invocationId = ReadRequiredId(ref r, "StreamItem");
        var item = r.ReadValue(0, "item");
        object? value;
        try
        {
            value = MsgPackConverter.ToType(item, binder.GetStreamItemType(invocationId));
        }
        catch (Exception ex)
        {
            return new StreamBindingFailureMessage(invocationId, ExceptionDispatchInfo.Capture(ex));
        }
        return ApplyHeaders(new StreamItemMessage(invocationId, value), headers);
    }

    private static HubMessage ParseCompletion(ref MsgPackReader r, int count, IInvocationBinder binder)
    {
        RequireCount(count, 4, "Completion");
        var headers = ReadHeaders(ref r);
        var invocationId = ReadRequiredId(ref r, "Completion");
        var resultKind = r.ReadInt32("resultKind");
        switch (resultKind)
        {
            case ErrorResult:
            {
                RequireCount(count, 5, "Completion (error)");
                var error = r.ReadStringOrNil("error");
                return ApplyHeaders(new CompletionMessage(invocationId, error, null, false), headers);
            }
            case VoidResult:
                return ApplyHeaders(new CompletionMessage(invocationId, null, null, false), headers);
            case NonVoidResult:
            {
                RequireCount(count, 5, "Completion (result)");
                var resultValue = r.ReadValue(0, "result");
                Type? returnType;
                try
                {
                    // The expected type of a client result; throws for unknown ids (e.g. an
                    // upload stream's completion, or a result the server stopped waiting for).
                    returnType = binder.GetReturnType(invocationId);
                }
                catch (Exception)
                {
                    returnType = null;
                }
                if (returnType is null)
                    return ApplyHeaders(new CompletionMessage(invocationId, null, null, true), headers);
                object? result;
                try
                {
                    result = MsgPackConverter.ToType(resultValue, returnType);
                }
                catch (Exception ex)
                {
                    return ApplyHeaders(CompletionMessage.WithError(invocationId,
                        $"Error trying to deserialize result to {returnType.Name}. {ex.Message}"), headers);
                }
                return ApplyHeaders(new CompletionMessage(invocationId, null, result, true), headers);
            }
            default:
                throw new InvalidDataException($"Invalid invocation result kind {resultKind} (expected 1 = error, 2 = void, 3 = result).");
        }
    }

    private static HubMessage ParseCancel(ref MsgPackReader r, int count)
    {
        RequireCount(count, 3, "CancelInvocation");
        var headers = ReadHeaders(ref r);
        var invocationId = ReadRequiredId(ref r, "CancelInvocation");
        return ApplyHeaders(new CancelInvocationMessage(invocationId), headers);
    }

    private static HubMessage ParseClose(ref MsgPackReader r, int count)
    {
        RequireCount(count, 2, "Close");
        var error = r.ReadStringOrNil("error");
        var allowReconnect = false;
        if (count > 2) allowReconnect = r.ReadBool("allowReconnect");
        return error is null && !allowReconnect ? CloseMessage.Empty : new CloseMessage(error, allowReconnect);
    }

    private static long ReadSequenceId(ref MsgPackReader r, int count, string kind)
    {
        RequireCount(count, 2, kind);
        return r.ReadInt64("sequenceId");
    }

    private static Dictionary<string, string>? ReadHeaders(ref MsgPackReader r)
    {
        if (r.TryReadNil()) return null;
        var n = r.ReadMapHeader("headers");
        if (n == 0) return null;
        var headers = new Dictionary<string, string>(n, StringComparer.Ordinal);
        for (var i = 0; i < n; i++)
        {
            var key = r.ReadStringOrNil("headers");
            var value = r.ReadStringOrNil("headers");
            if (key is null || value is null)
                throw new InvalidDataException("Invalid headers: keys and values must be strings (found nil).");
            headers[key] = value;
        }
        return headers;
    }

    private static string[]? ReadStreamIds(ref MsgPackReader r)
    {
        if (r.TryReadNil()) return null;
        var n = r.ReadArrayHeader("streamIds");
        if (n == 0) return null;
        var ids = new string[n];
        for (var i = 0; i < n; i++)
        {
            ids[i] = r.ReadStringOrNil("streamIds")
                     ?? throw new InvalidDataException("Invalid streamIds: stream ids must be strings (found nil).");
        }
        return ids;
    }

    private static string ReadRequiredId(ref MsgPackReader r, string kind)
    {
        var id = r.ReadStringOrNil("invocationId");
        if (string.IsNullOrEmpty(id))
            throw new InvalidDataException($"Invalid {kind} message: an invocation id is required.");
        return id;
    }

    private static void RequireCount(int count, int minimum, string kind)
    {
        if (count < minimum)
            throw new InvalidDataException($"Invalid {kind} message: expected at least {minimum} array elements, got {count}.");
    }

    private static HubMessage ApplyHeaders(HubInvocationMessage message, Dictionary<string, string>? headers)
    {
        if (headers is not null) message.Headers = headers;
        return message;
    }

    // ================================================================== writing

    public void WriteMessage(HubMessage message, IBufferWriter<byte> output)
    {
        if (message is PingMessage)
        {
            output.Write(PingBytes);
            return;
        }
        var body = new ArrayBufferWriter<byte>(64);
        WriteBody(message, new MsgPackWriter(body));
        WriteVarInt(output, body.WrittenCount);
        output.Write(body.WrittenSpan);
    }

    public ReadOnlyMemory<byte> GetMessageBytes(HubMessage message)
    {
        var buffer = new ArrayBufferWriter<byte>(64);
        WriteMessage(message, buffer);
        return buffer.WrittenMemory;
    }

    private static void WriteVarInt(IBufferWriter<byte> output, int length)
    {
        Span<byte> prefix = stackalloc byte[5];
        var n = 0;
        var value = (uint)length;
        do
        {
            var b = (byte)(value & 0x7f);
            value >>= 7;
            if (value != 0) b |= 0x80;
            prefix[n++] = b;
        } while (value != 0);
        output.Write(prefix[..n]);
    }

    private static void WriteBody(HubMessage message, MsgPackWriter w)
    {
        switch (message)
        {
            case InvocationMessage m:
                WriteMethodInvocation(w, InvocationType, m);
                break;
            case StreamInvocationMessage m:
                WriteMethodInvocation(w, StreamInvocationType, m);
                break;
            case StreamItemMessage m:
                w.WriteArrayHeader(4);
                w.WriteInt(StreamItemType);
                WriteHeaders(w, m.Headers);
                w.WriteString(m.InvocationId);
                MsgPackConverter.Write(w, m.Item);
                break;
            case CompletionMessage m:
            {
                var kind = m.Error is not null ? ErrorResult : m.HasResult ? NonVoidResult : VoidResult;
                w.WriteArrayHeader(kind == VoidResult ? 4 : 5);
                w.WriteInt(CompletionType);
                WriteHeaders(w, m.Headers);
                w.WriteString(m.InvocationId);
                w.WriteInt(kind);
                if (kind == ErrorResult) w.WriteString(m.Error);
                else if (kind == NonVoidResult) MsgPackConverter.Write(w, m.Result);
                break;
            }
            case CancelInvocationMessage m:
                w.WriteArrayHeader(3);
                w.WriteInt(CancelInvocationType);
                WriteHeaders(w, m.Headers);
                w.WriteString(m.InvocationId);
                break;
            case CloseMessage m:
                w.WriteArrayHeader(3);
                w.WriteInt(CloseType);
                w.WriteString(m.Error); // nil when null
                w.WriteBool(m.AllowReconnect);
                break;
            case AckMessage m:
                w.WriteArrayHeader(2);
                w.WriteInt(AckType);
                w.WriteInt(m.SequenceId);
                break;
            case SequenceMessage m:
                w.WriteArrayHeader(2);
                w.WriteInt(SequenceType);
                w.WriteInt(m.SequenceId);
                break;
            default:
                throw new InvalidOperationException($"Unexpected message type: {message.GetType().Name}");
        }
    }

    private static void WriteMethodInvocation(MsgPackWriter w, int type, HubMethodInvocationMessage m)
    {
        w.WriteArrayHeader(6);
        w.WriteInt(type);
        WriteHeaders(w, m.Headers);
        if (string.IsNullOrEmpty(m.InvocationId)) w.WriteNil();
        else w.WriteString(m.InvocationId);
        w.WriteString(m.Target);
        var args = m.Arguments ?? Array.Empty<object?>();
        w.WriteArrayHeader(args.Length);
        foreach (var arg in args) MsgPackConverter.Write(w, arg);
        var streamIds = m.StreamIds ?? Array.Empty<string>();
        w.WriteArrayHeader(streamIds.Length);
        foreach (var id in streamIds) w.WriteString(id);
    }

    private static void WriteHeaders(MsgPackWriter w, IDictionary<string, string>? headers)
    {
        if (headers is null || headers.Count == 0)
        {
            w.WriteMapHeader(0);
            return;
        }
        w.WriteMapHeader(headers.Count);
        foreach (var (key, value) in headers)
        {
            w.WriteString(key);
            w.WriteString(value);
        }
    }
}
