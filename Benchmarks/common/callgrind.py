"""Running Keygate under callgrind, for the benchmarks that count instructions.

valgrind cannot read the DWARF 5 debug information Swift writes, so the server runs from a copy
stripped of it. A figure per request is taken from two runs, a few and many requests on one
keep-alive connection, so that start-up and shutdown cancel out:

    per request = (instructions(many) - instructions(few)) / (many - few)
"""

from __future__ import annotations

import http.client
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

LISTENING = re.compile(r"address=http://[^\s:]+:(\d+)")
TOTAL = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)


def stripped_copy(binary: Path, out: Path) -> Path:
    """A copy of `binary` in `out` without its debug information."""
    stripped = out / "keygate-stripped"
    shutil.copyfile(binary, stripped)
    stripped.chmod(0o755)
    subprocess.run(["strip", "--strip-debug", str(stripped)], check=True)
    return stripped


def instructions(
    binary: Path, profile: Path, arguments: list[str],
    requests: Callable[[http.client.HTTPConnection], None],
) -> int:
    """The instructions the server ran, start to exit, for what `requests` sends it over one
    connection; the server runs on port 0 with one thread and `arguments`."""
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}", str(binary),
         "--port", "0", "--threads", "1", *arguments],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert server.stderr is not None
    port = next(int(match.group(1)) for line in server.stderr if (match := LISTENING.search(line)))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    requests(connection)
    connection.close()
    server.send_signal(signal.SIGTERM)
    server.stderr.read()
    if server.wait(timeout=60) != 0:
        sys.exit(f"keygate {' '.join(arguments)} exited with {server.returncode}")
    match = TOTAL.search(profile.read_text())
    if not match:
        sys.exit(f"no instruction total in {profile}")
    return int(match.group(1))


def per_request(count: Callable[[int], int], few: int, many: int) -> float:
    """Instructions per request, from `count(n)`, the instructions of a run of n requests."""
    return (count(many) - count(few)) / (many - few)
