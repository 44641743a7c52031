module github.com/libsignalr/signalr/bindings/go

go 1.19
