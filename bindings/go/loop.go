package signalr

// #include <signalr/signalr.h>
import "C"

import (
	"os"
	"runtime"
	"sync/atomic"
	"syscall"
)

// eventLoop is one libsignalr context (its C I/O thread) and the goroutine that runs its
// callbacks. That goroutine sleeps in Go's network poller on a duplicate of the context's
// wakeup eventfd (no OS thread blocked in C while idle) and, when it becomes readable, runs
// signalr_context_poll(ctx, 0) on its locked OS thread: every callback of the context runs
// there, so C never enters Go on a thread Go did not create.
type eventLoop struct {
	ctx  *C.signalr_context
	file *os.File        // our dup of the wakeup fd: closing it stops run
	raw  syscall.RawConn // file's poller hook
	tid  atomic.Int32    // OS thread of run, to detect calls made from callbacks
	done chan struct{}   // closed when run has freed the context
}

func newEventLoop() (*eventLoop, error) {
	l := &eventLoop{done: make(chan struct{})}
	if rc := C.signalr_context_new(&l.ctx, 0); rc != 0 {
		return nil, codeError(rc, "context")
	}
	// A duplicate, so closing it (to stop run) leaves the context's own fd alone. The
	// eventfd is non-blocking, so os.NewFile registers it with the network poller.
	fd, err := dupCloexec(int(C.signalr_context_wakeup_fd(l.ctx)))
	if err == nil {
		l.file = os.NewFile(uintptr(fd), "signalr-wakeup")
		l.raw, err = l.file.SyscallConn()
	}
	if err != nil {
		if l.file != nil {
			l.file.Close()
		}
		C.signalr_context_free(l.ctx)
		return nil, err
	}
	return l, nil
}

func dupCloexec(fd int) (int, error) {
	r, _, e := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// run is the event goroutine. It ends when stop closes the file; the connection has been
// freed by then, so the context can be freed here, outside any callback.
func (l *eventLoop) run() {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	l.tid.Store(int32(syscall.Gettid()))
	for {
		// Runs at most the poll budget; when more wait, the fd is signaled again and the
		// wait below returns at once.
		C.signalr_context_poll(l.ctx, 0)
		// Reading the eventfd (resetting its counter) is the readiness test: RawConn.Read
		// resets the poller's readiness before calling f, so a wakeup that came after the
		// poll above is only seen by trying to read. EAGAIN: nothing queued, wait.
		err := l.raw.Read(func(fd uintptr) bool {
			var buf [8]byte
			n, err := syscall.Read(int(fd), buf[:])
			return n == 8 || (err != nil && err != syscall.EAGAIN)
		})
		if err != nil {
			break // file closed: stopping
		}
	}
	l.tid.Store(0)
	C.signalr_context_free(l.ctx)
	close(l.done)
}

// onLoop reports whether the caller runs on the event goroutine (inside a callback): a
// locked OS thread runs no other goroutine, so its thread id identifies it.
func (l *eventLoop) onLoop() bool {
	return int32(syscall.Gettid()) == l.tid.Load()
}

// stop ends run (after the connection was freed) and, unless called from a callback,
// waits until the context is freed.
func (l *eventLoop) stop() {
	self := l.onLoop()
	l.file.Close()
	if !self {
		<-l.done
	}
}
