#!/usr/bin/env python3
"""The NATS phase's lease client, across two gateways, ROUNDS times each:

- lease end: receive on A with a visibility of 0.2 s and never acknowledge; a receive waiting
  on B gets the message again: lateness from the lease's `visibleUntil` to B's answer read;
- delay: push on A with a delay of 0.2 s; a pop waiting on B gets it: lateness from the
  push's answer plus 0.2 s to B's answer read (the due time is the gateway's, a little after);
- receive then acknowledge on A: the time of each, one message at a time.

Usage: leases.py PORT_A PORT_B ROUNDS
Prints one line of key=value figures (times in ms). Loopback only; each round on a queue of
its own.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import time
import uuid


def call(port: int, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body)
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def expect(port: int, method: str, path: str, status: int, body: bytes = b"") -> bytes:
    got, data = call(port, method, path, body)
    if got != status:
        raise RuntimeError(f"{method} {path} -> {got} {data!r}, not {status}")
    return data


def figures(name: str, samples: list[float]) -> str:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    return (f"{name}_p50_ms={statistics.median(samples):.2f} {name}_p99_ms={p99:.2f} "
            f"{name}_max_ms={samples[-1]:.2f}")


def main() -> None:
    port_a, port_b, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    lease_end: list[float] = []
    delay: list[float] = []
    receive: list[float] = []
    acknowledge: list[float] = []
    for _ in range(rounds):
        queue = f"bench-lease-{uuid.uuid4().hex[:12]}"
        expect(port_a, "POST", f"/v1/queues/{queue}", 201, b"job")
        started = time.perf_counter()
        leased = json.loads(expect(port_a, "POST", f"/v1/queues/{queue}/receive?visibility=0.2", 200))
        receive.append((time.perf_counter() - started) * 1000)
        until = leased["messages"][0]["visibleUntil"]
        again = json.loads(expect(port_b, "POST", f"/v1/queues/{queue}/receive?wait=5", 200))
        lease_end.append(time.time() * 1000 - until)
        started = time.perf_counter()
        expect(port_a, "DELETE", f"/v1/queues/{queue}/leases/{again['messages'][0]['receipt']}", 204)
        acknowledge.append((time.perf_counter() - started) * 1000)

        expect(port_a, "POST", f"/v1/queues/{queue}?delay=0.2", 201, b"later")
        due = time.time() * 1000 + 200
        expect(port_b, "POST", f"/v1/queues/{queue}/pop?wait=5", 200)
        delay.append(time.time() * 1000 - due)
    print(" ".join([f"rounds={rounds}", figures("lease_end", lease_end), figures("delay", delay),
                    figures("receive", receive), figures("ack", acknowledge)]))


if __name__ == "__main__":
    main()
