// Conversions between MessagePack values and .NET values for the hand-written hub protocol.
//
// Reading: a received value is first decoded into a MsgPackValue tree, then converted to the
// parameter / stream item / client result type the server asks for (ToType). object-typed
// targets get a "natural" .NET value (ToNatural): long/ulong, float/double, string, bool, null,
// byte[], DateTime (timestamp ext), object?[] and Dictionary<object, object?>.
//
// Writing: .NET values are serialized the way a "contractless" MessagePack serializer with
// enums-as-strings does (that is the default of ASP.NET Core's MessagePack hub protocol):
// objects become maps keyed by their public member names (PascalCase), collections become
// arrays, byte[] becomes bin, DateTime becomes the timestamp extension (type -1).

using System.Collections;
using System.Collections.Concurrent;
using System.Globalization;
using System.Reflection;
using System.Runtime.CompilerServices;
using System.Runtime.Serialization;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.SignalR.Protocol;

namespace SignalRTestServer.MessagePack;

public static class MsgPackConverter
{
    /// <summary>Maximum object graph depth when writing (guards against cycles).</summary>
    public const int MaxWriteDepth = 256;

    private static readonly JsonSerializerOptions FallbackJsonOptions = new()
    {
        PropertyNameCaseInsensitive = true,
        IncludeFields = true,
    };

    // ================================================================== reading: natural values

    /// <summary>The value an object-typed parameter receives.</summary>
    public static object? ToNatural(MsgPackValue v)
    {
        switch (v.Kind)
        {
            case MsgPackKind.Nil: return null;
            case MsgPackKind.Bool: return v.Bool;
            case MsgPackKind.Int: return v.Int;
            case MsgPackKind.UInt: return v.UInt;
            case MsgPackKind.Float32: return (float)v.Float;
            case MsgPackKind.Float64: return v.Float;
            case MsgPackKind.Str: return v.Str;
            case MsgPackKind.Bin: return v.Bytes;
            case MsgPackKind.Ext:
                return v.IsTimestamp ? DecodeTimestamp(v.Bytes!) : new MsgPackExtension(v.ExtType, v.Bytes!);
            case MsgPackKind.Array:
            {
                var items = new object?[v.Items!.Length];
                for (var i = 0; i < items.Length; i++) items[i] = ToNatural(v.Items[i]);
                return items;
            }
            case MsgPackKind.Map:
            {
                var dict = new Dictionary<object, object?>(v.Entries!.Length);
                foreach (var e in v.Entries)
                {
                    var key = ToNatural(e.Key) ?? throw new InvalidDataException("A MessagePack map key is nil; nil keys are not supported.");
                    dict[key] = ToNatural(e.Value);
                }
                return dict;
            }
            default:
                throw new InvalidDataException($"Unsupported MessagePack value {v.Describe()}.");
        }
    }

    /// <summary>Decodes the 4, 8 or 12 byte payload of a timestamp extension (type -1) as a UTC DateTime.</summary>
    public static DateTime DecodeTimestamp(byte[] data)
    {
        long seconds;
        uint nanos;
        switch (data.Length)
        {
            case 4:
                seconds = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(data);
                nanos = 0;
                break;
            case 8:
            {
                var raw = System.Buffers.Binary.BinaryPrimitives.ReadUInt64BigEndian(data);
                nanos = (uint)(raw >> 34);
                seconds = (long)(raw & 0x3_FFFF_FFFFUL);
                break;
            }
            case 12:
                nanos = System.Buffers.Binary.BinaryPrimitives.ReadUInt32BigEndian(data);
                seconds = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(data.AsSpan(4));
                break;
            default:
                throw new InvalidDataException($"Invalid timestamp extension length {data.Length} (must be 4, 8 or 12).");
        }
        if (nanos >= 1_000_000_000)
            throw new InvalidDataException($"Invalid timestamp: nanoseconds {nanos} must be below 1000000000.");
        const long minSeconds = -62135596800L; // 0001-01-01T00:00:00Z
        const long maxSeconds = 253402300799L; // 9999-12-31T23:59:59Z
        if (seconds < minSeconds || seconds > maxSeconds)
            throw new InvalidDataException($"Timestamp {seconds}s is outside the range of System.DateTime.");
        var ticks = DateTime.UnixEpoch.Ticks + seconds * TimeSpan.TicksPerSecond + nanos / 100;
        return new DateTime(ticks, DateTimeKind.Utc);
    }

