package signalr

// #include <signalr/signalr.h>
import "C"

import (
	"encoding/json"
	"fmt"
	"unsafe"
)

// Encoding says how a buffer of hub values is encoded.
type Encoding int

const (
	EncodingJSON    Encoding = C.SIGNALR_ENCODING_JSON    // UTF-8 JSON text
	EncodingMsgPack Encoding = C.SIGNALR_ENCODING_MSGPACK // MessagePack bytes
)

// MsgPack is one value already encoded as MessagePack. As an argument, upload item or
// client result it is passed to the library as it is (with the JSON protocol the library
// transcodes it to JSON).
type MsgPack []byte

// Value is a received hub value (an invocation result or a stream item) in the wire's
// encoding. It owns its bytes (copied out of the library) and may be kept and used from
// any goroutine.
type Value struct {
	data []byte
	enc  Encoding
}

// Raw returns the value's bytes as they came from the wire: JSON text or MessagePack.
// A hub method that returns nothing gives null ("null" or 0xc0).
func (v Value) Raw() []byte { return v.data }

// Encoding returns the encoding of Raw.
func (v Value) Encoding() Encoding { return v.enc }

// JSON returns the value as JSON text (MessagePack is converted by the library: binary
// becomes base64, timestamps ISO-8601 strings).
func (v Value) JSON() ([]byte, error) {
	if v.enc == EncodingMsgPack {
		return MsgPackToJSON(v.data)
	}
	if len(v.data) == 0 {
		return []byte("null"), nil
	}
	return v.data, nil
}

// Decode stores the value into out with encoding/json (after converting MessagePack to
// JSON).
func (v Value) Decode(out any) error {
	j, err := v.JSON()
	if err != nil {
		return err
	}
	return json.Unmarshal(j, out)
}

// String returns the value as JSON text, for printing.
func (v Value) String() string {
	j, err := v.JSON()
	if err != nil {
		return fmt.Sprintf("<%v>", err)
	}
	return string(j)
}

// Args are the arguments of a server-to-client call (an array), in the wire's encoding,
// copied for the handler: they stay valid after it returns.
type Args struct {
	Value
	conn *Connection // for Defer
}

// Decode stores the arguments, in order, into the given pointers with encoding/json.
// Fewer pointers than arguments ignore the rest; more are an error.
func (a Args) Decode(out ...any) error {
	items, err := a.Items()
	if err != nil {
		return err
	}
	if len(out) > len(items) {
		return fmt.Errorf("signalr: %d arguments received, %d expected", len(items), len(out))
	}
	for i, o := range out {
		if err := json.Unmarshal(items[i], o); err != nil {
			return fmt.Errorf("signalr: argument %d: %w", i, err)
		}
	}
	return nil
}

// Items returns each argument as JSON text.
func (a Args) Items() ([]json.RawMessage, error) {
	j, err := a.JSON()
	if err != nil {
		return nil, err
	}
	var items []json.RawMessage
	if err := json.Unmarshal(j, &items); err != nil {
		return nil, err
	}
	return items, nil
}

// valueFrom copies a borrowed signalr_value (nil gives the zero Value).
func valueFrom(v *C.signalr_value) Value {
	if v == nil {
		return Value{}
	}
	var n C.size_t
	p := C.signalr_value_data(v, &n)
	return Value{data: C.GoBytes(unsafe.Pointer(p), C.int(n)), enc: Encoding(C.signalr_value_encoding(v))}
}

// JSONToMsgPack converts one JSON value to MessagePack the way the official clients map
// values (signalr_json_to_msgpack). Safe for concurrent use.
func JSONToMsgPack(j []byte) ([]byte, error) {
	var out *C.uint8_t
	var n C.size_t
	if rc := C.signalr_json_to_msgpack((*C.char)(bytesPtr(j)), C.size_t(len(j)), &out, &n); rc != 0 {
		return nil, codeError(rc, "json to msgpack")
	}
	defer C.signalr_free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(n)), nil
}

// MsgPackToJSON converts one MessagePack value to JSON text (signalr_msgpack_to_json):
// binary becomes a base64 string, a timestamp an ISO-8601 UTC string. Safe for concurrent
// use.
func MsgPackToJSON(m []byte) ([]byte, error) {
	var out *C.char
	var n C.size_t
	if rc := C.signalr_msgpack_to_json((*C.uint8_t)(bytesPtr(m)), C.size_t(len(m)), &out, &n); rc != 0 {
		return nil, codeError(rc, "msgpack to json")
	}
	defer C.signalr_free(unsafe.Pointer(out))
	return C.GoBytes(unsafe.Pointer(out), C.int(n)), nil
}

// encodeArgs encodes hub arguments as one array buffer: JSON text through encoding/json,
// unless an argument is MsgPack or []byte, then a MessagePack array (the other arguments
// transcoded by the library). A []byte goes as MessagePack bin, which the library turns into
// a base64 string on a JSON connection: both protocols then carry it as the official clients
// do (in JSON a base64 string would become a MessagePack str, not bin).
func encodeArgs(args []any) ([]byte, Encoding, error) {
	raw := false
	for _, a := range args {
		switch a.(type) {
		case MsgPack, []byte:
			raw = true
		}
		if raw {
			break
		}
	}
	if !raw {
		if len(args) == 0 {
			return []byte("[]"), EncodingJSON, nil
		}
		b, err := json.Marshal(args)
		return b, EncodingJSON, err
	}
	out := msgpackArrayHeader(len(args))
	for _, a := range args {
		m, err := encodeMsgPack(a)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, m...)
	}
	return out, EncodingMsgPack, nil
}

// encodeValue encodes one value (an upload item, a client result): MsgPack as it is,
// json.RawMessage as it is, anything else with encoding/json.
func encodeValue(v any) ([]byte, Encoding, error) {
	switch t := v.(type) {
	case MsgPack:
		return t, EncodingMsgPack, nil
	case []byte: // bin (see encodeArgs)
		return msgpackBin(t), EncodingMsgPack, nil
	case json.RawMessage:
		return t, EncodingJSON, nil
	}
	b, err := json.Marshal(v)
	return b, EncodingJSON, err
}

func encodeMsgPack(v any) ([]byte, error) {
	b, enc, err := encodeValue(v)
	if err != nil || enc == EncodingMsgPack {
		return b, err
	}
	return JSONToMsgPack(b)
}

// msgpackBin is b as MessagePack bin (bin8, bin16, bin32).
func msgpackBin(b []byte) []byte {
	n := len(b)
	var out []byte
	switch {
	case n < 1<<8:
		out = append(make([]byte, 0, 2+n), 0xc4, byte(n))
	case n < 1<<16:
		out = append(make([]byte, 0, 3+n), 0xc5, byte(n>>8), byte(n))
	default:
		out = append(make([]byte, 0, 5+n), 0xc6, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, b...)
}

// msgpackArrayHeader is the MessagePack array header for n elements (fixarray, array16,
// array32).
func msgpackArrayHeader(n int) []byte {
	switch {
	case n < 16:
		return []byte{0x90 | byte(n)}
	case n < 1<<16:
		return []byte{0xdc, byte(n >> 8), byte(n)}
	default:
		return []byte{0xdd, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
}
