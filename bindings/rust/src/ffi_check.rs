//! The drift check: parses `signalr.h` (the one build.rs found: SIGNALR_HEADER) and this
//! crate's `ffi.rs`, and fails when a function, callback type or integer constant of the
//! header is missing from ffi.rs or declared differently (arity, parameter or return types,
//! value). Types are compared after mapping C to Rust (`const char *` → `*const c_char`,
//! `size_t` → `usize`, a callback typedef → `Option<typedef>`, ...).
use std::collections::BTreeMap;

const FFI_RS: &str = include_str!("ffi.rs");

/// name → (parameter types, return type), for functions and for callback types.
type Decls = BTreeMap<String, (Vec<String>, String)>;

fn strip_c_comments(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            i += 2;
            while i + 1 < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
            out.push(' ');
        } else if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Splits at commas outside (), <>.
fn split_top(s: &str) -> Vec<String> {
    let (mut parts, mut cur, mut depth) = (Vec::new(), String::new(), 0i32);
    for c in s.chars() {
        match c {
            '(' | '<' => depth += 1,
            ')' | '>' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(cur.trim().to_string());
                cur.clear();
                continue;
            }
            _ => {}
        }
        cur.push(c);
    }
    if !cur.trim().is_empty() {
        parts.push(cur.trim().to_string());
    }
    parts
}

fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace()).collect()
}

/// A C type (without a parameter name) as the Rust type ffi.rs must use.
fn c_type_to_rust(t: &str) -> String {
    let stars = t.matches('*').count();
    let words: Vec<&str> = t.split(|c: char| c == '*' || c.is_whitespace()).filter(|w| !w.is_empty()).collect();
    let is_const = words.first() == Some(&"const");
    let base = words.iter().copied().find(|w| *w != "const").unwrap_or("void");
    let base = match base {
        "void" => "c_void",
        "char" => "c_char",
        "int" => "c_int",
        "size_t" => "usize",
        "int32_t" => "i32",
        "uint32_t" => "u32",
        "int64_t" => "i64",
        "uint64_t" => "u64",
        "uint8_t" => "u8",
        other => other,
    }
    .to_string();
    if stars == 0 {
        if base.ends_with("_fn") {
            return format!("Option<{base}>");
        }
        return base;
    }
    let mut r = format!("{}{}", if is_const { "*const " } else { "*mut " }, base);
    for _ in 1..stars {
        r = format!("*mut {r}");
    }
    r
}

/// A C parameter (`const char *json`, `void (*free_user_data)(void *)`) → its Rust type.
fn c_param_to_rust(p: &str) -> String {
    if p.contains("(*") {
        assert_eq!(squash(p).split(")(").nth(1), Some("void*)"), "unexpected function pointer parameter {p}");
        return "Option<signalr_free_fn>".into();
    }
    // The name is the last identifier; the rest is the type.
    let name_start = p.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
    c_type_to_rust(&p[..name_start])
}

fn c_params(params: &str) -> Vec<String> {
    let params = params.trim();
    if params == "void" || params.is_empty() {
        return Vec::new();
    }
    split_top(params).iter().map(|p| squash(&c_param_to_rust(p))).collect()
}

fn c_ret(ret: &str) -> String {
    let ret = ret.trim();
    if ret == "void" {
        String::new()
    } else {
        squash(&c_type_to_rust(ret))
    }
}

/// (params, ret) per name from the header: functions and callback typedefs.
fn header_decls(h: &str) -> (Decls, Decls) {
    let h = strip_c_comments(h);
    let body: String = h.lines().filter(|l| !l.trim_start().starts_with('#')).collect::<Vec<_>>().join("\n");
    let (mut fns, mut cbs) = (BTreeMap::new(), BTreeMap::new());
    for stmt in body.split(';') {
        let stmt = stmt.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(rest) = stmt.split("SIGNALR_API ").nth(1) {
            let open = rest.find('(').unwrap();
            let close = rest.rfind(')').unwrap();
            let head = &rest[..open];
            let name_at = head.rfind(|c: char| !(c.is_alphanumeric() || c == '_')).map_or(0, |i| i + 1);
            let name = head[name_at..].to_string();
            fns.insert(name, (c_params(&rest[open + 1..close]), c_ret(&head[..name_at])));
        } else if let Some(rest) = stmt.trim().strip_prefix("typedef ") {
            if let Some(p) = rest.find("(*") {
                let ret = &rest[..p];
                let after = &rest[p + 2..];
                let name_end = after.find(')').unwrap();
                let name = after[..name_end].to_string();
                let params = &after[name_end + 1..];
                let params = params.trim().strip_prefix('(').unwrap().strip_suffix(')').unwrap();
                cbs.insert(name, (c_params(params), c_ret(ret)));
            }
        }
    }
    (fns, cbs)
}

fn rust_params(params: &str) -> Vec<String> {
    split_top(params).iter().map(|p| squash(p.split_once(':').map(|(_, t)| t).unwrap_or(p))).collect()
}