    // ================================================================== reading: typed values

    /// <summary>Converts a decoded value to <paramref name="type"/>; InvalidDataException on mismatch.</summary>
    public static object? ToType(MsgPackValue v, Type type)
    {
        if (type == typeof(object)) return ToNatural(v);
        if (type == typeof(MsgPackValue)) return v;

        var underlying = Nullable.GetUnderlyingType(type);
        if (underlying is not null) return v.IsNil ? null : ToType(v, underlying);

        if (v.IsNil)
        {
            if (type.IsValueType) throw Mismatch(v, type);
            return null;
        }

        if (type == typeof(string))
            return v.Kind == MsgPackKind.Str ? v.Str : throw Mismatch(v, type);
        if (type.IsEnum) return ToEnum(v, type);

        switch (Type.GetTypeCode(type))
        {
            case TypeCode.Boolean:
                return v.Kind == MsgPackKind.Bool ? v.Bool : throw Mismatch(v, type);
            case TypeCode.SByte: case TypeCode.Byte: case TypeCode.Int16: case TypeCode.UInt16:
            case TypeCode.Int32: case TypeCode.UInt32: case TypeCode.Int64: case TypeCode.UInt64:
                return ToInteger(v, type);
            case TypeCode.Char:
                if (v.Kind == MsgPackKind.Str && v.Str!.Length == 1) return v.Str[0];
                return ToInteger(v, type);
            case TypeCode.Single:
                return v.Kind switch
                {
                    MsgPackKind.Float32 or MsgPackKind.Float64 => (float)v.Float,
                    MsgPackKind.Int => (float)v.Int,
                    MsgPackKind.UInt => (float)v.UInt,
                    _ => throw Mismatch(v, type),
                };
            case TypeCode.Double:
                return v.Kind switch
                {
                    MsgPackKind.Float32 or MsgPackKind.Float64 => v.Float,
                    MsgPackKind.Int => (double)v.Int,
                    MsgPackKind.UInt => (double)v.UInt,
                    _ => throw Mismatch(v, type),
                };
            case TypeCode.Decimal:
                return ToDecimal(v, type);
            case TypeCode.DateTime:
                return ToDateTime(v, type);
        }

        if (type == typeof(byte[])) return ToBytes(v, type);
        if (type == typeof(DateTimeOffset)) return ToDateTimeOffset(v, type);
        if (type == typeof(TimeSpan))
        {
            if (v.Kind == MsgPackKind.Int) return new TimeSpan(v.Int);
            if (v.Kind == MsgPackKind.Str && TimeSpan.TryParse(v.Str, CultureInfo.InvariantCulture, out var ts)) return ts;
            throw Mismatch(v, type);
        }
        if (type == typeof(Guid))
        {
            if (v.Kind == MsgPackKind.Str && Guid.TryParse(v.Str, out var g)) return g;
            if (v.Kind == MsgPackKind.Bin && v.Bytes!.Length == 16) return new Guid(v.Bytes);
            throw Mismatch(v, type);
        }
        if (type == typeof(Uri))
            return v.Kind == MsgPackKind.Str ? new Uri(v.Str!, UriKind.RelativeOrAbsolute) : throw Mismatch(v, type);
        if (type == typeof(Version))
            return v.Kind == MsgPackKind.Str && Version.TryParse(v.Str, out var ver) ? ver : throw Mismatch(v, type);
        if (type == typeof(MsgPackExtension))
            return v.Kind == MsgPackKind.Ext ? new MsgPackExtension(v.ExtType, v.Bytes!) : throw Mismatch(v, type);
        if (type == typeof(RawResult))
            return new RawResult(new System.Buffers.ReadOnlySequence<byte>(Encode(v)));
        if (IsJsonType(type)) return ViaJson(v, type);

        if (type.IsArray) return ToArray(v, type);

        if (TryGetDictionaryTypes(type, out var keyType, out var valueType, out var dictType))
            return ToDictionary(v, type, dictType, keyType, valueType);
        if (TryGetCollectionTypes(type, out var elemType, out var collType))
            return ToCollection(v, type, collType, elemType);

