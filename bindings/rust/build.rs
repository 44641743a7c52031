//! Finds libsignalr: a CMake build tree (env SIGNALR_BUILD_DIR) or an installed library
//! through the `pkg-config` program (`pkg-config --libs --cflags signalr`; set
//! PKG_CONFIG_PATH for a non-system prefix). Links the shared library and records its
//! directory as an rpath, so tests and examples run without LD_LIBRARY_PATH.
//! Also exports SIGNALR_HEADER (the signalr.h it found) for the test that checks the
//! hand-written FFI declarations against the header.
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=SIGNALR_BUILD_DIR");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG_PATH");
    println!("cargo:rerun-if-env-changed=PKG_CONFIG");
    println!("cargo:rerun-if-changed=build.rs");
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    // The header of this source tree: the fallback when the library's own is not found.
    let repo_header = manifest.join("../../core/include/signalr/signalr.h");

    if let Some(dir) = env::var_os("SIGNALR_BUILD_DIR").filter(|d| !d.is_empty()) {
        let dir = PathBuf::from(dir);
        let libdir = [dir.join("core"), dir.clone()]
            .into_iter()
            .find(|d| d.join("libsignalr.so").exists() || d.join("libsignalr.a").exists())
            .unwrap_or_else(|| {
                panic!("SIGNALR_BUILD_DIR={}: no libsignalr.so or libsignalr.a in it or in its core/ (build it with cmake first)", dir.display())
            });
        link_dir(&libdir);
        println!("cargo:rustc-link-lib=dylib=signalr");
        println!("cargo:rerun-if-changed={}", libdir.join("libsignalr.so").display());
        // A build tree has no include dir of its own: the header is in the source tree
        // (CMakeCache.txt names it).
        let header = source_dir_of(&dir)
            .map(|s| s.join("core/include/signalr/signalr.h"))
            .filter(|h| h.exists())
            .unwrap_or(repo_header);
        export_header(&header);
        return;
    }

    let pkg_config = env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into());
    let out = Command::new(&pkg_config).args(["--libs", "--cflags", "signalr"]).output();
    let out = match out {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).into_owned(),
        Ok(o) => panic!(
            "`{pkg_config} --libs --cflags signalr` failed: {}\nInstall libsignalr and set PKG_CONFIG_PATH=<prefix>/lib/pkgconfig, or set SIGNALR_BUILD_DIR=<cmake build dir>.",
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => panic!("cannot run `{pkg_config}` ({e}); set SIGNALR_BUILD_DIR=<cmake build dir> instead"),
    };
    let mut header = None;
    for flag in out.split_whitespace() {
        if let Some(d) = flag.strip_prefix("-L") {
            link_dir(Path::new(d));
        } else if let Some(l) = flag.strip_prefix("-l") {
            println!("cargo:rustc-link-lib={l}");
        } else if let Some(i) = flag.strip_prefix("-I") {
            let h = Path::new(i).join("signalr/signalr.h");
            if header.is_none() && h.exists() {
                header = Some(h);
            }
        }
    }
    export_header(&header.unwrap_or(repo_header));
}

fn link_dir(d: &Path) {
    println!("cargo:rustc-link-search=native={}", d.display());
    // rustc-link-arg reaches tests, examples and binaries: they find the library at run time.
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", d.display());
}

fn export_header(h: &Path) {
    println!("cargo:rustc-env=SIGNALR_HEADER={}", h.display());
    println!("cargo:rerun-if-changed={}", h.display());
}

/// The CMake source dir recorded in a build tree's CMakeCache.txt.
fn source_dir_of(build: &Path) -> Option<PathBuf> {
    let cache = std::fs::read_to_string(build.join("CMakeCache.txt")).ok()?;
    cache.lines().find_map(|l| l.strip_prefix("CMAKE_HOME_DIRECTORY:INTERNAL=")).map(PathBuf::from)
}
