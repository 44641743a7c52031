package signalr

import (
	"errors"
	"fmt"
	"testing"
)

func errorsIs(err error, target error) bool { return errors.Is(err, target) }

// The generated sentinels must be exactly the library's table: run `go generate` when
// this fails after the C library gained a code.
func TestSentinelsMatchLibrary(t *testing.T) {
	lib := Codes()
	if len(lib) != len(generatedCodes) {
		t.Fatalf("library has %d codes, errors_gen.go %d: run go generate", len(lib), len(generatedCodes))
	}
	for i, c := range lib {
		if generatedCodes[i] != c {
			t.Fatalf("code %d: library %d (%s), generated %d", i, c, c.Name(), generatedCodes[i])
		}
		if c.Name() == "" || c.Error() == "" {
			t.Fatalf("code %d has no name or description", c)
		}
	}
}

func TestErrorIs(t *testing.T) {
	err := fmt.Errorf("wrapped: %w", &Error{Code: ErrHub, Message: "boom", HTTPStatus: 0})
	if !errors.Is(err, ErrHub) || errors.Is(err, ErrClosed) {
		t.Fatal("errors.Is on the code")
	}
	var e *Error
	if !errors.As(err, &e) || e.Message != "boom" {
		t.Fatal("errors.As")
	}
	if got := (&Error{Code: ErrNotfound, HTTPStatus: 404, Hint: "check the path", Op: "start"}).Error(); got !=
		"start: "+ErrNotfound.Error()+" (SIGNALR_ENOTFOUND, HTTP 404); hint: check the path" {
		t.Fatalf("format: %s", got)
	}
}
