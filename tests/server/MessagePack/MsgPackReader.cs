// Hand-written MessagePack reader (format spec: https://github.com/msgpack/msgpack/blob/master/spec.md).
// Reads from one contiguous span; every failure is an InvalidDataException.

using System.Buffers.Binary;
using System.Text;

namespace SignalRTestServer.MessagePack;

public ref struct MsgPackReader
{
    /// <summary>Maximum nesting of arrays/maps inside one value (untrusted input).</summary>
    public const int MaxDepth = 256;

    // Invalid UTF-8 becomes U+FFFD (lenient, like common MessagePack libraries).
    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false);

    private readonly ReadOnlySpan<byte> _data;
    private int _pos;

    public MsgPackReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _pos = 0;
    }

    public int Position => _pos;
    public int Remaining => _data.Length - _pos;
    public bool End => _pos >= _data.Length;

    // ------------------------------------------------------------------ primitives

    public byte PeekCode(string field)
    {
        if (_pos >= _data.Length) throw Truncated(field);
        return _data[_pos];
    }

    public bool TryReadNil()
    {
        if (_pos < _data.Length && _data[_pos] == 0xc0)
        {
            _pos++;
            return true;
        }
        return false;
    }

    public bool ReadBool(string field)
    {
        var code = PeekCode(field);
        if (code == 0xc2) { _pos++; return false; }
        if (code == 0xc3) { _pos++; return true; }
        throw WrongType(field, "Boolean", code);
    }

    public int ReadInt32(string field)
    {
        var code = PeekCode(field);
        if (!IsIntegerCode(code)) throw WrongType(field, "Int32", code);
        var v = ReadInt64(field);
        if (v < int.MinValue || v > int.MaxValue)
            throw new InvalidDataException($"Reading '{field}' as Int32 failed: {v} is out of range.");
        return (int)v;
    }

    public long ReadInt64(string field)
    {
        var code = PeekCode(field);
        if (!IsIntegerCode(code)) throw WrongType(field, "Int64", code);
        var v = ReadValue(0, field);
        if (v.Kind == MsgPackKind.UInt)
            throw new InvalidDataException($"Reading '{field}' as Int64 failed: {v.UInt} is out of range.");
        return v.Int;
    }

    /// <summary>A str (returned) or nil (null).</summary>
    public string? ReadStringOrNil(string field)
    {
        var code = PeekCode(field);
        if (code == 0xc0) { _pos++; return null; }
        if (!IsStrCode(code)) throw WrongType(field, "String", code);
        return ReadValue(0, field).Str;
    }

    public int ReadArrayHeader(string field)
    {
        var code = PeekCode(field);
        int count;
        if (code is >= 0x90 and <= 0x9f) { _pos++; count = code & 0x0f; }
        else if (code == 0xdc) { _pos++; count = ReadU16(field); }
        else if (code == 0xdd) { _pos++; count = CheckedCount(ReadU32(field), field); }
        else throw WrongType(field, "Array", code);
        if (count > Remaining)
            throw new InvalidDataException($"Reading '{field}': array of {count} elements is longer than the remaining {Remaining} bytes.");
        return count;
    }

    public int ReadMapHeader(string field)
    {
        var code = PeekCode(field);
        int count;
        if (code is >= 0x80 and <= 0x8f) { _pos++; count = code & 0x0f; }
        else if (code == 0xde) { _pos++; count = ReadU16(field); }
        else if (code == 0xdf) { _pos++; count = CheckedCount(ReadU32(field), field); }
        else throw WrongType(field, "Map", code);
        if ((long)count * 2 > Remaining)
            throw new InvalidDataException($"Reading '{field}': map of {count} entries is longer than the remaining {Remaining} bytes.");
        return count;
    }

    /// <summary>Skips one complete value.</summary>
    public void Skip(string field) => ReadValue(0, field);

    // ------------------------------------------------------------------ full values

    /// <summary>Reads one complete value (recursively) into a tree.</summary>
    public MsgPackValue ReadValue(int depth, string field)
    {
        if (depth > MaxDepth)
            throw new InvalidDataException($"Reading '{field}': MessagePack value nested deeper than {MaxDepth} levels.");
        var code = PeekCode(field);
        _pos++;
        switch (code)
        {
            case <= 0x7f: return MsgPackValue.FromInt(code);
            case >= 0xe0: return MsgPackValue.FromInt((sbyte)code);
            case >= 0x80 and <= 0x8f: return ReadMapBody(code & 0x0f, depth, field);
            case >= 0x90 and <= 0x9f: return ReadArrayBody(code & 0x0f, depth, field);
            case >= 0xa0 and <= 0xbf: return MsgPackValue.FromString(ReadUtf8(code & 0x1f, field));
            case 0xc0: return MsgPackValue.Nil;
            case 0xc2: return MsgPackValue.False;
            case 0xc3: return MsgPackValue.True;
            case 0xc4: return MsgPackValue.FromBin(ReadBytes(ReadU8(field), field));
            case 0xc5: return MsgPackValue.FromBin(ReadBytes(ReadU16(field), field));
            case 0xc6: return MsgPackValue.FromBin(ReadBytes(CheckedCount(ReadU32(field), field), field));
            case 0xc7: return ReadExtBody(ReadU8(field), field);
            case 0xc8: return ReadExtBody(ReadU16(field), field);
            case 0xc9: return ReadExtBody(CheckedCount(ReadU32(field), field), field);
            case 0xca: return MsgPackValue.FromFloat32(BinaryPrimitives.ReadSingleBigEndian(Take(4, field)));
            case 0xcb: return MsgPackValue.FromFloat64(BinaryPrimitives.ReadDoubleBigEndian(Take(8, field)));
            case 0xcc: return MsgPackValue.FromInt(ReadU8(field));
            case 0xcd: return MsgPackValue.FromInt(ReadU16(field));
            case 0xce: return MsgPackValue.FromInt(ReadU32(field));
            case 0xcf: return MsgPackValue.FromUInt(BinaryPrimitives.ReadUInt64BigEndian(Take(8, field)));
            case 0xd0: return MsgPackValue.FromInt((sbyte)Take(1, field)[0]);
            case 0xd1: return MsgPackValue.FromInt(BinaryPrimitives.ReadInt16BigEndian(Take(2, field)));
            case 0xd2: return MsgPackValue.FromInt(BinaryPrimitives.ReadInt32BigEndian(Take(4, field)));
            case 0xd3: return MsgPackValue.FromInt(BinaryPrimitives.ReadInt64BigEndian(Take(8, field)));
            case 0xd4: return ReadExtBody(1, field);
            case 0xd5: return ReadExtBody(2, field);
            case 0xd6: return ReadExtBody(4, field);
            case 0xd7: return ReadExtBody(8, field);
            case 0xd8: return ReadExtBody(16, field);
            case 0xd9: return MsgPackValue.FromString(ReadUtf8(ReadU8(field), field));
            case 0xda: return MsgPackValue.FromString(ReadUtf8(ReadU16(field), field));
            case 0xdb: return MsgPackValue.FromString(ReadUtf8(CheckedCount(ReadU32(field), field), field));
            case 0xdc: return ReadArrayBody(ReadU16(field), depth, field);
            case 0xdd: return ReadArrayBody(CheckedCount(ReadU32(field), field), depth, field);
            case 0xde: return ReadMapBody(ReadU16(field), depth, field);
            case 0xdf: return ReadMapBody(CheckedCount(ReadU32(field), field), depth, field);
            default: // 0xc1 is never used
                throw new InvalidDataException($"Reading '{field}': invalid MessagePack format byte 0x{code:x2} at offset {_pos - 1}.");
        }
    }

    private MsgPackValue ReadArrayBody(int count, int depth, string field)
    {
        if (count > Remaining)
            throw new InvalidDataException($"Reading '{field}': array of {count} elements is longer than the remaining {Remaining} bytes.");
        var items = count == 0 ? Array.Empty<MsgPackValue>() : new MsgPackValue[count];
        for (var i = 0; i < count; i++) items[i] = ReadValue(depth + 1, field);
        return MsgPackValue.FromArray(items);
    }

    private MsgPackValue ReadMapBody(int count, int depth, string field)
    {
        if ((long)count * 2 > Remaining)
            throw new InvalidDataException($"Reading '{field}': map of {count} entries is longer than the remaining {Remaining} bytes.");
        var entries = count == 0
            ? Array.Empty<KeyValuePair<MsgPackValue, MsgPackValue>>()
            : new KeyValuePair<MsgPackValue, MsgPackValue>[count];
        for (var i = 0; i < count; i++)
        {
            var key = ReadValue(depth + 1, field);
            var value = ReadValue(depth + 1, field);
            entries[i] = new KeyValuePair<MsgPackValue, MsgPackValue>(key, value);
        }
        return MsgPackValue.FromMap(entries);
    }

    private MsgPackValue ReadExtBody(int length, string field)
    {
        var type = (sbyte)Take(1, field)[0];
        var data = ReadBytes(length, field);
        if (type == -1 && length is not (4 or 8 or 12))
            throw new InvalidDataException($"Reading '{field}': timestamp extension with invalid length {length} (must be 4, 8 or 12).");
        return MsgPackValue.FromExt(type, data);
    }

    // ------------------------------------------------------------------ helpers

    public static bool IsIntegerCode(byte code) =>
        code <= 0x7f || code >= 0xe0 || code is >= 0xcc and <= 0xd3;

    public static bool IsStrCode(byte code) => code is >= 0xa0 and <= 0xbf or >= 0xd9 and <= 0xdb;

    private ReadOnlySpan<byte> Take(int n, string field)
    {
        if (n < 0 || n > Remaining) throw Truncated(field);
        var s = _data.Slice(_pos, n);
        _pos += n;
        return s;
    }

    private byte[] ReadBytes(int n, string field) => Take(n, field).ToArray();

    private string ReadUtf8(int n, string field)
    {
        return Utf8.GetString(Take(n, field));
    }

    private int ReadU8(string field) => Take(1, field)[0];
    private int ReadU16(string field) => BinaryPrimitives.ReadUInt16BigEndian(Take(2, field));
    private uint ReadU32(string field) => BinaryPrimitives.ReadUInt32BigEndian(Take(4, field));

    private int CheckedCount(uint n, string field)
    {
        if (n > int.MaxValue || n > (uint)Remaining)
            throw new InvalidDataException($"Reading '{field}': length {n} exceeds the remaining {Remaining} bytes.");
        return (int)n;
    }

    private InvalidDataException Truncated(string field) =>
        new($"Reading '{field}': unexpected end of MessagePack data at offset {_pos}.");

    private InvalidDataException WrongType(string field, string expected, byte code) =>
        new($"Reading '{field}' as {expected} failed: found {FormatName(code)} (0x{code:x2}) at offset {_pos}.");

    public static string FormatName(byte code) => code switch
    {
        <= 0x7f or >= 0xe0 => "fixint",
        >= 0x80 and <= 0x8f => "fixmap",
        >= 0x90 and <= 0x9f => "fixarray",
        >= 0xa0 and <= 0xbf => "fixstr",
        0xc0 => "nil",
        0xc1 => "invalid",
        0xc2 or 0xc3 => "bool",
        >= 0xc4 and <= 0xc6 => "bin",
        >= 0xc7 and <= 0xc9 => "ext",
        0xca => "float32",
        0xcb => "float64",
        >= 0xcc and <= 0xcf => "uint",
        >= 0xd0 and <= 0xd3 => "int",
        >= 0xd4 and <= 0xd8 => "fixext",
        >= 0xd9 and <= 0xdb => "str",
        0xdc or 0xdd => "array",
        0xde or 0xdf => "map",
    };
}
