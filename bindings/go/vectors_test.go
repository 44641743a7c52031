package signalr

// The shared wire vectors (tests/vectors/hub_messages.json) through the transcoding ABI:
// every payload the vectors carry must transcode JSON -> MessagePack into the bytes that
// sit in the vector's MessagePack message, and whole MessagePack messages (also the
// decode_also forms) must transcode back to the vector's values. msgpack-only vectors (bin,
// timestamps) must give the accessor's json_view exactly.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type vector struct {
	Name       string                     `json:"name"`
	Message    map[string]json.RawMessage `json:"message"`
	JSON       *string                    `json:"json"`
	MsgPack    *string                    `json:"msgpack"`
	JSONView   *string                    `json:"json_view"`
	DecodeAlso []map[string]string        `json:"decode_also"`
}

func loadVectors(t *testing.T) []vector {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "tests", "vectors", "hub_messages.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Vectors) < 20 {
		t.Fatalf("only %d vectors", len(f.Vectors))
	}
	return f.Vectors
}

// payload names the message's payload field and its index in the MessagePack array.
func payload(m map[string]json.RawMessage) (string, int) {
	var typ int
	_ = json.Unmarshal(m["type"], &typ)
	switch typ {
	case 1, 4:
		return "arguments", 4
	case 2:
		return "item", 3
	case 3:
		if _, ok := m["result"]; ok {
			return "result", 4
		}
	}
	return "", -1
}

// body strips the VarInt length prefix of a framed MessagePack message.
func body(t *testing.T, hexText string) []byte {
	t.Helper()
	raw, err := hex.DecodeString(strings.ReplaceAll(hexText, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	n, shift, i := 0, 0, 0
	for {
		b := raw[i]
		n |= int(b&0x7f) << shift
		i++
		if b&0x80 == 0 {
			break
		}
		shift += 7
	}
	if len(raw)-i != n {
		t.Fatalf("length prefix %d, body %d", n, len(raw)-i)
	}
	return raw[i:]
}

func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// element returns the raw JSON text of element i of a JSON array, as the transcoder wrote it.
func element(t *testing.T, arr []byte, i int) json.RawMessage {
	t.Helper()
	var items []json.RawMessage
	if err := json.Unmarshal(arr, &items); err != nil {
		t.Fatalf("%s: %v", arr, err)
	}
	if i >= len(items) {
		t.Fatalf("%s has no element %d", arr, i)
	}
	return items[i]
}

func TestWireVectors(t *testing.T) {
	checked := 0
	for _, v := range loadVectors(t) {
		v := v
		t.Run(v.Name, func(t *testing.T) {
			field, idx := payload(v.Message)
			if v.MsgPack == nil || field == "" {
				return
			}
			b := body(t, *v.MsgPack)
			whole, err := MsgPackToJSON(b)
			if err != nil {
				t.Fatalf("msgpack message to JSON: %v", err)
			}
			got := element(t, whole, idx)
			if v.JSON == nil { // bin / timestamp: the accessor's exact JSON view
				if v.JSONView == nil || string(got) != *v.JSONView {
					t.Fatalf("json view %s, want %v", got, *v.JSONView)
				}
			} else {
				want := v.Message[field]
				if !sameJSON(t, got, want) {
					t.Fatalf("payload %s, want %s", got, want)
				}
				packed, err := JSONToMsgPack(want)
				if err != nil {
					t.Fatalf("JSON to msgpack: %v", err)
				}
				if !bytes.Contains(b, packed) {
					t.Fatalf("payload bytes % x not in message % x", packed, b)
				}
				back, err := MsgPackToJSON(packed)
				if err != nil || !sameJSON(t, back, want) {
					t.Fatalf("round trip %s (%v), want %s", back, err, want)
				}
				// And the JSON wire text carries the same value.
				frame := strings.TrimSuffix(*v.JSON, "\x1e")
				var msg map[string]json.RawMessage
				if err := json.Unmarshal([]byte(frame), &msg); err != nil {
					t.Fatal(err)
				}
				if !sameJSON(t, msg[field], want) {
					t.Fatalf("json frame payload %s, want %s", msg[field], want)
				}
			}
			for _, alt := range v.DecodeAlso {
				if h, ok := alt["msgpack"]; ok {
					other, err := MsgPackToJSON(body(t, h))
					if err != nil {
						t.Fatalf("decode_also: %v", err)
					}
					if !sameJSON(t, element(t, other, idx), got) {
						t.Fatalf("decode_also payload %s, want %s", element(t, other, idx), got)
					}
				}
			}
			checked++
		})
	}
	if checked < 10 {
		t.Fatalf("only %d vectors with payloads checked", checked)
	}
	t.Logf("%d vectors checked", checked)
}

func TestTranscodeErrors(t *testing.T) {
	if _, err := JSONToMsgPack([]byte("{bad")); !errorsIs(err, ErrEncoding) {
		t.Fatalf("bad JSON: %v", err)
	}
	if _, err := MsgPackToJSON([]byte{0xc1}); err == nil {
		t.Fatal("bad msgpack accepted")
	}
	args, enc, err := encodeArgs([]any{MsgPack{0xa2, 'h', 'i'}, 42})
	if err != nil || enc != EncodingMsgPack || !bytes.Equal(args, []byte{0x92, 0xa2, 'h', 'i', 42}) {
		t.Fatalf("mixed args % x %v %v", args, enc, err)
	}
}
