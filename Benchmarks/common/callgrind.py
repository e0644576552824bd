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
from dataclasses import dataclass, field
from pathlib import Path

@dataclass
class Mode:
    """How a server runs, and what each of its requests sends."""
    flags: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)


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


def gets(count: int, headers: dict[str, str]) -> Callable[[http.client.HTTPConnection], None]:
    """Stores the value of the GET benchmark, then GETs it `count` times, sending `headers`."""
    def send(connection: http.client.HTTPConnection) -> None:
        connection.request("PUT", "/v1/cache/bench-get", body=b"hello", headers=headers)
        assert connection.getresponse().read() == b""
        for _ in range(count):
            connection.request("GET", "/v1/cache/bench-get", headers=headers)
            response = connection.getresponse()
            assert response.status == 200 and response.read() == b"hello"
    return send


FEW, MANY = 2_000, 12_000


def compare_gets(phase: str, without: Mode, with_: Mode) -> None:
    """Counts instructions per GET of the server without and with what `phase` measures, and
    prints `instructions_without=… instructions_with=… cost=… cost_percent=…`. The arguments of
    the script are KEYGATE_BINARY PUBLIC_DIR OUT_DIR; profiles are written in OUT_DIR."""
    binary, public, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    modes = {"without": without, "with": with_}
    stripped = stripped_copy(binary, out)
    per_get = {}
    for name, mode in modes.items():
        def count(requests: int, mode: Mode = mode, name: str = name) -> int:
            profile = out / f"callgrind-{phase}-{name}-{requests}.out"
            return instructions(stripped, profile, ["--public", public, *mode.flags], gets(requests, mode.headers))
        per_get[name] = per_request(count, FEW, MANY)
    cost = per_get["with"] - per_get["without"]
    print(f"instructions_without={per_get['without']:.0f} instructions_with={per_get['with']:.0f} "
          f"cost={cost:.0f} cost_percent={100 * cost / per_get['without']:.2f}")
