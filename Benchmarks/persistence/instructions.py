#!/usr/bin/env python3
"""Instructions per PUT in memory only and with each fsync policy, counted by callgrind.

The throughput rounds of the persistence phase move by 20 % and more between rounds on a
shared machine; callgrind's counts do not. Appending a record is a copy into the mapped log,
with no system call, so the user-space instructions callgrind counts are the whole of its cost
on the request's path (with `always`, the request also parks until the syncer's `fdatasync`).
Each mode runs the server under valgrind for a few and for many PUTs (see
Benchmarks/common/callgrind.py). Usage: instructions.py KEYGATE_BINARY PUBLIC_DIR OUT_DIR
"""

from __future__ import annotations

import http.client
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from callgrind import instructions, per_request, stripped_copy  # noqa: E402

FEW, MANY = 2_000, 12_000
KEYS = 1_000
MODES = {
    "memory-only": ["--memory-only"],
    "everysec": ["--fsync", "everysec"],
    "always": ["--fsync", "always"],
}


def puts(count: int, mode: str):
    """PUTs 5 bytes `count` times, to `KEYS` keys in turn."""
    def send(connection: http.client.HTTPConnection) -> None:
        for index in range(count):
            connection.request("PUT", f"/v1/cache/bench-put-{index % KEYS}", body=b"hello")
            response = connection.getresponse()
            response.read()
            if response.status not in (201, 204):
                sys.exit(f"PUT answered {response.status} in {mode}")
    return send


def main() -> None:
    binary, public, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    stripped = stripped_copy(binary, out)
    per_put = {}
    for mode, flags in MODES.items():
        def count(requests: int, mode: str = mode, flags: list[str] = flags) -> int:
            data = out / f"instructions-{mode}"
            shutil.rmtree(data, ignore_errors=True)
            storage = flags if mode == "memory-only" else ["--data-dir", str(data), *flags]
            profile = out / f"callgrind-put-{mode}-{requests}.out"
            total = instructions(
                stripped, profile, ["--public", public, "--no-metrics", *storage], puts(requests, mode))
            shutil.rmtree(data, ignore_errors=True)
            return total
        per_put[mode] = per_request(count, FEW, MANY)
    base = per_put["memory-only"]
    print(" ".join(
        f"{mode}={count:.0f} {mode}_percent={100 * count / base:.2f}" for mode, count in per_put.items()))


if __name__ == "__main__":
    main()
