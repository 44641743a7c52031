//! The Rust client of tools/bench/compare (same CLI and output as bench_c.c / bench_py.py):
//!
//!     bench_compare --url URL --workload echo|inflight64|flood|upload
//!                   --protocol json|messagepack [--messages N] [--warmup N] [--timeout S]
//!                   [--mode poll|lend|direct] [--echo blocking|chained]
//!
//! Connects over WebSockets, warms up with --warmup messages of the same workload, measures
//! --messages and prints one JSON line {"client":"rust",...,"cpu_us":..,"wall_ms":..}:
//! cpu_us is getrusage(RUSAGE_SELF) user+sys over the measured phase (every thread: the
//! caller, the binding's poller thread and libsignalr's I/O thread). --mode selects the
//! Context: poll (Context::new, the default), lend (Context::new_lending) or direct
//! (Context::new_direct, SIGNALR_CONTEXT_DIRECT).
//! Workloads: echo = invoke (blocking) in a loop (--echo chained: each next invoke issued
//! from the previous one's completion, as bench_c.c does); inflight64 = 64 invokes outstanding, the
//! next issued from a completion; flood = SendNumbered(N) counted by a handler; upload = N
//! items of an upload stream into UploadSum (EAGAIN waits for SIGNALR_EVENT_WRITABLE).
use signalr::{Builder, Connection, Context, Protocol, Transport, Value};
use std::os::raw::{c_int, c_long};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[repr(C)]
struct Timeval {
    tv_sec: c_long,
    tv_usec: c_long,
}
#[repr(C)]
struct Rusage {
    ru_utime: Timeval,
    ru_stime: Timeval,
    _rest: [c_long; 14],
}
extern "C" {
    fn getrusage(who: c_int, usage: *mut Rusage) -> c_int;
}
const RUSAGE_SELF: c_int = 0;

fn cpu_us() -> f64 {
    let mut r: Rusage = unsafe { std::mem::zeroed() };
    unsafe { getrusage(RUSAGE_SELF, &mut r) };
    let t = |v: &Timeval| v.tv_sec as f64 * 1e6 + v.tv_usec as f64;
    t(&r.ru_utime) + t(&r.ru_stime)
}

type Res<T> = Result<T, String>;

struct Bench {
    conn: Arc<Connection>,
    wire: Protocol,
    deadline: Instant,
    echo_args: Value,
    hello: Value,
    flood: Arc<(Mutex<(u64, u64)>, Condvar)>, // (received, target)
}

impl Bench {
    fn left(&self) -> Res<Duration> {
        let now = Instant::now();
        if now >= self.deadline {
            return Err("the time limit ran out".into());
        }
        Ok(self.deadline - now)
    }
    /// Arguments pre-encoded in the wire's encoding (no transcoding on the measured path).
    fn wire_value(&self, json: &str) -> Value {
        let v = Value::json(json);
        if self.wire == Protocol::MessagePack {
            Value::msgpack(v.to_msgpack().unwrap())
        } else {
            v
        }
    }

    fn echo(&self, n: u64) -> Res<()> {
        let t = Some(self.left()?);
        for _ in 0..n {
            let r = self.conn.invoke("Echo", &self.echo_args, t).map_err(|e| e.to_string())?;
            if r != self.hello {
                return Err(format!("Echo returned {r:?}"));
            }
        }
        Ok(())
    }

    fn inflight(&self, n: u64, window: u64) -> Res<()> {
        struct St {
            m: Mutex<(u64, u64, Option<String>)>, // issued, completed, failure
            cv: Condvar,
            n: u64,
            args: Value,
            hello: Value,
        }
        fn issue(conn: &Arc<Connection>, st: &Arc<St>) {
            let (c2, s2) = (conn.clone(), st.clone());
            let r = conn.invoke_with("Echo", &st.args, move |r| {
                let mut g = s2.m.lock().unwrap();
                match r {
                    Ok(Some(v)) if v == s2.hello => {}
                    other => g.2 = Some(format!("Echo: {other:?}")),
                }
                g.1 += 1;
                let more = g.0 < s2.n && g.2.is_none();
                if more {
                    g.0 += 1;
                }
                let finished = g.1 == g.0 && !more;
                drop(g);
                if more {
                    issue(&c2, &s2);
                } else if finished {
                    s2.cv.notify_all();
                }
            });
            if let Err(e) = r {
                let mut g = st.m.lock().unwrap();
                g.2 = Some(e.to_string());
                g.1 += 1;
                st.cv.notify_all();
            }
        }
        let st = Arc::new(St {
            m: Mutex::new((0, 0, None)),
            cv: Condvar::new(),
            n,
            args: self.echo_args.clone(),
            hello: self.hello.clone(),
        });
        let first = n.min(window);
        st.m.lock().unwrap().0 = first;
        for _ in 0..first {
            issue(&self.conn, &st);
        }
        let mut g = st.m.lock().unwrap();
        while !(g.1 == g.0 && (g.0 == n || g.2.is_some())) {
            let left = self.left()?;
            g = st.cv.wait_timeout(g, left).unwrap().0;
        }
        g.2.take().map_or(Ok(()), Err)
    }

