#!/usr/bin/env python3
"""The memory phase of `make bench`: bytes per key and hit ratio, Keygate next to Redis 7.

Usage: memory.py BINARY PUBLIC OPENAPI OUT CLIENT

CLIENT is cache-client (cache-client.c), which loads keys and replays traces over one
connection, speaking HTTP to Keygate and RESP to Redis. Settings come from the environment:

- Bytes per key: a Keygate (`--memory-only`, no limit) and a Redis (no persistence) each get
  BENCH_MEMORY_KEYS (1 000 000) keys of BENCH_MEMORY_VALUE_BYTES (32) bytes with a TTL of an
  hour; the resident size (VmRSS) is read before and after. A third server, a Keygate with
  `--event-history 1`, tells what the default history of 100 000 events costs.
- Hit ratio: the working set is what Redis holds for BENCH_TRACE_KEYS (100 000) keys without
  TTL, by its `used_memory`; each server gets BENCH_TRACE_LIMIT_PERCENT (25) % of it as its
  limit (Redis's `maxmemory` is that plus the `used_memory` of an empty Redis, which Redis
  counts against it). Then each trace (Zipf α 0.99, α 0.8, α 0.99 with a scan that
  pollutes, and α 0.99 with a working set that shifts, see cache-client.c) of BENCH_TRACE_REQUESTS (1 000 000) requests runs against a
  fresh server of each kind: Keygate's default policy, Keygate `allkeys-lru` (to tell the
  policy from the bytes per key), Redis `allkeys-lru` and `allkeys-lfu` (BENCH_TRACE_SERVERS
  names them: `keygate:default keygate:allkeys-lru redis:allkeys-lru redis:allkeys-lfu`);
  BENCH_TRACE_JOBS (1) of these runs at once.

Prints one line of key=value figures per measurement (`case=rss …`, `case=trace …`).
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

LISTENING = re.compile(r"address=http://[^\s:]+:(\d+)")
START_TIMEOUT = 30.0
KEYS = int(os.environ.get("BENCH_MEMORY_KEYS", "1000000"))
VALUE_BYTES = int(os.environ.get("BENCH_MEMORY_VALUE_BYTES", "32"))
TRACE_KEYS = int(os.environ.get("BENCH_TRACE_KEYS", "100000"))
TRACE_REQUESTS = int(os.environ.get("BENCH_TRACE_REQUESTS", "1000000"))
TRACE_LIMIT_PERCENT = int(os.environ.get("BENCH_TRACE_LIMIT_PERCENT", "25"))
TRACE_SHAPES = os.environ.get("BENCH_TRACE_SHAPES", "zipf:0.99 zipf:0.8 scan:0.99 shift:0.99").split()
TRACE_JOBS = int(os.environ.get("BENCH_TRACE_JOBS", "1"))
TRACE_SERVERS = os.environ.get(
    "BENCH_TRACE_SERVERS", "keygate:default keygate:allkeys-lru redis:allkeys-lru redis:allkeys-lfu").split()


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Keygate:
    """A Keygate of ours, --memory-only, with FLAGS."""

    def __init__(self, binary: str, files: tuple[str, str], out: Path, name: str, *flags: str) -> None:
        self.log = out / f"memory-{name}.log"
        self.process = subprocess.Popen(
            [binary, "--host", "127.0.0.1", "--port", "0", "--public", files[0], "--openapi", files[1],
             "--memory-only", *flags],
            stdout=self.log.open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while (match := LISTENING.search(self.log.read_text())) is None:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Keygate did not start: {self.log.read_text()}")
            time.sleep(0.05)
        self.port = int(match.group(1))

    def memory(self) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz") as answer:
            return json.load(answer)["memory"]

    def keys(self) -> int:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics") as answer:
            text = answer.read().decode()
        return int(float(re.search(r'^keygate_keys\{type="string"\} (\S+)$', text, re.MULTILINE).group(1)))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


class Redis:
    """A Redis of ours, without persistence, with CONFIG, logging to out/memory-redis-NAME.log."""

    def __init__(self, out: Path, name: str, *config: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--daemonize", "no", *config],
            cwd=out, stdout=(out / f"memory-redis-{name}.log").open("w"), stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if self.cli("PING") == "PONG":
                    break
            except subprocess.CalledProcessError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("Redis did not start")
            time.sleep(0.05)

    def cli(self, *command: str) -> str:
        return subprocess.run(["redis-cli", "-p", str(self.port), *command], check=True, capture_output=True,
                              text=True).stdout.strip()

    def info(self, field: str) -> int:
        text = self.cli("INFO", "memory")
        return int(re.search(rf"^{field}:(\d+)", text, re.MULTILINE).group(1))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def run_client(client: str, *arguments: str) -> dict[str, str]:
    line = subprocess.run([client, *arguments], check=True, capture_output=True, text=True).stdout
    return dict(pair.split("=", 1) for pair in line.split())


def measure_rss(binary: str, files: tuple[str, str], out: Path, client: str) -> None:
    keygate = Keygate(binary, files, out, "rss")
    before = rss_bytes(keygate.process.pid)
    run_client(client, "load", "http", str(keygate.port), str(KEYS), str(VALUE_BYTES), "3600")
    after = rss_bytes(keygate.process.pid)
    counted = keygate.memory()["used"]
    keygate.stop()
    # The same with a history of one event, for what the default 100 000 events cost.
    small_history = Keygate(binary, files, out, "rss-history", "--event-history", "1")
    run_client(client, "load", "http", str(small_history.port), str(KEYS), str(VALUE_BYTES), "3600")
    without_history = rss_bytes(small_history.process.pid)
    small_history.stop()
    redis = Redis(out, "rss")
    redis_before = rss_bytes(redis.process.pid)
    run_client(client, "load", "redis", str(redis.port), str(KEYS), str(VALUE_BYTES), "3600")
    redis_after = rss_bytes(redis.process.pid)
    redis_used = redis.info("used_memory")
    redis.stop()
    print(f"case=rss keys={KEYS} value_bytes={VALUE_BYTES} keygate_rss_mib={after / 2**20:.1f} "
          f"keygate_rss_start_mib={before / 2**20:.1f} keygate_bytes_per_key={(after - before) / KEYS:.1f} "
          f"keygate_counted_bytes_per_key={counted / KEYS:.1f} redis_rss_mib={redis_after / 2**20:.1f} "
          f"redis_rss_start_mib={redis_before / 2**20:.1f} redis_bytes_per_key={(redis_after - redis_before) / KEYS:.1f} "
          f"redis_used_memory_mib={redis_used / 2**20:.1f} rss_ratio={after / redis_after:.3f} "
          f"history_100000_events_mib={(after - without_history) / 2**20:.1f}", flush=True)


def trace_on_keygate(binary: str, files: tuple[str, str], out: Path, client: str, shape: str, policy: str,
                     limit: int) -> str:
    """The figures line of `shape`'s trace on a Keygate limited to `limit` bytes by `policy`."""
    flags = ["--max-memory", str(limit)] + ([] if policy == "default" else ["--eviction-policy", policy])
    keygate = Keygate(binary, files, out, f"trace-{shape}-{policy}", *flags)
    try:
        figures = run_client(client, "trace", "http", str(keygate.port), shape, *trace_sizes())
        memory = keygate.memory()
        held = keygate.keys()
    finally:
        keygate.stop()
    return (f"case=trace shape={shape} server=keygate policy={memory['policy']} "
            f"hit_ratio={figures['hit_ratio']} keys_held={held} used_bytes={memory['used']} "
            f"seconds={figures['seconds']}")


