"""Builds signalr._lowlevel: the SWIG wrapper of libsignalr's public header, linked with the
static C library (libsignalr.a), so the installed package needs no libsignalr.so.

Where the C library comes from:
  - SIGNALR_BUILD_DIR=<cmake build dir of the repository>: its core/libsignalr.a is used as
    it is (build the target signalr_static there first). Fast; what tools/test.sh does.
  - otherwise the C core is configured and built with CMake from the repository this
    directory belongs to (python/..; or SIGNALR_SOURCE_DIR), into the build's temp dir.

Needs: a C compiler, cmake, pkg-config, swig (4.x), and the C library's dependencies
(libwebsockets, libcurl, cJSON, msgpack-c) with their pkg-config files.
Environment: SWIG (the swig program), CMAKE, CMAKE_BUILD_PARALLEL_LEVEL (jobs),
SIGNALR_CMAKE_BUILD_TYPE (default Release).
"""

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = Path(__file__).resolve().parent
INTERFACE = HERE / "src" / "signalr" / "_lowlevel.i"
DEPS = ["libcjson", "msgpack", "libwebsockets", "libcurl"]
# msgpack-c 6 renamed its pkg-config file (msgpack-c.pc); older ones ship msgpack.pc


def _msgpack_module(pc):
    for name in ("msgpack-c", "msgpack"):
        if subprocess.call([pc, "--exists", name]) == 0:
            return name
    return "msgpack"


def _fail(msg):
    raise SystemExit("libsignalr: " + msg)


def _source_dir():
    root = Path(os.environ.get("SIGNALR_SOURCE_DIR") or HERE.parent).resolve()
    if not (root / "core" / "include" / "signalr" / "signalr.h").is_file():
        _fail("the C sources are not at %s (set SIGNALR_SOURCE_DIR to the libsignalr checkout)" % root)
    return root


def _tool(env, *names):
    for cand in ([os.environ[env]] if os.environ.get(env) else []) + list(names):
        path = shutil.which(cand)
        if path:
            return path
    _fail("%s not found (install it, or set %s)" % (" / ".join(names), env))


def _run(cmd, **kw):
    print("+", " ".join(shlex.quote(str(c)) for c in cmd), flush=True)
    subprocess.check_call([str(c) for c in cmd], **kw)


def _pkg_config(*args):
    pc = _tool("PKG_CONFIG", "pkg-config", "pkgconf")
    deps = [_msgpack_module(pc) if d == "msgpack" else d for d in DEPS]
    try:
        out = subprocess.check_output([pc, *args, *deps], text=True)
    except subprocess.CalledProcessError:
        _fail("pkg-config cannot find %s (Debian: libwebsockets-dev libcurl4-openssl-dev "
              "libcjson-dev libmsgpack-dev)" % " ".join(DEPS))
    return shlex.split(out)


class BuildExt(build_ext):
    """Builds (or finds) libsignalr.a, runs SWIG, then compiles the extension."""

    def _core_library(self, root):
        build_dir = os.environ.get("SIGNALR_BUILD_DIR")
        if build_dir:
            lib = Path(build_dir).resolve() / "core" / "libsignalr.a"
            if not lib.is_file():
                _fail("%s is missing: build the target signalr_static in SIGNALR_BUILD_DIR first "
                      "(cmake --build %s --target signalr_static)" % (lib, build_dir))
            return lib
        cmake = _tool("CMAKE", "cmake")
        out = Path(self.build_temp).resolve() / "libsignalr-core"
        build_type = os.environ.get("SIGNALR_CMAKE_BUILD_TYPE", "Release")
        _run([cmake, "-S", root, "-B", out, "-DCMAKE_BUILD_TYPE=" + build_type,
              "-DSIGNALR_BUILD_TESTS=OFF", "-DSIGNALR_BUILD_TOOLS=OFF", "-DSIGNALR_INTEROP=OFF",
              "-DSIGNALR_FUZZ=OFF"])
        jobs = os.environ.get("CMAKE_BUILD_PARALLEL_LEVEL") or str(min(os.cpu_count() or 1, 8))
        _run([cmake, "--build", out, "--target", "signalr_static", "-j", jobs])
        lib = out / "core" / "libsignalr.a"
        if not lib.is_file():
            _fail("the CMake build did not produce %s" % lib)
        return lib

    def build_extension(self, ext):
        root = _source_dir()
        include = root / "core" / "include"
        lib = self._core_library(root)
        swig = _tool("SWIG", "swig4.0", "swig")
        tmp = Path(self.build_temp).resolve() / "swig"
        tmp.mkdir(parents=True, exist_ok=True)
        wrapper = tmp / "lowlevel_wrap.c"
        # -builtin: plain C functions, no proxy module needed (the .py SWIG writes stays in tmp).
        _run([swig, "-python", "-threads", "-builtin", "-I%s" % include, "-outdir", tmp, "-o", wrapper,
              INTERFACE])
        ext.sources = [str(wrapper)]
        ext.include_dirs = [str(include)]
        ext.extra_objects = [str(lib)]
        ext.depends = [str(lib), str(INTERFACE), str(include / "signalr" / "signalr.h")]
        libs = _pkg_config("--libs")
        # what libsignalr.a needs beyond those (libev, when the core was built with it)
        extra = lib.parent / "libsignalr-extra-libs.txt"
        if extra.is_file():
            libs += extra.read_text().split()
        ext.libraries = [a[2:] for a in libs if a.startswith("-l")] + ["m"]
        ext.library_dirs = [a[2:] for a in libs if a.startswith("-L")]
        ext.extra_link_args = [a for a in libs if not a.startswith(("-l", "-L"))] + [
            "-pthread", "-Wl,--exclude-libs,ALL"]
        ext.extra_compile_args = ["-std=gnu11", "-fvisibility=hidden", "-Wno-unused-parameter",
                                  "-Wno-missing-field-initializers", "-Wno-unused-but-set-variable"]
        super().build_extension(ext)


setup(
    ext_modules=[Extension("signalr._lowlevel", sources=["src/signalr/_lowlevel.i"])],
    cmdclass={"build_ext": BuildExt},
)
