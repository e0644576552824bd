#!/usr/bin/env python3
"""Instructions per GET with and without metrics, counted by callgrind.

Wall-clock comparisons of a few per cent drown in the noise of a shared machine; callgrind's
instruction counts do not. Each mode runs the server under valgrind twice, for a few and for
many GETs on one keep-alive connection, so that start-up and shutdown cancel out:

    per GET = (instructions(many) - instructions(few)) / (many - few)

valgrind cannot read the DWARF 5 debug information Swift writes, so the server is run from a
copy stripped of it. Usage: instructions.py KEYGATE_BINARY PUBLIC_DIR OUT_DIR
"""

from __future__ import annotations

import http.client
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

FEW, MANY = 2_000, 12_000
LISTENING = re.compile(r"address=http://[^\s:]+:(\d+)")
TOTAL = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)


def instructions(binary: Path, public: str, out: Path, flags: list[str], gets: int) -> int:
    """The instructions the server ran for `gets` GETs of a 5-byte value, start to exit."""
    profile = out / f"callgrind-{'-'.join(flags) or 'metrics'}-{gets}.out"
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}", str(binary),
         "--port", "0", "--threads", "1", "--public", public, *flags],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert server.stderr is not None
    port = next(int(match.group(1)) for line in server.stderr if (match := LISTENING.search(line)))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("PUT", "/v1/cache/bench-get", body=b"hello")
    assert connection.getresponse().read() == b""
    for _ in range(gets):
        connection.request("GET", "/v1/cache/bench-get")
        response = connection.getresponse()
        assert response.status == 200 and response.read() == b"hello"
    connection.close()
    server.send_signal(signal.SIGTERM)
    server.stderr.read()
    if server.wait(timeout=60) != 0:
        sys.exit(f"keygate {' '.join(flags)} exited with {server.returncode}")
    match = TOTAL.search(profile.read_text())
    if not match:
        sys.exit(f"no instruction total in {profile}")
    return int(match.group(1))


def main() -> None:
    binary, public, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    stripped = out / "keygate-stripped"
    shutil.copyfile(binary, stripped)
    stripped.chmod(0o755)
    subprocess.run(["strip", "--strip-debug", str(stripped)], check=True)
    per_get = {}
    for name, flags in (("without", ["--no-metrics"]), ("with", [])):
        few = instructions(stripped, public, out, flags, FEW)
        many = instructions(stripped, public, out, flags, MANY)
        per_get[name] = (many - few) / (MANY - FEW)
    cost = per_get["with"] - per_get["without"]
    print(f"instructions_without={per_get['without']:.0f} instructions_with={per_get['with']:.0f} "
          f"cost={cost:.0f} cost_percent={100 * cost / per_get['without']:.2f}")


if __name__ == "__main__":
    main()
