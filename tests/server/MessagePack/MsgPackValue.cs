// Hand-written MessagePack support for the test server (no MessagePack NuGet package is
// available here). Written from the MessagePack format spec
// (https://github.com/msgpack/msgpack/blob/master/spec.md).
//
// MsgPackValue is the intermediate tree a received value is read into before it is converted
// to the .NET type the hub method expects (MsgPackConverter.ToType) or to a "natural" .NET
// value for object-typed parameters (MsgPackConverter.ToNatural).

using System.Text;

namespace SignalRTestServer.MessagePack;

public enum MsgPackKind
{
    Nil,
    Bool,
    /// <summary>Any integer that fits in a long (Int holds it).</summary>
    Int,
    /// <summary>An unsigned integer above long.MaxValue (UInt holds it).</summary>
    UInt,
    Float32,
    Float64,
    Str,
    Bin,
    Array,
    Map,
    Ext,
}

/// <summary>One decoded MessagePack value (immutable tree).</summary>
public sealed class MsgPackValue
{
    public static readonly MsgPackValue Nil = new(MsgPackKind.Nil);
    public static readonly MsgPackValue True = new(MsgPackKind.Bool) { Bool = true };
    public static readonly MsgPackValue False = new(MsgPackKind.Bool) { Bool = false };

    private MsgPackValue(MsgPackKind kind) => Kind = kind;

    public MsgPackKind Kind { get; }
    public bool Bool { get; private init; }
    public long Int { get; private init; }
    public ulong UInt { get; private init; }
    public double Float { get; private init; }
    public string? Str { get; private init; }
    /// <summary>Bin payload, or the data of an extension value.</summary>
    public byte[]? Bytes { get; private init; }
    public sbyte ExtType { get; private init; }
    public MsgPackValue[]? Items { get; private init; }
    public KeyValuePair<MsgPackValue, MsgPackValue>[]? Entries { get; private init; }

    public bool IsNil => Kind == MsgPackKind.Nil;
    public bool IsInteger => Kind is MsgPackKind.Int or MsgPackKind.UInt;
    public bool IsNumber => Kind is MsgPackKind.Int or MsgPackKind.UInt or MsgPackKind.Float32 or MsgPackKind.Float64;
    /// <summary>MessagePack timestamp extension (type -1).</summary>
    public bool IsTimestamp => Kind == MsgPackKind.Ext && ExtType == -1;

    public static MsgPackValue FromBool(bool b) => b ? True : False;
    public static MsgPackValue FromInt(long v) => new(MsgPackKind.Int) { Int = v };
    public static MsgPackValue FromUInt(ulong v) =>
        v <= long.MaxValue ? FromInt((long)v) : new(MsgPackKind.UInt) { UInt = v };
    public static MsgPackValue FromFloat32(float v) => new(MsgPackKind.Float32) { Float = v };
    public static MsgPackValue FromFloat64(double v) => new(MsgPackKind.Float64) { Float = v };
    public static MsgPackValue FromString(string s) => new(MsgPackKind.Str) { Str = s };
    public static MsgPackValue FromBin(byte[] b) => new(MsgPackKind.Bin) { Bytes = b };
    public static MsgPackValue FromArray(MsgPackValue[] items) => new(MsgPackKind.Array) { Items = items };
    public static MsgPackValue FromMap(KeyValuePair<MsgPackValue, MsgPackValue>[] entries) =>
        new(MsgPackKind.Map) { Entries = entries };
    public static MsgPackValue FromExt(sbyte type, byte[] data) =>
        new(MsgPackKind.Ext) { ExtType = type, Bytes = data };

    /// <summary>Short description for error messages ("str", "int 42", "map(3)", ...).</summary>
    public string Describe() => Kind switch
    {
        MsgPackKind.Nil => "nil",
        MsgPackKind.Bool => Bool ? "true" : "false",
        MsgPackKind.Int => $"int {Int}",
        MsgPackKind.UInt => $"uint {UInt}",
        MsgPackKind.Float32 => $"float32 {Float}",
        MsgPackKind.Float64 => $"float64 {Float}",
        MsgPackKind.Str => "str",
        MsgPackKind.Bin => $"bin({Bytes!.Length})",
        MsgPackKind.Array => $"array({Items!.Length})",
        MsgPackKind.Map => $"map({Entries!.Length})",
        MsgPackKind.Ext => $"ext(type {ExtType}, {Bytes!.Length} bytes)",
        _ => Kind.ToString(),
    };

    public override string ToString()
    {
        var sb = new StringBuilder();
        Append(sb);
        return sb.ToString();
    }

    private void Append(StringBuilder sb)
    {
        switch (Kind)
        {
            case MsgPackKind.Str: sb.Append('"').Append(Str).Append('"'); break;
            case MsgPackKind.Array:
                sb.Append('[');
                for (var i = 0; i < Items!.Length; i++)
                {
                    if (i > 0) sb.Append(", ");
                    Items[i].Append(sb);
                }
                sb.Append(']');
                break;
            case MsgPackKind.Map:
                sb.Append('{');
                for (var i = 0; i < Entries!.Length; i++)
                {
                    if (i > 0) sb.Append(", ");
                    Entries[i].Key.Append(sb);
                    sb.Append(": ");
                    Entries[i].Value.Append(sb);
                }
                sb.Append('}');
                break;
            default: sb.Append(Describe()); break;
        }
    }
}

/// <summary>
/// A MessagePack extension value other than the timestamp (type -1). Hub methods taking
/// object receive it as-is, and it is written back unchanged.
/// </summary>
public sealed record MsgPackExtension(sbyte Type, byte[] Data);
