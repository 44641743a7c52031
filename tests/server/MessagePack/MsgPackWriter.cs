// Hand-written MessagePack writer (format spec: https://github.com/msgpack/msgpack/blob/master/spec.md).
// Always uses the smallest encoding for integers and lengths.

using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace SignalRTestServer.MessagePack;

public sealed class MsgPackWriter
{
    private readonly IBufferWriter<byte> _out;

    public MsgPackWriter(IBufferWriter<byte> output) => _out = output;

    public void WriteNil() => WriteByte(0xc0);

    public void WriteBool(bool value) => WriteByte(value ? (byte)0xc3 : (byte)0xc2);

    public void WriteInt(long value)
    {
        if (value >= 0)
        {
            WriteUInt((ulong)value);
        }
        else if (value >= -32)
        {
            WriteByte((byte)(sbyte)value); // negative fixint 0xe0..0xff
        }
        else if (value >= sbyte.MinValue)
        {
            var s = _out.GetSpan(2);
            s[0] = 0xd0;
            s[1] = (byte)(sbyte)value;
            _out.Advance(2);
        }
        else if (value >= short.MinValue)
        {
            var s = _out.GetSpan(3);
            s[0] = 0xd1;
            BinaryPrimitives.WriteInt16BigEndian(s[1..], (short)value);
            _out.Advance(3);
        }
        else if (value >= int.MinValue)
        {
            var s = _out.GetSpan(5);
            s[0] = 0xd2;
            BinaryPrimitives.WriteInt32BigEndian(s[1..], (int)value);
            _out.Advance(5);
        }
        else
        {
            var s = _out.GetSpan(9);
            s[0] = 0xd3;
            BinaryPrimitives.WriteInt64BigEndian(s[1..], value);
            _out.Advance(9);
        }
    }

    public void WriteUInt(ulong value)
    {
        if (value <= 0x7f)
        {
            WriteByte((byte)value);
        }
        else if (value <= byte.MaxValue)
        {
            var s = _out.GetSpan(2);
            s[0] = 0xcc;
            s[1] = (byte)value;
            _out.Advance(2);
        }
        else if (value <= ushort.MaxValue)
        {
            var s = _out.GetSpan(3);
            s[0] = 0xcd;
            BinaryPrimitives.WriteUInt16BigEndian(s[1..], (ushort)value);
            _out.Advance(3);
        }
        else if (value <= uint.MaxValue)
        {
            var s = _out.GetSpan(5);
            s[0] = 0xce;
            BinaryPrimitives.WriteUInt32BigEndian(s[1..], (uint)value);
            _out.Advance(5);
        }
        else
        {
            var s = _out.GetSpan(9);
            s[0] = 0xcf;
            BinaryPrimitives.WriteUInt64BigEndian(s[1..], value);
            _out.Advance(9);
        }
    }

    public void WriteFloat32(float value)
    {
        var s = _out.GetSpan(5);
        s[0] = 0xca;
        BinaryPrimitives.WriteSingleBigEndian(s[1..], value);
        _out.Advance(5);
    }

    public void WriteFloat64(double value)
    {
        var s = _out.GetSpan(9);
        s[0] = 0xcb;
        BinaryPrimitives.WriteDoubleBigEndian(s[1..], value);
        _out.Advance(9);
    }

    public void WriteString(string? value)
    {
        if (value is null)
        {
            WriteNil();
            return;
        }
        var byteCount = Encoding.UTF8.GetByteCount(value);
        if (byteCount <= 31)
        {
            WriteByte((byte)(0xa0 | byteCount));
        }
        else if (byteCount <= byte.MaxValue)
        {
            WriteHeader8(0xd9, byteCount);
        }
        else if (byteCount <= ushort.MaxValue)
        {
            WriteHeader16(0xda, byteCount);
        }
        else
        {
            WriteHeader32(0xdb, byteCount);
        }
        var span = _out.GetSpan(byteCount);
        var written = Encoding.UTF8.GetBytes(value, span);
        _out.Advance(written);
    }

    public void WriteBin(ReadOnlySpan<byte> value)
    {
        if (value.Length <= byte.MaxValue) WriteHeader8(0xc4, value.Length);
        else if (value.Length <= ushort.MaxValue) WriteHeader16(0xc5, value.Length);
        else WriteHeader32(0xc6, value.Length);
        WriteRaw(value);
    }

    public void WriteArrayHeader(int count)
    {
        if (count <= 15) WriteByte((byte)(0x90 | count));
        else if (count <= ushort.MaxValue) WriteHeader16(0xdc, count);
        else WriteHeader32(0xdd, count);
    }