        // Non-generic interfaces/abstract bases that a natural value satisfies (IEnumerable,
        // IList, IDictionary, ValueType, ...).
        if (type.IsInterface || type.IsAbstract)
        {
            var natural = ToNatural(v);
            if (natural is not null && type.IsInstanceOfType(natural)) return natural;
            return ViaJson(v, type);
        }

        if (v.Kind == MsgPackKind.Map && !type.IsPrimitive && !type.IsPointer && !type.IsByRef)
            return ToObject(v, type);

        return ViaJson(v, type);
    }

    private static object ToInteger(MsgPackValue v, Type type)
    {
        if (!v.IsInteger) throw Mismatch(v, type);
        try
        {
            checked
            {
                if (v.Kind == MsgPackKind.UInt)
                {
                    return Type.GetTypeCode(type) == TypeCode.UInt64 ? v.UInt : throw new OverflowException();
                }
                var l = v.Int;
                return Type.GetTypeCode(type) switch
                {
                    TypeCode.SByte => (object)(sbyte)l,
                    TypeCode.Byte => (byte)l,
                    TypeCode.Int16 => (short)l,
                    TypeCode.UInt16 => (ushort)l,
                    TypeCode.Int32 => (int)l,
                    TypeCode.UInt32 => (uint)l,
                    TypeCode.Int64 => l,
                    TypeCode.UInt64 => (ulong)l,
                    TypeCode.Char => (char)l,
                    _ => throw Mismatch(v, type),
                };
            }
        }
        catch (OverflowException)
        {
            var shown = v.Kind == MsgPackKind.UInt ? v.UInt.ToString(CultureInfo.InvariantCulture) : v.Int.ToString(CultureInfo.InvariantCulture);
            throw new InvalidDataException($"The value {shown} is out of range for {type.Name}.");
        }
    }

    private static object ToDecimal(MsgPackValue v, Type type)
    {
        try
        {
            return v.Kind switch
            {
                MsgPackKind.Str => decimal.Parse(v.Str!, NumberStyles.Float, CultureInfo.InvariantCulture),
                MsgPackKind.Int => (decimal)v.Int,
                MsgPackKind.UInt => (decimal)v.UInt,
                MsgPackKind.Float32 or MsgPackKind.Float64 => (decimal)v.Float,
                _ => throw Mismatch(v, type),
            };
        }
        catch (Exception ex) when (ex is FormatException or OverflowException)
        {
            throw new InvalidDataException($"Cannot convert {v.Describe()} to Decimal: {ex.Message}", ex);
        }
    }

    private static object ToEnum(MsgPackValue v, Type type)
    {
        if (v.Kind == MsgPackKind.Str)
        {
            if (Enum.TryParse(type, v.Str, ignoreCase: false, out var e)) return e!;
            if (Enum.TryParse(type, v.Str, ignoreCase: true, out e)) return e!;
            throw new InvalidDataException($"'{v.Str}' is not a value of enum {type.Name}.");
        }
        if (v.IsInteger)
        {
            var raw = ToInteger(v, Enum.GetUnderlyingType(type));
            return Enum.ToObject(type, raw);
        }
        throw Mismatch(v, type);
    }

    private static object ToBytes(MsgPackValue v, Type type)
    {
        if (v.Kind == MsgPackKind.Bin) return v.Bytes!;
        if (v.Kind == MsgPackKind.Str)
        {
            try
            {
                return Convert.FromBase64String(v.Str!);
            }
            catch (FormatException ex)
            {
                throw new InvalidDataException("A str given for a byte[] is not valid base64.", ex);
            }
        }
        if (v.Kind == MsgPackKind.Array)
        {
            var bytes = new byte[v.Items!.Length];
            for (var i = 0; i < bytes.Length; i++) bytes[i] = (byte)ToInteger(v.Items[i], typeof(byte));
            return bytes;
        }
        throw Mismatch(v, type);
    }

    private static object ToDateTime(MsgPackValue v, Type type)
    {
        if (v.IsTimestamp) return DecodeTimestamp(v.Bytes!);
        if (v.Kind == MsgPackKind.Str &&
            DateTime.TryParse(v.Str, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var dt))
            return dt;
        throw Mismatch(v, type);
    }

