#!/usr/bin/env python3
"""The README's C program is tools/examples/hello.c verbatim, and it works against the bundled
hub: run by CTest with the path of the built example."""
import json
import os
import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parents[2]
example = (root / "tools" / "examples" / "hello.c").read_text()
readme = (root / "README.md").read_text()
if "```c\n" + example + "```" not in readme:
    sys.exit("README.md's C program is not tools/examples/hello.c verbatim: copy one to the other")
state = os.environ.get("SIGNALR_SERVER_STATE", "")
if not state or not Path(state).exists():
    print("*** SKIPPING the README example's run: no test server (dotnet missing?) ***")
    sys.exit(1 if os.environ.get("SIGNALR_REQUIRE_SERVER") == "1" else 0)
url = json.loads(Path(state).read_text())["http"] + "/hubs/test"
r = subprocess.run([sys.argv[1], url], capture_output=True, text=True, timeout=60)
if r.returncode != 0 or r.stdout != 'Echo answered "hi"\n':
    sys.exit(f"the README example failed: rc={r.returncode} stdout={r.stdout!r} stderr={r.stderr!r}")
bad = subprocess.run([sys.argv[1], "http://127.0.0.1:1/hubs/test"], capture_output=True, text=True, timeout=60)
if bad.returncode != 1 or "could not connect" not in bad.stderr or "hint: " not in bad.stderr:
    sys.exit(f"the README example's failure path: rc={bad.returncode} stderr={bad.stderr!r}")
print("README example ok:", r.stdout.strip())