    public void WriteMapHeader(int count)
    {
        if (count <= 15) WriteByte((byte)(0x80 | count));
        else if (count <= ushort.MaxValue) WriteHeader16(0xde, count);
        else WriteHeader32(0xdf, count);
    }

    public void WriteExt(sbyte type, ReadOnlySpan<byte> data)
    {
        switch (data.Length)
        {
            case 1: WriteByte(0xd4); break;
            case 2: WriteByte(0xd5); break;
            case 4: WriteByte(0xd6); break;
            case 8: WriteByte(0xd7); break;
            case 16: WriteByte(0xd8); break;
            default:
                if (data.Length <= byte.MaxValue) WriteHeader8(0xc7, data.Length);
                else if (data.Length <= ushort.MaxValue) WriteHeader16(0xc8, data.Length);
                else WriteHeader32(0xc9, data.Length);
                break;
        }
        WriteByte((byte)type);
        WriteRaw(data);
    }

    /// <summary>
    /// Timestamp extension (type -1): 32-bit form for whole seconds in [0, 2^32), 64-bit form
    /// for seconds in [0, 2^34) with nanoseconds, 96-bit form otherwise. Local times are
    /// converted to UTC; Unspecified is taken as UTC.
    /// </summary>
    public void WriteTimestamp(DateTime value)
    {
        if (value.Kind == DateTimeKind.Local) value = value.ToUniversalTime();
        var ticks = value.Ticks - DateTime.UnixEpoch.Ticks;
        var seconds = Math.DivRem(ticks, TimeSpan.TicksPerSecond, out var remTicks);
        if (remTicks < 0)
        {
            seconds -= 1;
            remTicks += TimeSpan.TicksPerSecond;
        }
        var nanos = (uint)(remTicks * 100);
        Span<byte> data = stackalloc byte[12];
        if (seconds >= 0 && (seconds >> 34) == 0)
        {
            if (nanos == 0 && seconds <= uint.MaxValue)
            {
                BinaryPrimitives.WriteUInt32BigEndian(data, (uint)seconds);
                WriteExt(-1, data[..4]);
            }
            else
            {
                BinaryPrimitives.WriteUInt64BigEndian(data, ((ulong)nanos << 34) | (ulong)seconds);
                WriteExt(-1, data[..8]);
            }
        }
        else
        {
            BinaryPrimitives.WriteUInt32BigEndian(data, nanos);
            BinaryPrimitives.WriteInt64BigEndian(data[4..], seconds);
            WriteExt(-1, data);
        }
    }

    /// <summary>Writes already-encoded MessagePack bytes.</summary>
    public void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return;
        var s = _out.GetSpan(bytes.Length);
        bytes.CopyTo(s);
        _out.Advance(bytes.Length);
    }

    /// <summary>Writes a decoded value back in its original kinds.</summary>
    public void WriteValue(MsgPackValue v)
    {
        switch (v.Kind)
        {
            case MsgPackKind.Nil: WriteNil(); break;
            case MsgPackKind.Bool: WriteBool(v.Bool); break;
            case MsgPackKind.Int: WriteInt(v.Int); break;
            case MsgPackKind.UInt: WriteUInt(v.UInt); break;
            case MsgPackKind.Float32: WriteFloat32((float)v.Float); break;
            case MsgPackKind.Float64: WriteFloat64(v.Float); break;
            case MsgPackKind.Str: WriteString(v.Str); break;
            case MsgPackKind.Bin: WriteBin(v.Bytes); break;
            case MsgPackKind.Ext: WriteExt(v.ExtType, v.Bytes); break;
            case MsgPackKind.Array:
                WriteArrayHeader(v.Items!.Length);
                foreach (var item in v.Items) WriteValue(item);
                break;
            case MsgPackKind.Map:
                WriteMapHeader(v.Entries!.Length);
                foreach (var e in v.Entries)
                {
                    WriteValue(e.Key);
                    WriteValue(e.Value);
                }
                break;
        }
    }

    private void WriteByte(byte b)
    {
        var s = _out.GetSpan(1);
        s[0] = b;
        _out.Advance(1);
    }

    private void WriteHeader8(byte code, int n)
    {
        var s = _out.GetSpan(2);
        s[0] = code;
        s[1] = (byte)n;
        _out.Advance(2);
    }

    private void WriteHeader16(byte code, int n)
    {
        var s = _out.GetSpan(3);
        s[0] = code;
        BinaryPrimitives.WriteUInt16BigEndian(s[1..], (ushort)n);
        _out.Advance(3);
    }

    private void WriteHeader32(byte code, int n)
    {
        var s = _out.GetSpan(5);
        s[0] = code;
        BinaryPrimitives.WriteUInt32BigEndian(s[1..], (uint)n);
        _out.Advance(5);
    }
}