    private static object ToDateTimeOffset(MsgPackValue v, Type type)
    {
        if (v.IsTimestamp) return new DateTimeOffset(DecodeTimestamp(v.Bytes!));
        // [clock time as timestamp, offset in minutes] (what contractless serializers write)
        if (v.Kind == MsgPackKind.Array && v.Items!.Length == 2 && v.Items[0].IsTimestamp && v.Items[1].IsInteger)
        {
            var clock = DecodeTimestamp(v.Items[0].Bytes!);
            var minutes = (short)ToInteger(v.Items[1], typeof(short));
            try
            {
                return new DateTimeOffset(clock.Ticks, TimeSpan.FromMinutes(minutes));
            }
            catch (ArgumentException ex)
            {
                throw new InvalidDataException($"Invalid DateTimeOffset: {ex.Message}", ex);
            }
        }
        if (v.Kind == MsgPackKind.Str &&
            DateTimeOffset.TryParse(v.Str, CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var dto))
            return dto;
        throw Mismatch(v, type);
    }

    private static object? ToArray(MsgPackValue v, Type type)
    {
        if (type.GetArrayRank() != 1) return ViaJson(v, type);
        var elem = type.GetElementType()!;
        if (v.Kind != MsgPackKind.Array) throw Mismatch(v, type);
        var arr = Array.CreateInstance(elem, v.Items!.Length);
        for (var i = 0; i < v.Items.Length; i++)
        {
            arr.SetValue(ConvertElement(v.Items[i], elem, $"[{i}]"), i);
        }
        return arr;
    }

    private static object ToCollection(MsgPackValue v, Type type, Type concrete, Type elem)
    {
        if (v.Kind != MsgPackKind.Array) throw Mismatch(v, type);
        var coll = Activator.CreateInstance(concrete)!;
        if (coll is IList list)
        {
            for (var i = 0; i < v.Items!.Length; i++) list.Add(ConvertElement(v.Items[i], elem, $"[{i}]"));
            return coll;
        }
        var add = typeof(ICollection<>).MakeGenericType(elem).GetMethod("Add")!;
        for (var i = 0; i < v.Items!.Length; i++)
            add.Invoke(coll, new[] { ConvertElement(v.Items[i], elem, $"[{i}]") });
        return coll;
    }

    private static object ToDictionary(MsgPackValue v, Type type, Type concrete, Type keyType, Type valueType)
    {
        if (v.Kind != MsgPackKind.Map) throw Mismatch(v, type);
        var dict = Activator.CreateInstance(concrete)!;
        if (dict is IDictionary d)
        {
            foreach (var e in v.Entries!)
            {
                var key = ConvertElement(e.Key, keyType, "(key)")
                          ?? throw new InvalidDataException($"A nil map key cannot be converted to {keyType.Name}.");
                d[key] = ConvertElement(e.Value, valueType, $"[{DescribeKey(e.Key)}]");
            }
            return dict;
        }
        var add = typeof(ICollection<>).MakeGenericType(typeof(KeyValuePair<,>).MakeGenericType(keyType, valueType)).GetMethod("Add")!;
        var pairType = typeof(KeyValuePair<,>).MakeGenericType(keyType, valueType);
        foreach (var e in v.Entries!)
        {
            var key = ConvertElement(e.Key, keyType, "(key)");
            var value = ConvertElement(e.Value, valueType, $"[{DescribeKey(e.Key)}]");
            add.Invoke(dict, new[] { Activator.CreateInstance(pairType, key, value) });
        }
        return dict;
    }

    private static object? ConvertElement(MsgPackValue v, Type type, string where)
    {
        try
        {
            return ToType(v, type);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{where}: {ex.Message}", ex);
        }
    }

    private static string DescribeKey(MsgPackValue key) => key.Kind == MsgPackKind.Str ? key.Str! : key.Describe();

    // ---- POCOs, structs and records: map keyed by member name

    private sealed class ObjectContract
    {
        public required ConstructorInfo? Constructor { get; init; } // null: parameterless / struct
        public required ParameterInfo[] Parameters { get; init; }
        public required Dictionary<string, MemberInfo> Exact { get; init; }
        public required Dictionary<string, MemberInfo> IgnoreCase { get; init; }
    }