fn rust_ret(tail: &str) -> String {
    tail.trim().strip_prefix("->").map(squash).unwrap_or_default()
}

/// Balanced-paren body starting at s[open] == '(' → (inside, rest after ')').
fn paren_body(s: &str, open: usize) -> (&str, &str) {
    let mut depth = 0;
    for (i, c) in s[open..].char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return (&s[open + 1..open + i], &s[open + i + 1..]);
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in ffi.rs")
}

fn ffi_decls() -> (Decls, Decls) {
    let (mut fns, mut cbs) = (BTreeMap::new(), BTreeMap::new());
    let src: String = FFI_RS.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
    for stmt in src.split(';') {
        let stmt = stmt.trim();
        if let Some(at) = stmt.find("pub fn ") {
            let rest = &stmt[at + 7..];
            let open = rest.find('(').unwrap();
            let (params, tail) = paren_body(rest, open);
            fns.insert(rest[..open].trim().to_string(), (rust_params(params), rust_ret(tail)));
        } else if let Some(at) = stmt.find("pub type ") {
            let rest = &stmt[at + 9..];
            let (name, def) = rest.split_once('=').unwrap();
            let open = def.find("fn(").map(|i| i + 2).unwrap();
            let (params, tail) = paren_body(def, open);
            cbs.insert(name.trim().to_string(), (rust_params(params), rust_ret(tail)));
        }
    }
    (fns, cbs)
}

fn header() -> String {
    let path = env!("SIGNALR_HEADER");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn every_header_function_is_declared_alike() {
    let (h_fns, h_cbs) = header_decls(&header());
    let (r_fns, r_cbs) = ffi_decls();
    assert!(h_fns.len() > 50, "parsed only {} functions from the header", h_fns.len());
    let mut problems = Vec::new();
    for (what, h, r) in [("function", &h_fns, &r_fns), ("callback type", &h_cbs, &r_cbs)] {
        for (name, decl) in h {
            match r.get(name) {
                None => problems.push(format!("{what} {name} is in signalr.h but not in ffi.rs")),
                Some(d) if d != decl => problems.push(format!("{what} {name}: header {decl:?}, ffi.rs {d:?}")),
                _ => {}
            }
        }
        for name in r.keys() {
            if !h.contains_key(name) && name != "signalr_free_fn" {
                problems.push(format!("{what} {name} is in ffi.rs but no longer in signalr.h"));
            }
        }
    }
    assert!(problems.is_empty(), "ffi.rs drifted from signalr.h:\n{}", problems.join("\n"));
}

#[test]
fn every_header_constant_has_the_same_value() {
    let h = strip_c_comments(&header());
    let mut consts = BTreeMap::new();
    for line in FFI_RS.lines() {
        if let Some(rest) = line.trim().strip_prefix("pub const ") {
            let (name, v) = rest.split_once(':').unwrap();
            let v = v.split_once('=').unwrap().1.trim().trim_end_matches(';');
            consts.insert(name.trim().to_string(), v.parse::<i64>().unwrap());
        }
    }
    let mut checked = 0;
    let mut problems = Vec::new();
    for line in h.lines() {
        let Some(rest) = line.trim().strip_prefix("#define ") else { continue };
        let mut it = rest.splitn(2, char::is_whitespace);
        let (name, value) = (it.next().unwrap(), it.next().unwrap_or("").trim());
        let Ok(v) = value.trim_start_matches('(').trim_end_matches(')').parse::<i64>() else { continue };
        checked += 1;
        match consts.get(name) {
            None => problems.push(format!("{name} = {v} is missing from ffi.rs")),
            Some(r) if *r != v => problems.push(format!("{name}: header {v}, ffi.rs {r}")),
            _ => {}
        }
    }
    assert!(checked > 50, "parsed only {checked} constants");
    assert!(problems.is_empty(), "ffi.rs constants drifted:\n{}", problems.join("\n"));
}

#[test]
fn loaded_library_matches_the_declared_version_and_error_table() {
    assert_eq!(crate::version_number(), crate::ABI_VERSION_NUMBER, "loaded libsignalr {}", crate::version());
    let table = crate::error_codes();
    // The table lists SIGNALR_OK too, then every code from -1 down to SIGNALR_ERROR_LAST.
    let negative = table.iter().filter(|(c, _, _)| *c < 0).count() as i32;
    assert_eq!(negative, -super::ffi::SIGNALR_ERROR_LAST);
    for (code, name, _) in table.into_iter().filter(|(c, _, _)| *c < 0) {
        assert_eq!(crate::Error::from_code(code).name(), name);
    }
}

#[test]
fn the_parser_sees_drift() {
    // A self-test: a changed arity or type in a header must be reported.
    let (fns, _) = header_decls("SIGNALR_API int signalr_x(const char *a, size_t n, void (*f)(void *));");
    assert_eq!(
        fns["signalr_x"],
        (vec!["*constc_char".into(), "usize".into(), "Option<signalr_free_fn>".into()], "c_int".into())
    );
}
