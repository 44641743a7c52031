"""Smoke test of the SignalR interop test server: negotiate on every endpoint variant."""

import http.client
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request

import pytest

ALL = ["WebSockets", "ServerSentEvents", "LongPolling"]

# endpoint -> exact list of advertised transports (server order)
HUB_TRANSPORTS = {
    "/hubs/test": ALL,
    "/hubs/test-nodetail": ALL,
    "/hubs/no-websockets": ["ServerSentEvents", "LongPolling"],
    "/hubs/longpolling": ["LongPolling"],
    "/hubs/sse": ["ServerSentEvents"],
    "/hubs/websockets": ["WebSockets"],
    "/hubs/stateful": ALL,
    "/hubs/stateful-smallbuffer": ALL,
    "/hubs/short-timeout": ALL,
    "/hubs/silent": ALL,
    "/hubs/cookie": ALL,
    "/hubs/ws-rejected": ALL,
    "/hubs/short-disconnect": ["LongPolling"],
}


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def request(url, method="POST", headers=None, context=None):
    """Returns (status, headers, body-bytes) without following redirects or raising."""
    req = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method,
                                 headers=headers or {})
    try:
        if context is not None:
            opener = urllib.request.build_opener(_NoRedirect, urllib.request.HTTPSHandler(context=context))
        else:
            opener = _opener
        with opener.open(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def negotiate(base, path, query="negotiateVersion=1", headers=None, context=None):
    status, hdrs, body = request(f"{base}{path}/negotiate?{query}", headers=headers, context=context)
    return status, hdrs, body


def negotiate_json(base, path, **kw):
    status, _, body = negotiate(base, path, **kw)
    assert status == 200, (path, status, body[:200])
    return json.loads(body)


def transports(doc):
    return [t["transport"] for t in doc["availableTransports"]]


def test_info(signalr_server):
    info = signalr_server.info
    assert info["http"].startswith("http://127.0.0.1:")
    assert info["https"].startswith("https://127.0.0.1:")
    # Microsoft's MessagePack hub protocol is always there (the package is a dependency)
    assert info["messagepack"] is True and "messagepack" in info["protocols"]
    with open(info["cert"]) as f:
        assert "BEGIN CERTIFICATE" in f.read()


@pytest.mark.parametrize("path", sorted(HUB_TRANSPORTS))
def test_hub_negotiate(signalr_server, path):
    doc = negotiate_json(signalr_server.http, path)
    assert doc["negotiateVersion"] == 1
    assert doc["connectionId"] and doc["connectionToken"]
    assert transports(doc) == HUB_TRANSPORTS[path]
    formats = {t["transport"]: t["transferFormats"] for t in doc["availableTransports"]}
    if "ServerSentEvents" in formats:
        assert formats["ServerSentEvents"] == ["Text"]
    if "WebSockets" in formats:
        assert formats["WebSockets"] == ["Text", "Binary"]
    assert "useStatefulReconnect" not in doc


def test_stateful_negotiate(signalr_server):
    doc = negotiate_json(signalr_server.http, "/hubs/stateful",
                         query="negotiateVersion=1&useStatefulReconnect=true")
    assert doc.get("useStatefulReconnect") is True
    assert list(doc)[0] == "useStatefulReconnect"
    doc = negotiate_json(signalr_server.http, "/hubs/stateful-smallbuffer",
                         query="negotiateVersion=1&useStatefulReconnect=true")
    assert doc.get("useStatefulReconnect") is True
    # not offered where the endpoint does not allow it
    doc = negotiate_json(signalr_server.http, "/hubs/test",
                         query="negotiateVersion=1&useStatefulReconnect=true")
    assert "useStatefulReconnect" not in doc


def test_negotiate_v0(signalr_server):
    doc = negotiate_json(signalr_server.http, "/hubs/v0")
    assert doc["negotiateVersion"] == 0
    assert "connectionToken" not in doc
    assert doc["connectionId"]
    assert transports(doc) == ALL


def test_redirect_url(signalr_server):
    doc = negotiate_json(signalr_server.http, "/redirect/url")
    assert doc == {"url": signalr_server.http + "/hubs/test?redirects=1"}


def test_redirect_token(signalr_server):
    doc = negotiate_json(signalr_server.http, "/redirect/token")
    assert doc["url"] == signalr_server.http + "/hubs/auth?redirects=1"
    token = doc["accessToken"]
    # the redirect target requires exactly that token
    url = urllib.parse.urlsplit(doc["url"])
    status, _, _ = negotiate(signalr_server.http, url.path, query=url.query + "&negotiateVersion=1")
    assert status == 401
    doc2 = negotiate_json(signalr_server.http, url.path, query=url.query + "&negotiateVersion=1",
                          headers={"Authorization": "Bearer " + token})
    assert transports(doc2) == ALL


def test_redirect_loop_and_chain(signalr_server):
    doc = negotiate_json(signalr_server.http, "/redirect/loop")
    assert doc == {"url": signalr_server.http + "/redirect/loop?hop=1"}
    doc = negotiate_json(signalr_server.http, "/redirect/loop", query="hop=5&negotiateVersion=1")
    assert doc == {"url": signalr_server.http + "/redirect/loop?hop=6"}
    doc = negotiate_json(signalr_server.http, "/redirect/chain/3")
    assert doc == {"url": signalr_server.http + "/redirect/chain/2?redirects=1"}
    doc = negotiate_json(signalr_server.http, "/redirect/chain/1", query="redirects=2&negotiateVersion=1")
    assert doc == {"url": signalr_server.http + "/hubs/test?redirects=3"}
    doc = negotiate_json(signalr_server.http, "/redirect/https")
    assert doc == {"url": signalr_server.https + "/hubs/test?redirects=1"}


def test_negotiate_error_and_legacy(signalr_server):
    assert negotiate_json(signalr_server.http, "/negotiate-error") == {"error": "This connection is not allowed."}
    doc = negotiate_json(signalr_server.http, "/legacy")
    assert "ProtocolVersion" in doc


def test_auth(signalr_server):
    base = signalr_server.http
    status, _, _ = negotiate(base, "/hubs/auth")
    assert status == 401
    status, _, token = request(base + "/token?user=alice", method="GET")
    assert status == 200
    token = token.decode()
    status, _, token2 = request(base + "/token?user=alice", method="POST")
    assert status == 200 and token2.decode() == token
    doc = negotiate_json(base, "/hubs/auth", headers={"Authorization": "Bearer " + token})
    assert transports(doc) == ALL
    doc = negotiate_json(base, "/hubs/auth", query="negotiateVersion=1&access_token=" + urllib.parse.quote(token))
    assert transports(doc) == ALL
    status, _, _ = negotiate(base, "/hubs/auth", headers={"Authorization": "Bearer not-a-token"})
    assert status == 401
    # expired token
    status, _, expired = request(base + "/token?user=bob&expiresIn=-10", method="GET")
    status, _, _ = negotiate(base, "/hubs/auth", headers={"Authorization": "Bearer " + expired.decode()})
    assert status == 401


def test_error_statuses(signalr_server):
    base = signalr_server.http
    assert negotiate(base, "/does-not-exist")[0] == 404
    assert request(base + "/hubs/test/negotiate", method="GET")[0] == 405
    assert negotiate(base, "/status/503")[0] == 503
    assert negotiate(base, "/status/500")[0] == 500
    # oversized access token: 64 KB header -> 431
    assert negotiate(base, "/hubs/test", headers={"Authorization": "Bearer " + "a" * 65536})[0] == 431
    # a transport request with an unknown id -> 404
    assert request(base + "/hubs/test?id=unknown", method="GET")[0] == 404


def _ws_upgrade_status(base, path, token):
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
    try:
        conn.request("GET", f"{path}?id={urllib.parse.quote(token)}", headers={
            "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
        return conn.getresponse().status
    finally:
        conn.close()


@pytest.mark.parametrize("path,expected", [
    ("/hubs/test", 101),
    ("/hubs/no-websockets", 404),
    ("/hubs/longpolling", 404),
    ("/hubs/ws-rejected", 503),
])
def test_websocket_upgrade_status(signalr_server, path, expected):
    doc = negotiate_json(signalr_server.http, path)
    assert _ws_upgrade_status(signalr_server.http, path, doc["connectionToken"]) == expected


def test_https(signalr_server):
    ctx = ssl.create_default_context(cafile=signalr_server.cert)
    doc = negotiate_json(signalr_server.https, "/hubs/test", context=ctx)
    assert transports(doc) == ALL
    # untrusted by default
    with pytest.raises((ssl.SSLError, urllib.error.URLError)):
        urllib.request.urlopen(signalr_server.https + "/health", timeout=10,
                               context=ssl.create_default_context())
    status, headers, _ = negotiate(signalr_server.http, "/https-redirect/hubs/test")
    assert status == 307
    assert headers["Location"] == signalr_server.https + "/hubs/test/negotiate?negotiateVersion=1"


def test_cookie_negotiate(signalr_server):
    status, headers, _ = negotiate(signalr_server.http, "/hubs/cookie")
    assert status == 200
    cookies = headers.get_all("Set-Cookie")
    assert any(c.startswith("testCookie=negotiate-cookie") for c in cookies)
    assert any(c.startswith("expiredCookie=") for c in cookies)
