"""Failures below HTTP, through the public API (the `signalr` CLI's call): a name that does not
resolve, a port that answers something that is not HTTP, one that never answers, on the
negotiate (libcurl) and on a WebSocket without negotiate (libwebsockets). Each reads as what
happened, with a hint (was: 'could not be started', 'read failed', 'Received HTTP/0.9' as an
invalid argument, a bare 'timed out'). The not-HTTP and silent peers are plain sockets here."""

import socket
import subprocess
import threading

import pytest

LIMIT = 30


class Peer:
    """A TCP listener that answers every request with a non-HTTP banner ('garbage') or accepts
    and never answers ('silent')."""

    def __init__(self, mode):
        self.mode = mode
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.mode == "garbage":
                try:
                    c.recv(4096)
                    c.sendall(b"SSH-2.0-OpenSSH_9.2\r\nProtocol mismatch.\r\n")
                finally:
                    c.close()
            else:
                self.held.append(c)

    def close(self):
        self.sock.close()
        for c in self.held:
            c.close()


@pytest.fixture
def garbage():
    p = Peer("garbage")
    yield p
    p.close()


@pytest.fixture
def silent():
    p = Peer("silent")
    yield p
    p.close()


def call(cli, url, *args):
    r = subprocess.run([cli, "call", url, "Echo", '"x"', *args], capture_output=True, text=True, timeout=LIMIT)
    assert r.returncode == 1, (r.stdout, r.stderr)
    hint = [l.strip() for l in r.stderr.splitlines() if l.strip().startswith("hint:")]
    assert hint, r.stderr
    return r.stderr, hint[0]


WS = ["--skip-negotiation", "--transport", "websockets"]


def test_name_that_does_not_resolve(cli):
    err, hint = call(cli, "http://no-such-host.invalid/hubs/test")
    assert "DNS: the host name does not resolve" in err and "no-such-host.invalid" in err
    assert "/etc/hosts" in hint
    err, hint = call(cli, "ws://no-such-host.invalid/hubs/test", *WS)
    assert "DNS: the host name does not resolve" in err and "could not be started" not in err
    assert "/etc/hosts" in hint


def test_answer_that_is_not_http(cli, garbage):
    err, hint = call(cli, f"http://127.0.0.1:{garbage.port}/hubs/test")
    assert "the server's answer is not HTTP" in err and "SIGNALR_EPROTO" in err, err
    assert "does not speak HTTP" in hint
    err, hint = call(cli, f"ws://127.0.0.1:{garbage.port}/hubs/test", *WS)
    assert "no HTTP answer to the WebSocket upgrade" in err, err
    assert "does not speak HTTP" in hint


def test_peer_that_never_answers(cli, silent):
    err, hint = call(cli, f"http://127.0.0.1:{silent.port}/hubs/test", "--timeout", "1500")
    assert "not connected within 1500 ms" in err and "at the negotiate step" in err, err
    assert "did not answer in time" in hint
    err, hint = call(cli, f"ws://127.0.0.1:{silent.port}/hubs/test", *WS, "--timeout", "10000",
                     "--option", "handshake_timeout_ms=1500")
    assert "no answer to the upgrade within 1500 ms" in err and "SIGNALR_ETIMEOUT" in err, err
