//! `cargo run --example echo -- HUB_URL MESSAGE`: connects, calls `Echo(MESSAGE)` and
//! prints what the hub returns (a string, printed unquoted). Exits 0 on success.
use signalr::{Builder, Value};
use std::time::Duration;

fn main() {
    let argv: Vec<String> = std::env::args().collect();
    if argv.len() != 3 {
        eprintln!("usage: echo HUB_URL MESSAGE");
        std::process::exit(2);
    }
    let timeout = Some(Duration::from_secs(15));
    let run = || -> Result<String, signalr::Error> {
        let conn = Builder::new(&argv[1]).log_level("warning").build()?;
        conn.start(timeout)?;
        let r = conn.invoke("Echo", &Value::string_arg(&argv[2]), timeout)?;
        conn.stop(timeout)?;
        // A string is printed as its text; any other value as JSON.
        r.as_string().map_or_else(|| r.to_json(), Ok)
    };
    match run() {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("echo: {e}");
            std::process::exit(1);
        }
    }
}