def trace_on_redis(out: Path, client: str, shape: str, policy: str, empty: int, limit: int) -> str:
    """The figures line of `shape`'s trace on a Redis limited to `limit` bytes of data by `policy`."""
    redis = Redis(out, f"trace-{shape}-{policy}", "--maxmemory", str(empty + limit), "--maxmemory-policy", policy)
    try:
        figures = run_client(client, "trace", "redis", str(redis.port), shape, *trace_sizes())
        held = int(redis.cli("DBSIZE"))
        used = redis.info("used_memory")
    finally:
        redis.stop()
    return (f"case=trace shape={shape} server=redis policy={policy} hit_ratio={figures['hit_ratio']} "
            f"keys_held={held} used_bytes={used - empty} seconds={figures['seconds']}")


def trace_sizes() -> tuple[str, str, str]:
    return str(TRACE_KEYS), str(TRACE_REQUESTS), str(VALUE_BYTES)


def measure_hit_ratios(binary: str, files: tuple[str, str], out: Path, client: str) -> None:
    redis = Redis(out, "working-set")
    empty = redis.info("used_memory")
    run_client(client, "load", "redis", str(redis.port), str(TRACE_KEYS), str(VALUE_BYTES), "0")
    working_set = redis.info("used_memory") - empty
    redis.stop()
    limit = working_set * TRACE_LIMIT_PERCENT // 100
    print(f"case=limit working_set_bytes={working_set} limit_bytes={limit} redis_empty_bytes={empty}", flush=True)
    runs = []
    for shape in TRACE_SHAPES:
        for server, policy in (entry.split(":", 1) for entry in TRACE_SERVERS):
            if server == "keygate":
                runs.append(functools.partial(trace_on_keygate, binary, files, out, client, shape, policy, limit))
            else:
                runs.append(functools.partial(trace_on_redis, out, client, shape, policy, empty, limit))
    # A hit ratio does not depend on speed, so runs may share the machine (but Redis's LFU
    # counters lose one a minute unread, and a slower run lasts more minutes).
    with concurrent.futures.ThreadPoolExecutor(max_workers=TRACE_JOBS) as pool:
        for line in pool.map(lambda run: run(), runs):
            print(line, flush=True)


def main() -> None:
    binary, public, openapi, out, client = sys.argv[1:6]
    out_path = Path(out)
    out_path.mkdir(parents=True, exist_ok=True)
    files = (public, openapi)
    what = os.environ.get("BENCH_MEMORY_PARTS", "rss trace").split()
    if "rss" in what:
        measure_rss(binary, files, out_path, client)
    if "trace" in what:
        measure_hit_ratios(binary, files, out_path, client)


if __name__ == "__main__":
    main()