    fn flood(&self, n: u64) -> Res<()> {
        *self.flood.0.lock().unwrap() = (0, n);
        let r = self
            .conn
            .invoke("SendNumbered", &self.wire_value(&format!("[{n}]")), Some(self.left()?))
            .map_err(|e| e.to_string())?;
        if r.to_json().ok().as_deref() != Some(n.to_string().as_str()) {
            return Err(format!("SendNumbered returned {r:?}"));
        }
        let mut g = self.flood.0.lock().unwrap();
        while g.0 < n {
            let left = self.left().map_err(|e| format!("{e}: flood {} of {n}", g.0))?;
            g = self.flood.1.wait_timeout(g, left).unwrap().0;
        }
        Ok(())
    }

    fn upload(&self, n: u64) -> Res<()> {
        let up = self.conn.upload().map_err(|e| e.to_string())?;
        let call = self.conn.invoke_with_uploads("UploadSum", &self.wire_value("[]"), &[&up]);
        let item = self.wire_value("1");
        let t = Some(self.left()?);
        for _ in 0..n {
            up.write(&item, t).map_err(|e| e.to_string())?;
        }
        up.complete().map_err(|e| e.to_string())?;
        let r = call.wait(Some(self.left()?)).map_err(|e| e.to_string())?;
        if r.to_json().ok().as_deref() != Some(n.to_string().as_str()) {
            return Err(format!("UploadSum returned {r:?}, expected {n}"));
        }
        Ok(())
    }
}

fn main() {
    let mut a = std::collections::HashMap::new();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for kv in argv.chunks(2) {
        if kv.len() != 2 || !kv[0].starts_with("--") {
            eprintln!("usage: bench_compare --url URL --workload echo|inflight64|flood|upload --protocol json|messagepack [--messages N] [--warmup N] [--timeout S] [--mode poll|lend|direct] [--echo blocking|chained]");
            std::process::exit(2);
        }
        a.insert(kv[0].trim_start_matches("--").to_string(), kv[1].clone());
    }
    let get = |k: &str, d: &str| a.get(k).cloned().unwrap_or_else(|| d.to_string());
    let url = get("url", "");
    let workload = get("workload", "echo");
    let protocol = get("protocol", "json");
    let messages: u64 = get("messages", "10000").parse().expect("--messages");
    let warmup: u64 = get("warmup", "1000").parse().expect("--warmup");
    let timeout: f64 = get("timeout", "120").parse().expect("--timeout");
    let mode = get("mode", "poll");
    // --echo blocking (default: Connection::invoke in a loop, as an application awaits) or
    // chained (the next invoke issued from the completion, as bench_c.c does).
    let chained = get("echo", "blocking") == "chained";
    if url.is_empty() || !["echo", "inflight64", "flood", "upload"].contains(&workload.as_str()) {
        eprintln!("bench_compare: --url and a known --workload are required");
        std::process::exit(2);
    }
    // A hang inside the library must not outlive the time limit.
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs_f64(timeout + 5.0));
        eprintln!("bench_compare: no result within the time limit; exiting");
        std::process::exit(1);
    });
    let wire = if protocol == "messagepack" { Protocol::MessagePack } else { Protocol::Json };
    let result = (|| -> Res<(f64, f64)> {
        let ctx = match mode.as_str() {
            "direct" => Context::new_direct(),
            "lend" => Context::new_lending(),
            _ => Context::new(),
        }
        .map_err(|e| e.to_string())?;
        let conn = Builder::new(&url)
            .transports(&[Transport::WebSockets])
            .protocol(wire)
            .log_level("warning")
            .context(&ctx)
            .build()
            .map_err(|e| e.to_string())?;
        let flood = Arc::new((Mutex::new((0u64, 0u64)), Condvar::new()));
        let f2 = flood.clone();
        conn.on("Numbered", move |_| {
            let mut g = f2.0.lock().unwrap();
            g.0 += 1;
            if g.0 == g.1 {
                f2.1.notify_all();
            }
        })
        .map_err(|e| e.to_string())?;
        let mut b = Bench {
            conn: Arc::new(conn),
            wire,
            deadline: Instant::now() + Duration::from_secs_f64(timeout),
            echo_args: Value::no_args(),
            hello: Value::no_args(),
            flood,
        };
        b.echo_args = b.wire_value(r#"["hello"]"#);
        b.hello = b.wire_value(r#""hello""#);
        b.conn.start(Some(b.left()?.min(Duration::from_secs(30)))).map_err(|e| e.to_string())?;
        let run = |b: &Bench, n: u64| match workload.as_str() {
            "echo" if chained => b.inflight(n, 1),
            "echo" => b.echo(n),
            "inflight64" => b.inflight(n, 64),
            "flood" => b.flood(n),
            _ => b.upload(n),
        };
        if warmup > 0 {
            run(&b, warmup)?;
        }
        let (c0, w0) = (cpu_us(), Instant::now());
        run(&b, messages)?;
        let (cpu, wall) = (cpu_us() - c0, w0.elapsed().as_secs_f64() * 1e3);
        let _ = b.conn.stop(Some(Duration::from_secs(5)));
        Ok((cpu, wall))
    })();
    match result {
        Ok((cpu, wall)) => println!(
            "{{\"client\":\"rust\",\"workload\":\"{workload}\",\"protocol\":\"{protocol}\",\"messages\":{messages},\"cpu_us\":{},\"wall_ms\":{:.1},\"version\":\"{}\"}}",
            cpu.round(),
            wall,
            signalr::version()
        ),
        Err(e) => {
            eprintln!("bench_compare: {workload} {protocol}: {e}");
            std::process::exit(1);
        }
    }
}
