package signalr

// #include <signalr/signalr.h>
import "C"

// Version returns the version of the loaded libsignalr ("major.minor.patch").
func Version() string { return C.GoString(C.signalr_version()) }

// OptionInfo describes one builder option of the library (for WithOption).
type OptionInfo struct {
	Name, Type, Default, Description string
}

// Options lists every builder option the loaded library knows (signalr_option_next).
func Options() []OptionInfo {
	var out []OptionInfo
	var cursor C.size_t
	var name, typ, def, desc *C.char
	for C.signalr_option_next(&cursor, &name, &typ, &def, &desc) != 0 {
		out = append(out, OptionInfo{C.GoString(name), C.GoString(typ), C.GoString(def), C.GoString(desc)})
	}
	return out
}
