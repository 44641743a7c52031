"""In-tree PEP 517 backend: setuptools, found even without a package index.

pip's build isolation installs the backend's requirements from an index and hides the
interpreter's site-packages. On machines without an index (Debian packages only) that
fails, so this backend requires nothing and, when setuptools or wheel cannot be imported
in the isolated environment, puts the interpreter's own site-packages back on sys.path
(after the isolated ones). Everything else is setuptools.build_meta.
"""

import site
import sys


def _import_setuptools():
    try:
        import setuptools  # noqa: F401
        import wheel  # noqa: F401
        return
    except ImportError:
        pass
    extra = []
    for prefix in {sys.prefix, sys.base_prefix}:
        try:
            extra += site.getsitepackages([prefix])
        except Exception:
            pass
    for d in extra:
        if d not in sys.path:
            sys.path.append(d)
    for mod in ("setuptools", "wheel"):
        sys.modules.pop(mod, None)
    try:
        import setuptools  # noqa: F401,F811
        import wheel  # noqa: F401,F811
    except ImportError as e:
        raise SystemExit(
            "building libsignalr's Python package needs setuptools and wheel "
            "(Debian: apt-get install python3-setuptools python3-wheel): %s" % e)


_import_setuptools()

from setuptools import build_meta as _meta  # noqa: E402

build_wheel = _meta.build_wheel
build_sdist = _meta.build_sdist
prepare_metadata_for_build_wheel = _meta.prepare_metadata_for_build_wheel
if hasattr(_meta, "build_editable"):
    build_editable = _meta.build_editable
    prepare_metadata_for_build_editable = _meta.prepare_metadata_for_build_editable


def get_requires_for_build_wheel(config_settings=None):
    return []  # setuptools and wheel are already importable (see above)


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_editable(config_settings=None):
    return []
