//! The public API against the real ASP.NET Core test hub (tests/server), over WebSockets,
//! Server-Sent Events and Long Polling × JSON / MessagePack. Every wait is on an observable
//! signal (a result, a channel message, a lifecycle event), never on a sleep.
mod common;
use common::*;
use signalr::{code, Builder, Context, Encoding, Error, Protocol, Transport, Value};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const RECV: Duration = Duration::from_secs(20);

macro_rules! need_server {
    () => {
        match server() {
            Some(s) => s,
            None => return,
        }
    };
}

fn enc(p: Protocol) -> Encoding {
    if p == Protocol::Json {
        Encoding::Json
    } else {
        Encoding::MessagePack
    }
}

#[test]
fn invoke_blocking_and_as_a_future() {
    let base = need_server!();
    for &(t, p) in MATRIX {
        let c = connect(&base, t, p);
        let what = format!("{t:?}/{p:?}");
        let r = c.invoke("Echo", &args(p, r#"["héllo \"wörld\""]"#), T).unwrap();
        assert_eq!(r.encoding(), enc(p), "{what}: the result comes in the wire's encoding");
        assert_eq!(r.as_string().as_deref(), Some("héllo \"wörld\""), "{what}");
        assert_eq!(c.invoke("Add", &args(p, "[2,40]"), T).unwrap().to_json().unwrap(), "42", "{what}");
        assert_eq!(c.invoke("EchoNull", &Value::no_args(), T).unwrap().to_json().unwrap(), "null");
        assert_eq!(c.invoke("NoReturn", &Value::no_args(), T).unwrap().to_json().unwrap(), "null");
        let obj = r#"{"Flag":true,"Items":["a","b"],"Map":{"a":1},"Name":"n","Nested":null,"Number":7,"Value":1.5}"#;
        let back = c.invoke("EchoObject", &args(p, &format!("[{obj}]")), T).unwrap();
        assert!(json_of(&back).same(&Json::parse(obj).unwrap()), "{what}: {back:?}");
        assert_eq!(
            c.invoke("GetTransport", &Value::no_args(), T).unwrap().as_string().unwrap(),
            match t {
                Transport::WebSockets => "WebSockets",
                Transport::ServerSentEvents => "ServerSentEvents",
                Transport::LongPolling => "LongPolling",
            }
        );

        // The same as futures, on a std-only executor: one, then 16 at once.
        let r = block_on(c.invoke_async("Echo", &Value::string_arg("async")));
        assert_eq!(r.unwrap().as_string().as_deref(), Some("async"), "{what}");
        let calls: Vec<_> = (0..16).map(|i| c.invoke_async("EchoInt", &args(p, &format!("[{i}]")))).collect();
        let results = join_all(calls);
        for (i, r) in results.into_iter().enumerate() {
            assert_eq!(r.unwrap().to_json().unwrap(), i.to_string(), "{what}");
        }
        // ... and a Call waited on by a thread.
        assert_eq!(c.invoke_async("Echo", &Value::string_arg("w")).wait(T).unwrap().as_string().unwrap(), "w");
        c.stop(T).unwrap();
        assert_eq!(c.state(), signalr::State::Disconnected);
    }
}

#[test]
fn hub_errors_carry_the_servers_text() {
    let base = need_server!();
    for &(t, p) in MATRIX {
        let c = connect(&base, t, p);
        let e = c.invoke("Throw", &Value::string_arg("boom"), T).unwrap_err();
        assert_eq!(e.code(), code::EHUB, "{e}");
        assert_eq!(e.name(), "SIGNALR_EHUB");
        assert!(e.message().contains("InvalidOperationException: boom"), "{e}");
        let e = block_on(c.invoke_async("ThrowHubException", &Value::string_arg("bad"))).unwrap_err();
        assert_eq!(e.code(), code::EHUB);
        assert!(e.message().contains("bad"), "{e}");
        // Error is a std error.
        let boxed: Box<dyn std::error::Error + Send + Sync> = Box::new(e);
        assert!(boxed.to_string().contains("SIGNALR_EHUB"));
        // A wrong argument count is a hub error too; the connection stays usable.
        let e = c.invoke("Add", &Value::json("[1]"), T).unwrap_err();
        assert_eq!(e.code(), code::EHUB, "{e}");
        assert_eq!(c.invoke("Echo", &Value::string_arg("still"), T).unwrap().as_string().unwrap(), "still");
    }
}

#[test]
fn send_is_done_when_written_and_arrives_in_order() {
    let base = need_server!();
    for (n, &(t, p)) in MATRIX.iter().enumerate() {
        let c = connect(&base, t, p);
        let key = format!("rust-send-{n}-{}", std::process::id());
        c.invoke("ClearRecord", &Value::json(format!("[{}]", signalr::json_string(&key))), T).unwrap();
        for i in 0..40 {
            c.send("Record", &args(p, &format!("[{},{i}]", signalr::json_string(&key))), T).unwrap();
        }
        let futs: Vec<_> = (40..60)
            .map(|i| c.send_async("Record", &args(p, &format!("[{},{i}]", signalr::json_string(&key)))))
            .collect();
        for r in join_all(futs) {
            r.unwrap();
        }
        // The server handles a connection's messages in order: the invoke sees every send.
        let rec = c.invoke("GetRecorded", &Value::json(format!("[{}]", signalr::json_string(&key))), T).unwrap();
        let got: Vec<i64> = json_of(&rec).as_arr().iter().map(|x| x.as_i64().unwrap()).collect();
        assert_eq!(got, (0..60).collect::<Vec<_>>(), "{t:?}/{p:?}");
        c.stop(T).unwrap();
        // Not connected: refused at once, nothing silently dropped.
        assert_eq!(c.send("Record", &Value::json("[\"x\",1]"), T).unwrap_err().code(), code::ESTATE);
        assert_eq!(block_on(c.send_async("Record", &Value::json("[\"x\",1]"))).unwrap_err().code(), code::ESTATE);
    }
}

#[test]
fn handlers_receive_calls_in_order_and_can_be_removed() {
    let base = need_server!();
    for &(t, p) in MATRIX {
        let c = connect(&base, t, p);
        let (tx, rx) = mpsc::channel::<Value>();
        let tx = Mutex::new(tx);
        let first = c.on("callback", move |a| tx.lock().unwrap().send(a.clone()).unwrap()).unwrap();
        c.invoke("Callback", &Value::string_arg("ping"), T).unwrap();
        let a = rx.recv_timeout(RECV).unwrap();
        assert_eq!(a.encoding(), enc(p), "handlers get the wire's encoding");
        assert_eq!(a.to_json().unwrap(), r#"["ping"]"#);

        // Numbered(1..N) arrive in order.
        let (ntx, nrx) = mpsc::channel::<i64>();
        let ntx = Mutex::new(ntx);
        c.on("Numbered", move |a| ntx.lock().unwrap().send(json_of(a).as_arr()[0].as_i64().unwrap()).unwrap()).unwrap();
        assert_eq!(c.invoke("SendNumbered", &Value::json("[300]"), T).unwrap().to_json().unwrap(), "300");
        for i in 1..=300 {
            assert_eq!(nrx.recv_timeout(RECV).unwrap(), i);
        }

        // off: the removed handler no longer runs; another one of the same method does.
        first.off().unwrap();
        let (btx, brx) = mpsc::channel::<()>();
        let btx = Mutex::new(btx);
        c.on("Callback", move |_| btx.lock().unwrap().send(()).unwrap()).unwrap();
        c.invoke("Callback", &Value::string_arg("again"), T).unwrap();
        brx.recv_timeout(RECV).unwrap();
        assert!(rx.try_recv().is_err(), "the removed handler ran");
    }
}

#[test]
fn client_results_answer_the_servers_invocations() {
    let base = need_server!();
    for &(t, p) in MATRIX {
        let c = connect(&base, t, p);
        c.on_result("AddOne", |a| {
            let n = json_of(a).as_arr()[0].as_i64().ok_or("not a number")?;
            Ok(Value::json((n + 1).to_string()))
        })
        .unwrap();
        c.on_result("Refuse", |_| Err("no way".to_string())).unwrap();
        // A MessagePack answer on a JSON connection (and the reverse) is transcoded.
        c.on_result("Bytes", |_| Ok(Value::msgpack(vec![0x92, 0xa1, b'x', 0x07]))).unwrap();
        let r = c.invoke("GetClientResult", &args(p, r#"["AddOne",41]"#), T).unwrap();
        assert_eq!(r.to_json().unwrap(), "42", "{t:?}/{p:?}");
        let r = c.invoke("GetClientResult", &args(p, r#"["Refuse",null]"#), T).unwrap();
        let text = r.as_string().unwrap();
        assert!(text.starts_with("error: ") && text.contains("no way"), "{text}");
        let r = c.invoke("GetClientResultNoArgs", &Value::string_arg("Bytes"), T).unwrap();
        assert_eq!(r.to_json().unwrap(), r#"["x",7]"#);
        let r = c.invoke("GetClientResult", &args(p, r#"["NobodyHandlesThis",1]"#), T).unwrap();
        assert!(r.as_string().unwrap().contains("error"), "{r:?}");
    }
}

#[test]
fn streams_iterate_fail_and_cancel() {
    let base = need_server!();
    for (n, &(t, p)) in MATRIX.iter().enumerate() {
        let c = connect(&base, t, p);
        let what = format!("{t:?}/{p:?}");
        let items: Vec<String> =
            c.stream("Counter", &args(p, "[5,0]")).unwrap().map(|r| r.unwrap().to_json().unwrap()).collect();
        assert_eq!(items, ["0", "1", "2", "3", "4"], "{what}");
        assert_eq!(c.stream("EmptyStream", &Value::no_args()).unwrap().count(), 0);

        // Async: poll_next through next_async on the tiny executor.
        let mut s = c.stream("CounterChannel", &args(p, "[4,1]")).unwrap();
        let got = block_on(async {
            let mut v = Vec::new();
            while let Some(item) = s.next_async().await {
                v.push(item.unwrap().to_json().unwrap());
            }
            v
        });
        assert_eq!(got, ["0", "1", "2", "3"], "{what}");

        // A failing stream: its items, then the server's error.
        let mut s = c.stream("StreamThenFail", &Value::json(r#"[2,"broken"]"#)).unwrap();
        assert_eq!(s.next().unwrap().unwrap().to_json().unwrap(), "0");
        assert_eq!(s.next().unwrap().unwrap().to_json().unwrap(), "1");
        let e = s.next().unwrap().unwrap_err();
        assert_eq!(e.code(), code::EHUB);
        assert!(e.message().contains("broken"), "{e}");
        assert!(s.next().is_none());

        // Cancel: the stream ends, and the server saw the cancellation.
        let key = format!("rust-cancel-{n}-{}", std::process::id());
        let mut s = c.stream("InfiniteStream", &Value::json(format!("[{},2]", signalr::json_string(&key)))).unwrap();
        s.next().unwrap().unwrap();
        s.next().unwrap().unwrap();
        s.cancel().unwrap();
        for item in s.by_ref() {
            item.unwrap(); // already-received items only, then the end (no error: we canceled)
        }
        assert!(s.is_finished());
        // CancelInvocation was written before this invocation: the server, which handles a
        // connection's messages in order, has fired the stream's token by the time it runs
        // it (a few rounds allowed for the token's callback on the server's thread pool).
        let was = (0..20)
            .any(|_| c.invoke("WasStreamCanceled", &Value::string_arg(&key), T).unwrap().to_json().unwrap() == "true");
        assert!(was, "{what}: the server did not see the cancel");
    }
}

#[test]
fn uploads_reach_the_hub() {
    let base = need_server!();
    for &(t, p) in MATRIX {
        let c = connect(&base, t, p);
        let what = format!("{t:?}/{p:?}");
        let up = c.upload().unwrap();
        let call = c.invoke_with_uploads("UploadSum", &Value::no_args(), &[&up]);
        for i in 1..=500 {
            up.write(&args(p, &i.to_string()), T).unwrap();
        }
        up.complete().unwrap();
        assert_eq!(call.wait(T).unwrap().to_json().unwrap(), "125250", "{what}");

        // Async writes, two streams in one call.
        let (a, b) = (c.upload().unwrap(), c.upload().unwrap());
        let call = c.invoke_with_uploads("UploadTwo", &Value::no_args(), &[&a, &b]);
        block_on(async {
            for s in ["x", "y", "z"] {
                a.write_async(&Value::json(signalr::json_string(s))).await.unwrap();
                b.write_async(&Value::json(signalr::json_string(&s.to_uppercase()))).await.unwrap();
            }
        });
        a.complete().unwrap();
        b.complete().unwrap();
        assert_eq!(block_on(call).unwrap().as_string().unwrap(), "xyz|XYZ", "{what}");

        // Upload and download at once: every item comes back.
        let up = c.upload().unwrap();
        let s = c.stream_with_uploads("UploadEcho", &Value::no_args(), &[&up]).unwrap();
        for i in 0..20 {
            up.write(&Value::json(i.to_string()), T).unwrap();
        }
        up.complete().unwrap();
        let back: Vec<String> = s.map(|r| r.unwrap().to_json().unwrap()).collect();
        assert_eq!(back, (0..20).map(|i| i.to_string()).collect::<Vec<_>>());

        // A failed upload: the hub method sees the error.
        let up = c.upload().unwrap();
        let call = c.invoke_with_uploads("UploadSum", &Value::no_args(), &[&up]);
        up.write(&Value::json("1"), T).unwrap();
        up.fail("client gave up").unwrap();
        assert_eq!(call.wait(T).unwrap_err().code(), code::EHUB);
        // Not attached: refused.
        let loose = c.upload().unwrap();
        assert_eq!(loose.try_write(&Value::json("1")).unwrap_err().code(), code::ESTATE);
    }
}

#[test]
fn uploads_wait_for_room_when_the_outgoing_buffer_is_full() {
    let base = need_server!();
    for &(t, p) in MATRIX {
        let t0 = std::time::Instant::now();
        // A tiny outgoing buffer: writes meet EAGAIN, and wait for SIGNALR_EVENT_WRITABLE.
        let c = builder(&base, "/hubs/test", t, p).option("transport_max_buffer_size", "1024").build().unwrap();
        c.start(T).unwrap();
        let up = c.upload().unwrap();
        let call = c.invoke_with_uploads("UploadSum", &Value::no_args(), &[&up]);
        let item = args(p, "3");
        let mut eagain = 0;
        let n = 20_000;
        for _ in 0..n {
            match up.try_write(&item) {
                Ok(()) => {}
                Err(e) if e.code() == code::EAGAIN => {
                    eagain += 1;
                    up.write(&item, T).unwrap(); // waits for room, then writes
                }
                Err(e) => panic!("{e}"),
            }
        }
        up.complete().unwrap();
        assert_eq!(call.wait(T).unwrap().to_json().unwrap(), (3 * n).to_string(), "{t:?}/{p:?}");
        assert!(eagain > 0, "{t:?}/{p:?}: the buffer never filled (no EAGAIN): the test proves nothing");
        let t_up = t0.elapsed();
        // Sends meet the same bound and wait out the same way.
        let futs: Vec<_> = (0..2000).map(|_| c.send_async("Record", &Value::json(r#"["rust-bulk",1]"#))).collect();
        for r in join_all(futs) {
            r.unwrap();
        }
        c.invoke("ClearRecord", &Value::string_arg("rust-bulk"), T).unwrap();
        // Shown with --nocapture: an upload phase near 15 s is the C library's stall (the
        // first burst after connecting sometimes waits for the keep-alive; see README).
        eprintln!("{t:?}/{p:?}: {eagain} EAGAIN, uploads {t_up:?}, total {:?}", t0.elapsed());
    }
}

#[test]
fn reconnects_after_a_lost_connection() {
    let base = need_server!();
    for &(t, p) in MATRIX {
        let (tx, rx) = mpsc::channel::<String>();
        let (t1, t2, t3) = (Mutex::new(tx.clone()), Mutex::new(tx.clone()), Mutex::new(tx));
        let c = builder(&base, "/hubs/test", t, p)
            .reconnect_delays(&[Duration::ZERO, Duration::from_millis(100)])
            .on_reconnecting(move |e| {
                t1.lock().unwrap().send(format!("reconnecting {}", e.map(|e| e.name()).unwrap_or("-"))).unwrap()
            })
            .on_reconnected(move |id| t2.lock().unwrap().send(format!("reconnected {}", id.unwrap_or(""))).unwrap())
            .on_closed(move |e| t3.lock().unwrap().send(format!("closed {e:?}")).unwrap())
            .build()
            .unwrap();
        c.start(T).unwrap();
        let id = c.connection_id().unwrap();
        // WebSockets and SSE: the server aborts the TCP connection (no close handshake). Long
        // Polling has no long-lived request to abort: the server closes it, allowing reconnect.
        let how = if t == Transport::LongPolling { "CloseWithReconnect" } else { "DropTransport" };
        assert_eq!(c.invoke(how, &Value::no_args(), T).unwrap().to_json().unwrap(), "true");
        let ev = rx.recv_timeout(RECV).unwrap_or_else(|_| panic!("{t:?}/{p:?}: no lifecycle event"));
        assert!(ev.starts_with("reconnecting"), "{t:?}/{p:?}: {ev}");
        let ev = rx.recv_timeout(RECV).unwrap_or_else(|_| panic!("{t:?}/{p:?}: no lifecycle event"));
        assert!(ev.starts_with("reconnected "), "{t:?}/{p:?}: {ev}");
        let new_id = ev.trim_start_matches("reconnected ").to_string();
        assert_ne!(new_id, id, "a new connection");
        assert_eq!(c.connection_id().as_deref(), Some(new_id.as_str()));
        assert_eq!(c.invoke("Echo", &Value::string_arg("back"), T).unwrap().as_string().unwrap(), "back");
        c.stop(T).unwrap();
        assert_eq!(rx.recv_timeout(RECV).unwrap_or_else(|_| panic!("{t:?}/{p:?}: no lifecycle event")), "closed None");
    }
}

#[test]
fn closed_reports_why() {
    let base = need_server!();
    let (tx, rx) = mpsc::channel::<Option<Error>>();
    let tx = Mutex::new(tx);
    let c = builder(&base, "/hubs/test", Transport::WebSockets, Protocol::Json)
        .on_closed(move |e| tx.lock().unwrap().send(e.cloned()).unwrap())
        .build()
        .unwrap();
    c.start(T).unwrap();
    c.invoke("CloseWithError", &Value::json(r#"["go away",false]"#), T).unwrap();
    let e = rx.recv_timeout(RECV).unwrap().expect("an error");
    assert_eq!(e.code(), code::ECLOSED);
    assert!(e.message().contains("go away"), "{e}");
    assert!(!e.allow_reconnect());
    assert_eq!(c.state(), signalr::State::Disconnected);
}

#[test]
fn start_failures_say_what_to_do() {
    let base = need_server!();
    let c = Builder::new(&format!("{base}/does-not-exist")).build().unwrap();
    let e = c.start(T).unwrap_err();
    assert_eq!(e.http_status(), 404, "{e}");
    assert!(e.hint().is_some(), "{e}");
    let e = Builder::new(&base).option("no_such_option", "1").build().err().unwrap();
    assert_eq!(e.code(), code::EINVAL);
    assert!(e.message().contains("no_such_option"), "{e}");
}

#[test]
fn dropping_the_connection_completes_what_is_pending() {
    let base = need_server!();
    let c = connect(&base, Transport::WebSockets, Protocol::Json);
    let call = c.invoke_async("DelayedEcho", &Value::json(r#"[30000,"late"]"#));
    let mut s = c.stream("InfiniteStream", &Value::json(r#"["rust-drop",50]"#)).unwrap();
    let (tx, rx) = mpsc::channel();
    c.invoke_with("DelayedEcho", &Value::json(r#"[30000,"late"]"#), move |r| tx.send(r.map(|_| ())).unwrap()).unwrap();
    drop(c);
    assert_eq!(call.wait(T).unwrap_err().code(), code::ECLOSED);
    assert_eq!(rx.recv_timeout(RECV).unwrap().unwrap_err().code(), code::ECLOSED);
    let last = s.by_ref().last().unwrap();
    assert_eq!(last.unwrap_err().code(), code::ECLOSED);
}

#[test]
fn blocking_calls_from_callbacks_refuse_instead_of_deadlocking() {
    let base = need_server!();
    let c = Arc::new(connect(&base, Transport::WebSockets, Protocol::Json));
    let weak = Arc::downgrade(&c);
    let (tx, rx) = mpsc::channel::<(i32, String)>();
    let tx = Mutex::new(tx);
    c.on("Callback", move |_| {
        let conn = weak.upgrade().unwrap();
        let blocking = conn.invoke("Echo", &Value::string_arg("x"), T).unwrap_err().code();
        // The non-blocking form works from a callback: its result arrives later.
        let tx2 = tx.lock().unwrap().clone();
        conn.invoke_with("Echo", &Value::string_arg("from handler"), move |r| {
            tx2.send((blocking, r.unwrap().unwrap().as_string().unwrap())).unwrap()
        })
        .unwrap();
    })
    .unwrap();
    c.invoke("Callback", &Value::string_arg("go"), T).unwrap();
    let (code_seen, echoed) = rx.recv_timeout(RECV).unwrap();
    assert_eq!(code_seen, code::ERECURSIVE);
    assert_eq!(echoed, "from handler");
}

#[test]
fn direct_lending_and_shared_contexts() {
    let base = need_server!();
    for ctx in [Context::new_direct().unwrap(), Context::new().unwrap(), Context::new_lending().unwrap()] {
        let conns: Vec<_> = (0..3)
            .map(|_| {
                let c = builder(&base, "/hubs/test", Transport::WebSockets, Protocol::MessagePack)
                    .context(&ctx)
                    .build()
                    .unwrap();
                c.start(T).unwrap();
                c
            })
            .collect();
        for (i, c) in conns.iter().enumerate() {
            let (tx, rx) = mpsc::channel();
            let tx = Mutex::new(tx);
            c.on("Callback", move |a| tx.lock().unwrap().send(a.to_json().unwrap()).unwrap()).unwrap();
            c.invoke("Callback", &Value::string_arg(&i.to_string()), T).unwrap();
            assert_eq!(rx.recv_timeout(RECV).unwrap(), format!(r#"["{i}"]"#));
            assert_eq!(block_on(c.invoke_async("Echo", &Value::string_arg("d"))).unwrap().as_string().unwrap(), "d");
        }
    }
}

/// GET a path of the test server (std only: HTTP/1.1 with Connection: close).
fn http_get(base: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let host = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(host).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        // one chunk is enough for a token
        let (_, rest) = body.split_once("\r\n").unwrap();
        return rest.split("\r\n").next().unwrap().to_string();
    }
    body.to_string()
}

#[test]
fn access_token_provider_is_asked_for_each_connect() {
    let base = need_server!();
    let token = http_get(&base, "/token?user=rust-user");
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let a2 = asked.clone();
    for &(t, p) in MATRIX {
        let tok = token.clone();
        let a3 = a2.clone();
        let c = builder(&base, "/hubs/auth", t, p)
            .access_token_provider(move || {
                a3.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Ok(Some(tok.clone()))
            })
            .build()
            .unwrap();
        c.start(T).unwrap_or_else(|e| panic!("{t:?}/{p:?}: {e}"));
        assert_eq!(c.invoke("GetUserName", &Value::no_args(), T).unwrap().as_string().as_deref(), Some("rust-user"));
    }
    assert!(asked.load(std::sync::atomic::Ordering::SeqCst) >= MATRIX.len() * 2, "negotiate + connect each");
    // No token: 401, with a hint; a provider's error fails the attempt with its code.
    let e = builder(&base, "/hubs/auth", Transport::WebSockets, Protocol::Json).build().unwrap().start(T).unwrap_err();
    assert_eq!(e.http_status(), 401, "{e}");
    let c = builder(&base, "/hubs/auth", Transport::WebSockets, Protocol::Json)
        .access_token_provider(|| Err(Error::from_code(code::EAUTH)))
        .build()
        .unwrap();
    assert_eq!(c.start(T).unwrap_err().code(), code::EAUTH);
}

#[test]
fn retry_policy_decides_about_reconnecting() {
    let base = need_server!();
    for give_up in [false, true] {
        let (tx, rx) = mpsc::channel::<String>();
        let (t1, t2, t3) = (Mutex::new(tx.clone()), Mutex::new(tx.clone()), Mutex::new(tx));
        let c = builder(&base, "/hubs/test", Transport::WebSockets, Protocol::Json)
            .retry_policy(move |r| {
                t1.lock().unwrap().send(format!("attempt {} {}", r.attempt, r.error.is_some())).unwrap();
                (!give_up).then_some(Duration::ZERO)
            })
            .on_reconnected(move |_| t2.lock().unwrap().send("reconnected".into()).unwrap())
            .on_closed(move |e| t3.lock().unwrap().send(format!("closed {}", e.is_some())).unwrap())
            .build()
            .unwrap();
        c.start(T).unwrap();
        c.invoke("DropTransport", &Value::no_args(), T).unwrap();
        assert_eq!(rx.recv_timeout(RECV).unwrap(), "attempt 1 true");
        if give_up {
            assert_eq!(rx.recv_timeout(RECV).unwrap(), "closed true");
            assert_eq!(c.state(), signalr::State::Disconnected);
            continue;
        }
        assert_eq!(rx.recv_timeout(RECV).unwrap(), "reconnected");
        assert_eq!(c.invoke("Echo", &Value::string_arg("x"), T).unwrap().as_string().unwrap(), "x");
        c.stop(T).unwrap();
        assert_eq!(rx.recv_timeout(RECV).unwrap(), "closed false");
    }
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<signalr::Connection>();
    check::<signalr::Call<Value>>();
    check::<signalr::SendCall>();
    check::<signalr::Stream>();
    check::<signalr::Upload>();
    check::<signalr::Context>();
    check::<signalr::Builder>();
    check::<Error>();
    check::<Value>();
}

#[test]
fn one_connection_serves_many_threads() {
    let base = need_server!();
    let c = Arc::new(connect(&base, Transport::WebSockets, Protocol::MessagePack));
    let threads: Vec<_> = (0..4)
        .map(|k| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let text = format!("t{k}-{i}");
                    match i % 3 {
                        0 => assert_eq!(
                            c.invoke("Echo", &Value::string_arg(&text), T).unwrap().as_string().unwrap(),
                            text
                        ),
                        1 => assert_eq!(
                            block_on(c.invoke_async("Echo", &Value::string_arg(&text))).unwrap().as_string().unwrap(),
                            text
                        ),
                        _ => c.send("Record", &Value::json(format!(r#"["rust-mt",{i}]"#)), T).unwrap(),
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

#[test]
fn a_connection_can_be_dropped_inside_its_own_callbacks() {
    let base = need_server!();
    for direct in [false, true] {
        let ctx = if direct { Context::new_direct().unwrap() } else { Context::new().unwrap() };
        let slot: Arc<Mutex<Option<signalr::Connection>>> = Arc::new(Mutex::new(None));
        let (tx, rx) = mpsc::channel::<&'static str>();
        let tx = Mutex::new(tx);
        let s2 = slot.clone();
        let c = builder(&base, "/hubs/test", Transport::WebSockets, Protocol::Json).context(&ctx).build().unwrap();
        c.on("Callback", move |_| {
            let conn = s2.lock().unwrap().take();
            let what = if conn.is_some() { "dropped" } else { "no connection" };
            drop(conn); // frees the connection from inside its handler
            tx.lock().unwrap().send(what).unwrap();
        })
        .unwrap();
        c.start(T).unwrap();
        // Pending at the drop: a stream (an invocation would hold the hub's one parallel slot).
        let mut pending = c.stream("InfiniteStream", &Value::json(r#"["rust-self-drop",1000]"#)).unwrap();
        let mut g = slot.lock().unwrap();
        let c = g.insert(c);
        c.send_nowait("Callback", &Value::string_arg("x")).unwrap(); // never blocks
        drop(g);
        assert_eq!(rx.recv_timeout(RECV).unwrap(), "dropped");
        let end = pending.by_ref().last().expect("the stream's end");
        assert_eq!(end.unwrap_err().code(), code::ECLOSED, "direct={direct}");
    }
}

#[test]
fn client_results_can_be_answered_later_from_another_thread() {
    let base = need_server!();
    for &(t, p) in MATRIX {
        let c = connect(&base, t, p);
        c.on_result_later("Double", |a, responder| {
            let n = json_of(a).as_arr()[0].as_i64().unwrap();
            let r = responder.expect("the server waits for a result");
            std::thread::spawn(move || r.answer(Ok(Value::json((2 * n).to_string()))).unwrap());
        })
        .unwrap();
        c.on_result_later("Forget", |_, responder| drop(responder)).unwrap();
        let r = c.invoke("GetClientResult", &args(p, r#"["Double",21]"#), T).unwrap();
        assert_eq!(r.to_json().unwrap(), "42", "{t:?}/{p:?}");
        let r = c.invoke("GetClientResult", &args(p, r#"["Forget",0]"#), T).unwrap();
        assert!(r.as_string().unwrap().contains("without answering"), "{r:?}");
    }
}
