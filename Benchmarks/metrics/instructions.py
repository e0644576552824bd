#!/usr/bin/env python3
"""Instructions per GET with and without metrics, counted by callgrind.

Wall-clock comparisons of a few per cent drown in the noise of a shared machine; callgrind's
instruction counts do not. Each mode runs the server under valgrind for a few and for many GETs
(see Benchmarks/common/callgrind.py). Usage: instructions.py KEYGATE_BINARY PUBLIC_DIR OUT_DIR
"""

from __future__ import annotations

import http.client
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from callgrind import instructions, per_request, stripped_copy  # noqa: E402

FEW, MANY = 2_000, 12_000


def gets(count: int):
    """Stores the value, then GETs it `count` times."""
    def send(connection: http.client.HTTPConnection) -> None:
        connection.request("PUT", "/v1/cache/bench-get", body=b"hello")
        assert connection.getresponse().read() == b""
        for _ in range(count):
            connection.request("GET", "/v1/cache/bench-get")
            response = connection.getresponse()
            assert response.status == 200 and response.read() == b"hello"
    return send


def main() -> None:
    binary, public, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    stripped = stripped_copy(binary, out)
    per_get = {}
    for name, flags in (("without", ["--no-metrics"]), ("with", [])):
        def count(requests: int, flags: list[str] = flags) -> int:
            profile = out / f"callgrind-{'-'.join(flags) or 'metrics'}-{requests}.out"
            return instructions(stripped, profile, ["--public", public, *flags], gets(requests))
        per_get[name] = per_request(count, FEW, MANY)
    cost = per_get["with"] - per_get["without"]
    print(f"instructions_without={per_get['without']:.0f} instructions_with={per_get['with']:.0f} "
          f"cost={cost:.0f} cost_percent={100 * cost / per_get['without']:.2f}")


if __name__ == "__main__":
    main()
