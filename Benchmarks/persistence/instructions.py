#!/usr/bin/env python3
"""Instructions per PUT in memory only and with each fsync policy, counted by callgrind.

The throughput rounds of the persistence phase move by 20 % and more between rounds on a
shared machine; callgrind's counts do not. Appending a record is a copy into the mapped log,
with no system call, so the user-space instructions callgrind counts are the whole of its cost
on the request's path (with `always`, the request also parks until the syncer's `fdatasync`).
Each mode runs the server under valgrind for a few and for many PUTs on one keep-alive
connection, so that start-up and shutdown cancel out:

    per PUT = (instructions(many) - instructions(few)) / (many - few)

Usage: instructions.py KEYGATE_BINARY PUBLIC_DIR OUT_DIR
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
KEYS = 1_000
LISTENING = re.compile(r"address=http://[^\s:]+:(\d+)")
TOTAL = re.compile(r"^summary:\s+(\d+)", re.MULTILINE)
MODES = {
    "memory-only": ["--memory-only"],
    "everysec": ["--fsync", "everysec"],
    "always": ["--fsync", "always"],
}


def instructions(binary: Path, public: str, out: Path, mode: str, puts: int) -> int:
    """The instructions the server ran for `puts` PUTs of 5 bytes, start to exit."""
    profile = out / f"callgrind-put-{mode}-{puts}.out"
    data = out / f"instructions-{mode}"
    shutil.rmtree(data, ignore_errors=True)
    flags = MODES[mode] if mode == "memory-only" else ["--data-dir", str(data), *MODES[mode]]
    server = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={profile}", str(binary),
         "--port", "0", "--threads", "1", "--public", public, "--no-metrics", *flags],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert server.stderr is not None
    port = next(int(match.group(1)) for line in server.stderr if (match := LISTENING.search(line)))
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    for index in range(puts):
        connection.request("PUT", f"/v1/cache/bench-put-{index % KEYS}", body=b"hello")
        response = connection.getresponse()
        response.read()
        if response.status not in (201, 204):
            sys.exit(f"PUT answered {response.status} in {mode}")
    connection.close()
    server.send_signal(signal.SIGTERM)
    server.stderr.read()
    if server.wait(timeout=60) != 0:
        sys.exit(f"keygate {mode} exited with {server.returncode}")
    shutil.rmtree(data, ignore_errors=True)
    match = TOTAL.search(profile.read_text())
    if not match:
        sys.exit(f"no instruction total in {profile}")
    return int(match.group(1))


def main() -> None:
    binary, public, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    # valgrind cannot read the DWARF 5 debug information Swift writes.
    stripped = out / "keygate-stripped"
    shutil.copyfile(binary, stripped)
    stripped.chmod(0o755)
    subprocess.run(["strip", "--strip-debug", str(stripped)], check=True)
    per_put = {}
    for mode in MODES:
        few = instructions(stripped, public, out, mode, FEW)
        many = instructions(stripped, public, out, mode, MANY)
        per_put[mode] = (many - few) / (MANY - FEW)
    base = per_put["memory-only"]
    print(" ".join(
        f"{mode}={count:.0f} {mode}_percent={100 * count / base:.2f}" for mode, count in per_put.items()))


if __name__ == "__main__":
    main()
