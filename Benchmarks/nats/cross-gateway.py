#!/usr/bin/env python3
"""The NATS phase's cross-gateway client: parks CONSUMERS long polls on gateway B, then pushes
one message at a time on gateway A and times each from the push sent to its consumer's answer
read (push on A -> pop parked on B), as the long-poll client does on one server.

Usage: cross-gateway.py PORT_A PORT_B CONSUMERS
Prints one line of key=value figures (times in ms). Loopback only.
"""

from __future__ import annotations

import socket
import statistics
import sys
import time

QUEUE = "bench-cross-gateway"


def connect(port: int) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return connection


def read_answer(connection: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            raise RuntimeError("connection closed")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += connection.recv(65536)
    return int(head.split(b" ")[1]), body[:length]


def waiting(port: int) -> int:
    with connect(port) as connection:
        connection.sendall(f"GET /v1/queues/{QUEUE} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        status, body = read_answer(connection)
        return int(body.split(b'"consumers":')[1].split(b",")[0])


def main() -> None:
    port_a, port_b, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    pop = f"POST /v1/queues/{QUEUE}/pop?wait=60 HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    consumers = []
    for _ in range(count):
        connection = connect(port_b)
        connection.sendall(pop)
        consumers.append(connection)
        # One parks at a time, so that they are served in this order.
        deadline = time.monotonic() + 10
        while waiting(port_b) < len(consumers):
            if time.monotonic() > deadline:
                raise RuntimeError("a consumer did not park")
    pusher = connect(port_a)
    latencies = []
    for index, consumer in enumerate(consumers):
        body = f"message {index}".encode()
        sent = time.perf_counter()
        pusher.sendall(
            f"POST /v1/queues/{QUEUE} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode() + body)
        status, answer = read_answer(consumer)
        latencies.append((time.perf_counter() - sent) * 1000)
        if status != 200 or answer != body:
            raise RuntimeError(f"consumer {index} got {status} {answer!r}")
        read_answer(pusher)
        consumer.close()
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"consumers={count} latency_p50_ms={statistics.median(latencies):.2f} "
          f"latency_p99_ms={p99:.2f} latency_max_ms={latencies[-1]:.2f}")


if __name__ == "__main__":
    main()
