#!/usr/bin/env python3
"""Instructions per pop, per leased receive and per acknowledgement, counted by callgrind.

The wall-clock comparison of receive + ack pairs with pops moves by half from round to round on
a shared machine; callgrind's counts do not. Each run stores n messages then consumes them one
request at a time on one keep-alive connection; the pushes are counted alone and taken away
(see Benchmarks/common/callgrind.py for the few-and-many method).
Usage: instructions.py KEYGATE_BINARY PUBLIC_DIR OUT_DIR
"""

from __future__ import annotations

import http.client
import json
import sys
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from callgrind import FEW, MANY, instructions, per_request, stripped_copy  # noqa: E402

QUEUE = "/v1/queues/bench-lease"


def consume(count: int, mode: str) -> Callable[[http.client.HTTPConnection], None]:
    """Pushes `count` 5-byte messages, then, by `mode`: nothing (`push`), pops each (`pop`),
    receives each on a lease (`receive`), or receives and acknowledges each (`pair`)."""
    def send(connection: http.client.HTTPConnection) -> None:
        # Leases longer than the run, set once rather than by a query on every receive (the
        # throughput runs send none either).
        connection.request("PUT", QUEUE + "/policy", body=b'{"visibility": 3600}')
        response = connection.getresponse()
        assert response.status == 200, response.status
        response.read()
        for _ in range(count):
            connection.request("POST", QUEUE, body=b"hello")
            response = connection.getresponse()
            assert response.status == 201, response.status
            response.read()
        for _ in range(count if mode != "push" else 0):
            connection.request("POST", QUEUE + ("/pop" if mode == "pop" else "/receive"))
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200, (response.status, body)
            if mode == "pair":
                receipt = json.loads(body)["messages"][0]["receipt"]
                connection.request("DELETE", f"{QUEUE}/leases/{receipt}")
                acknowledged = connection.getresponse()
                assert acknowledged.status == 204, acknowledged.status
                acknowledged.read()
    return send


def main() -> None:
    binary, public, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    stripped = stripped_copy(binary, out)
    counted = {}
    for mode in ("push", "pop", "receive", "pair"):
        def count(requests: int, mode: str = mode) -> int:
            profile = out / f"callgrind-leases-{mode}-{requests}.out"
            return instructions(stripped, profile, ["--public", public], consume(requests, mode))
        counted[mode] = per_request(count, FEW, MANY)
    pop, receive, pair = (counted[mode] - counted["push"] for mode in ("pop", "receive", "pair"))
    print(f"push={counted['push']:.0f} pop={pop:.0f} receive={receive:.0f} ack={pair - receive:.0f} "
          f"pair={pair:.0f} pair_per_pop={pair / pop:.3f}")


if __name__ == "__main__":
    main()