    private static readonly ConcurrentDictionary<Type, ObjectContract> ReadContracts = new();

    private static ObjectContract GetReadContract(Type type) => ReadContracts.GetOrAdd(type, static t =>
    {
        var exact = new Dictionary<string, MemberInfo>(StringComparer.Ordinal);
        var ignoreCase = new Dictionary<string, MemberInfo>(StringComparer.OrdinalIgnoreCase);
        foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0 || p.SetMethod is null || !p.SetMethod.IsPublic) continue;
            if (p.IsDefined(typeof(IgnoreDataMemberAttribute))) continue;
            exact.TryAdd(p.Name, p);
            ignoreCase.TryAdd(p.Name, p);
        }
        foreach (var f in t.GetFields(BindingFlags.Public | BindingFlags.Instance))
        {
            if (f.IsInitOnly || f.IsDefined(typeof(IgnoreDataMemberAttribute))) continue;
            exact.TryAdd(f.Name, f);
            ignoreCase.TryAdd(f.Name, f);
        }
        ConstructorInfo? ctor = null;
        var parameters = Array.Empty<ParameterInfo>();
        if (!t.IsValueType && t.GetConstructor(Type.EmptyTypes) is null)
        {
            ctor = t.GetConstructors(BindingFlags.Public | BindingFlags.Instance)
                .OrderByDescending(c => c.GetParameters().Length)
                .FirstOrDefault()
                ?? throw new InvalidDataException($"Type {t.Name} has no public constructor.");
            parameters = ctor.GetParameters();
        }
        return new ObjectContract { Constructor = ctor, Parameters = parameters, Exact = exact, IgnoreCase = ignoreCase };
    });

    private static object ToObject(MsgPackValue v, Type type)
    {
        var contract = GetReadContract(type);
        var entries = v.Entries!;

        // Entries by key: case-sensitive match first, then case-insensitive.
        KeyValuePair<MsgPackValue, MsgPackValue>? FindEntry(string name)
        {
            foreach (var e in entries)
                if (e.Key.Kind == MsgPackKind.Str && string.Equals(e.Key.Str, name, StringComparison.Ordinal)) return e;
            foreach (var e in entries)
                if (e.Key.Kind == MsgPackKind.Str && string.Equals(e.Key.Str, name, StringComparison.OrdinalIgnoreCase)) return e;
            return null;
        }

        object instance;
        HashSet<string>? consumed = null;
        if (contract.Constructor is null)
        {
            instance = Activator.CreateInstance(type)!;
        }
        else
        {
            consumed = new HashSet<string>(StringComparer.Ordinal);
            var args = new object?[contract.Parameters.Length];
            for (var i = 0; i < args.Length; i++)
            {
                var p = contract.Parameters[i];
                var entry = p.Name is null ? null : FindEntry(p.Name);
                if (entry is { } found)
                {
                    args[i] = ConvertMember(found.Value, p.ParameterType, type, p.Name!);
                    consumed.Add(found.Key.Str!);
                }
                else if (p.HasDefaultValue)
                {
                    args[i] = p.DefaultValue;
                }
                else
                {
                    args[i] = p.ParameterType.IsValueType ? Activator.CreateInstance(p.ParameterType) : null;
                }
            }
            try
            {
                instance = contract.Constructor.Invoke(args);
            }
            catch (TargetInvocationException ex) when (ex.InnerException is not null)
            {
                throw new InvalidDataException($"Constructing {type.Name} failed: {ex.InnerException.Message}", ex.InnerException);
            }
        }

        foreach (var e in entries)
        {
            if (e.Key.Kind != MsgPackKind.Str) continue; // non-string keys cannot name a member
            var name = e.Key.Str!;
            if (consumed is not null && consumed.Contains(name)) continue;
            if (!contract.Exact.TryGetValue(name, out var member) && !contract.IgnoreCase.TryGetValue(name, out member))
                continue; // unknown members are ignored
            switch (member)
            {
                case PropertyInfo p:
                    p.SetValue(instance, ConvertMember(e.Value, p.PropertyType, type, p.Name));
                    break;
                case FieldInfo f:
                    f.SetValue(instance, ConvertMember(e.Value, f.FieldType, type, f.Name));
                    break;
            }
        }
        return instance;
    }

    private static object? ConvertMember(MsgPackValue v, Type memberType, Type owner, string name)
    {
        try
        {
            return ToType(v, memberType);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{owner.Name}.{name}: {ex.Message}", ex);
        }
    }

    // ---- type shape helpers

    private static bool TryGetDictionaryTypes(Type type, out Type keyType, out Type valueType, out Type concrete)
    {
        keyType = valueType = concrete = null!;
        if (type.IsGenericType)
        {
            var def = type.GetGenericTypeDefinition();
            if (def == typeof(IDictionary<,>) || def == typeof(IReadOnlyDictionary<,>) || def == typeof(Dictionary<,>))
            {
                var a = type.GetGenericArguments();
                keyType = a[0];
                valueType = a[1];
                concrete = typeof(Dictionary<,>).MakeGenericType(a);
                return true;
            }
        }
        if (type.IsInterface || type.IsAbstract || type.GetConstructor(Type.EmptyTypes) is null) return false;
        var iface = type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        if (iface is null) return false;
        keyType = iface.GetGenericArguments()[0];
        valueType = iface.GetGenericArguments()[1];
        concrete = type;
        return true;
    }

    private static bool TryGetCollectionTypes(Type type, out Type elemType, out Type concrete)
    {
        elemType = concrete = null!;
        if (type.IsGenericType && type.IsInterface)
        {
            var def = type.GetGenericTypeDefinition();
            if (def == typeof(IEnumerable<>) || def == typeof(ICollection<>) || def == typeof(IList<>) ||
                def == typeof(IReadOnlyList<>) || def == typeof(IReadOnlyCollection<>))
            {
                elemType = type.GetGenericArguments()[0];
                concrete = typeof(List<>).MakeGenericType(elemType);
                return true;
            }
            if (def == typeof(ISet<>) || def == typeof(IReadOnlySet<>))
            {
                elemType = type.GetGenericArguments()[0];
                concrete = typeof(HashSet<>).MakeGenericType(elemType);
                return true;
            }
            return false;
        }
        if (type.IsInterface || type.IsAbstract || type == typeof(string) || type.GetConstructor(Type.EmptyTypes) is null) return false;
        var iface = type.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(ICollection<>));
        if (iface is null) return false;
        elemType = iface.GetGenericArguments()[0];
        concrete = type;
        return true;
    }

    private static bool IsJsonType(Type type) =>
        type == typeof(JsonElement) || type == typeof(JsonDocument) || typeof(JsonNode).IsAssignableFrom(type);

    // ---- last resort: via System.Text.Json

    private static object? ViaJson(MsgPackValue v, Type type)
    {
        try
        {
            return JsonSerializer.Deserialize(ToJsonNode(v), type, FallbackJsonOptions);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new InvalidDataException($"Cannot convert {v.Describe()} to {type.Name}: {ex.Message}", ex);
        }
    }

    /// <summary>JSON view of a value (bin and non-timestamp ext become base64 strings).</summary>
    public static JsonNode? ToJsonNode(MsgPackValue v)
    {
        switch (v.Kind)
        {
            case MsgPackKind.Nil: return null;
            case MsgPackKind.Bool: return JsonValue.Create(v.Bool);
            case MsgPackKind.Int: return JsonValue.Create(v.Int);
            case MsgPackKind.UInt: return JsonValue.Create(v.UInt);
            case MsgPackKind.Float32:
            case MsgPackKind.Float64: return JsonValue.Create(v.Float);
            case MsgPackKind.Str: return JsonValue.Create(v.Str);
            case MsgPackKind.Bin: return JsonValue.Create(Convert.ToBase64String(v.Bytes!));
            case MsgPackKind.Ext:
                return v.IsTimestamp
                    ? JsonValue.Create(DecodeTimestamp(v.Bytes!))
                    : JsonValue.Create(Convert.ToBase64String(v.Bytes!));
            case MsgPackKind.Array:
            {
                var arr = new JsonArray();
                foreach (var item in v.Items!) arr.Add(ToJsonNode(item));
                return arr;
            }
            case MsgPackKind.Map:
            {
                var obj = new JsonObject();
                foreach (var e in v.Entries!)
                {
                    var key = e.Key.Kind == MsgPackKind.Str
                        ? e.Key.Str!
                        : Convert.ToString(ToNatural(e.Key), CultureInfo.InvariantCulture) ?? "";
                    obj[key] = ToJsonNode(e.Value);
                }
                return obj;
            }
            default: return null;
        }
    }

    private static InvalidDataException Mismatch(MsgPackValue v, Type type) =>
        new($"Cannot convert MessagePack {v.Describe()} to {TypeName(type)}.");

    private static string TypeName(Type t)
    {
        var u = Nullable.GetUnderlyingType(t);
        return u is not null ? TypeName(u) + "?" : t.Name;
    }

    // ================================================================== writing

    private static byte[] Encode(MsgPackValue v)
    {
        var buf = new System.Buffers.ArrayBufferWriter<byte>();
        new MsgPackWriter(buf).WriteValue(v);
        return buf.WrittenSpan.ToArray();
    }

    private sealed class WriteMember
    {
        public required string Name { get; init; }
        public required Func<object, object?> Get { get; init; }
    }

    private static readonly ConcurrentDictionary<Type, WriteMember[]> WriteContracts = new();

    private static WriteMember[] GetWriteContract(Type type) => WriteContracts.GetOrAdd(type, static t =>
    {
        var members = new List<WriteMember>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.GetIndexParameters().Length > 0 || p.GetMethod is null || !p.GetMethod.IsPublic) continue;
            if (p.IsDefined(typeof(IgnoreDataMemberAttribute))) continue;
            if (!names.Add(p.Name)) continue; // hidden (new) members: the most derived one wins
            members.Add(new WriteMember { Name = p.Name, Get = p.GetValue });
        }
        foreach (var f in t.GetFields(BindingFlags.Public | BindingFlags.Instance))
        {
            if (f.IsDefined(typeof(IgnoreDataMemberAttribute)) || !names.Add(f.Name)) continue;
            members.Add(new WriteMember { Name = f.Name, Get = f.GetValue });
        }
        return members.ToArray();
    });

    /// <summary>Serializes a .NET value.</summary>
    public static void Write(MsgPackWriter w, object? value, int depth = 0)
    {
        if (depth > MaxWriteDepth)
            throw new InvalidOperationException($"Object graph deeper than {MaxWriteDepth} levels (cycle?) cannot be written as MessagePack.");

        switch (value)
        {
            case null: w.WriteNil(); return;
            case string s: w.WriteString(s); return;
            case bool b: w.WriteBool(b); return;
            case Enum e: w.WriteString(e.ToString()); return; // enums as strings (ASP.NET Core default)
            case sbyte i8: w.WriteInt(i8); return;
            case byte u8: w.WriteUInt(u8); return;
            case short i16: w.WriteInt(i16); return;
            case ushort u16: w.WriteUInt(u16); return;
            case int i32: w.WriteInt(i32); return;
            case uint u32: w.WriteUInt(u32); return;
            case long i64: w.WriteInt(i64); return;
            case ulong u64: w.WriteUInt(u64); return;
            case char c: w.WriteUInt(c); return;
            case float f: w.WriteFloat32(f); return;
            case double d: w.WriteFloat64(d); return;
            case decimal m: w.WriteString(m.ToString(CultureInfo.InvariantCulture)); return;
            case byte[] bytes: w.WriteBin(bytes); return;
            case ReadOnlyMemory<byte> rom: w.WriteBin(rom.Span); return;
            case Memory<byte> mem: w.WriteBin(mem.Span); return;
            case ArraySegment<byte> seg: w.WriteBin(seg.AsSpan()); return;
            case DateTime dt: w.WriteTimestamp(dt); return;
            case DateTimeOffset dto:
                w.WriteArrayHeader(2);
                w.WriteTimestamp(new DateTime(dto.Ticks, DateTimeKind.Utc));
                w.WriteInt((short)(dto.Offset.Ticks / TimeSpan.TicksPerMinute));
                return;
            case TimeSpan ts: w.WriteInt(ts.Ticks); return;
            case Guid g: w.WriteString(g.ToString("D")); return;
            case Uri uri: w.WriteString(uri.ToString()); return;
            case Version ver: w.WriteString(ver.ToString()); return;
            case MsgPackValue mv: w.WriteValue(mv); return;
            case MsgPackExtension ext: w.WriteExt(ext.Type, ext.Data); return;
            case RawResult raw:
                foreach (var segment in raw.RawSerializedData) w.WriteRaw(segment.Span);
                return;
            case JsonElement je: WriteJson(w, je, depth); return;
            case JsonDocument jd: WriteJson(w, jd.RootElement, depth); return;
            case JsonNode jn: WriteJson(w, JsonSerializer.SerializeToElement(jn), depth); return;
            case IDictionary dict:
            {
                w.WriteMapHeader(dict.Count);
                foreach (DictionaryEntry entry in dict)
                {
                    Write(w, entry.Key, depth + 1);
                    Write(w, entry.Value, depth + 1);
                }
                return;
            }
            case ITuple tuple:
            {
                w.WriteArrayHeader(tuple.Length);
                for (var i = 0; i < tuple.Length; i++) Write(w, tuple[i], depth + 1);
                return;
            }
        }

        var type = value.GetType();
        if (value is IEnumerable enumerable)
        {
            // Generic dictionaries that are not IDictionary (ExpandoObject, read-only dictionaries).
            var pairs = KeyValuePairs(type);
            if (pairs is not null)
            {
                var list = new List<(object? Key, object? Value)>();
                foreach (var item in enumerable) list.Add((pairs.Value.Key(item!), pairs.Value.Value(item!)));
                w.WriteMapHeader(list.Count);
                foreach (var (k, v) in list)
                {
                    Write(w, k, depth + 1);
                    Write(w, v, depth + 1);
                }
                return;
            }
            var items = new List<object?>();
            foreach (var item in enumerable) items.Add(item);
            w.WriteArrayHeader(items.Count);
            foreach (var item in items) Write(w, item, depth + 1);
            return;
        }

        // POCO / anonymous type / record / struct: map of public member names.
        var members = GetWriteContract(type);
        w.WriteMapHeader(members.Length);
        foreach (var m in members)
        {
            w.WriteString(m.Name);
            Write(w, m.Get(value), depth + 1);
        }
    }

    private static readonly ConcurrentDictionary<Type, (Func<object, object?> Key, Func<object, object?> Value)?> PairAccessors = new();

    private static (Func<object, object?> Key, Func<object, object?> Value)? KeyValuePairs(Type type) =>
        PairAccessors.GetOrAdd(type, static t =>
        {
            var iface = t.GetInterfaces().FirstOrDefault(i =>
                i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>) &&
                i.GetGenericArguments()[0].IsGenericType &&
                i.GetGenericArguments()[0].GetGenericTypeDefinition() == typeof(KeyValuePair<,>));
            if (iface is null) return null;
            var pairType = iface.GetGenericArguments()[0];
            var key = pairType.GetProperty("Key")!;
            var val = pairType.GetProperty("Value")!;
            return (key.GetValue, val.GetValue);
        });

    private static void WriteJson(MsgPackWriter w, JsonElement e, int depth)
    {
        if (depth > MaxWriteDepth)
            throw new InvalidOperationException($"JSON value deeper than {MaxWriteDepth} levels cannot be written as MessagePack.");
        switch (e.ValueKind)
        {
            case JsonValueKind.Object:
                w.WriteMapHeader(e.EnumerateObject().Count());
                foreach (var p in e.EnumerateObject())
                {
                    w.WriteString(p.Name);
                    WriteJson(w, p.Value, depth + 1);
                }
                break;
            case JsonValueKind.Array:
                w.WriteArrayHeader(e.GetArrayLength());
                foreach (var item in e.EnumerateArray()) WriteJson(w, item, depth + 1);
                break;
            case JsonValueKind.String: w.WriteString(e.GetString()); break;
            case JsonValueKind.Number:
                if (e.TryGetInt64(out var l)) w.WriteInt(l);
                else if (e.TryGetUInt64(out var u)) w.WriteUInt(u);
                else w.WriteFloat64(e.GetDouble());
                break;
            case JsonValueKind.True: w.WriteBool(true); break;
            case JsonValueKind.False: w.WriteBool(false); break;
            default: w.WriteNil(); break;
        }
    }
}
