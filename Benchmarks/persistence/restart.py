#!/usr/bin/env python3
"""How long Keygate takes to start on a data directory holding many keys (`make bench`).

Usage: restart.py BINARY PUBLIC OPENAPI OUT KEYS FILL_CLIENT

For each case, a server (`--fsync everysec`) on a fresh directory under OUT is filled with
KEYS distinct keys `fill:<n>` (5-byte values) by FILL_CLIENT (fill-client.c), stopped with
SIGTERM, and started again on the same directory on a port picked beforehand; the time is
counted from just before the process is started until `/readyz` answers 200, and then until
`/metrics` counts every key (the same moment, unless readiness comes before loading ends).
A few keys are read back (the first, the last and 20 at random): any missing one, or a count
that never reaches KEYS, stops the benchmark.

- `log`: compaction kept off (`--compaction-min-bytes` far above the log), so the start-up
  replays the whole log;
- `snapshot`: `--compaction-min-bytes 1048576`, so the log is compacted into a snapshot while
  it is filled (the keys are written a second time if no snapshot came of the first pass), and
  the start-up loads the snapshot and the log since.

Prints one line of key=value figures per case (`case=log …`, `case=snapshot …`); the
snapshot line has `snapshot=0` when no compaction happened.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

LISTENING = re.compile(r"address=http://[^\s:]+:(\d+)")
KEYS_METRIC = re.compile(r'^keygate_keys\{type="string"\} ([0-9.e+]+)$', re.MULTILINE)
START_TIMEOUT = 300.0
STOP_TIMEOUT = 300.0
# Far above any log this benchmark writes: no compaction.
NO_COMPACTION_BYTES = 1 << 40
SNAPSHOT_COMPACTION_BYTES = 1 << 20


class Server:
    """A Keygate process of ours, its log drained to a file so that it never blocks."""

    def __init__(self, binary: Path, files: list[str], port: int, flags: list[str], log: Path) -> None:
        """Starts BINARY on PORT (0: any), serving FILES (the public folder and the OpenAPI
        document) with FLAGS, its log in LOG."""
        public, openapi = files
        self.log_file = log.open("w")
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            [str(binary), "--host", "127.0.0.1", "--port", str(port), "--public", public,
             "--openapi", openapi, "--log-level", "info", *flags],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        self.port = port
        self.lines: list[str] = []
        self.address = threading.Event()
        threading.Thread(target=self.drain, daemon=True).start()

    def drain(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.log_file.write(line)
            self.log_file.flush()
            self.lines.append(line)
            if match := LISTENING.search(line):
                self.port = int(match.group(1))
                self.address.set()

    def wait_for_address(self) -> None:
        """Waits for the log line giving the address (for a server started on port 0)."""
        if not self.address.wait(START_TIMEOUT) or self.process.poll() is not None:
            sys.exit(f"keygate did not start:\n{''.join(self.lines[-20:])}")

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        """One GET on a new connection: status and body."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def key_count(self) -> int:
        status, body = self.get("/metrics")
        match = KEYS_METRIC.search(body.decode())
        if status != 200 or match is None:
            sys.exit(f"/metrics answered {status} without keygate_keys")
        return int(float(match.group(1)))

    def persistence(self) -> dict[str, Any]:
        """The `persistence` object of /healthz ({} when there is none)."""
        status, body = self.get("/healthz")
        return json.loads(body).get("persistence", {}) if status == 200 else {}

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def stop(self) -> float:
        """SIGTERM; returns how long the process took to exit, which must be cleanly."""
        if self.process.poll() is not None:
            sys.exit(f"keygate exited early with {self.process.returncode}:\n{''.join(self.lines[-20:])}")
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=STOP_TIMEOUT)
        if code != 0:
            sys.exit(f"keygate exited with {code} after SIGTERM:\n{''.join(self.lines[-20:])}")
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def await_ready(server: Server) -> float:
    """Polls /readyz every millisecond until it answers 200; returns the seconds since the
    process was started."""
    deadline = server.started + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            sys.exit(f"keygate exited during start-up:\n{''.join(server.lines[-20:])}")
        try:
            status, _ = server.get("/readyz", timeout=1.0)
            if status == 200:
                return time.monotonic() - server.started
        except OSError:
            pass
        time.sleep(0.001)
    sys.exit(f"/readyz did not answer 200 within {START_TIMEOUT} s")


def fill(fill_client: Path, server: Server, keys: int) -> tuple[float, float]:
    """Writes the keys; returns the fill client's seconds and rate."""
    output = subprocess.run(
        [str(fill_client), str(server.port), str(keys), "4", "16", "fill:"],
        capture_output=True, text=True, check=False,
    )
    if output.returncode != 0:
        sys.exit(f"the fill client failed: {output.stderr}")
    figures = dict(pair.split("=", 1) for pair in output.stdout.split())
    return float(figures["seconds"]), float(figures["rate"])


def directory_sizes(directory: Path) -> tuple[int, int, int]:
    """The bytes of the whole directory, of its snapshot and of its logs."""
    files = [path for path in directory.iterdir() if path.is_file()]
    snapshot = sum(path.stat().st_size for path in files if path.name == "snapshot.kgs")
    logs = sum(path.stat().st_size for path in files if path.suffix == ".kgl")
    return sum(path.stat().st_size for path in files), snapshot, logs


def await_compaction(server: Server) -> None:
    """Waits (up to 60 s) until no compaction is running."""
    deadline = time.monotonic() + 60
    while server.persistence().get("compacting") and time.monotonic() < deadline:
        time.sleep(0.1)


def run_case(name: str, binary: Path, files: list[str], out: Path, keys: int, fill_client: Path) -> str:
    """Fills, stops and restarts one server; returns its key=value line."""
    directory = out / f"restart-{name}"
    shutil.rmtree(directory, ignore_errors=True)
    compaction = NO_COMPACTION_BYTES if name == "log" else SNAPSHOT_COMPACTION_BYTES
    flags = ["--data-dir", str(directory), "--fsync", "everysec", "--compaction-min-bytes", str(compaction)]
    server = Server(binary, files, 0, flags, out / f"restart-{name}-fill.log")
    try:
        server.wait_for_address()
        fill_seconds, fill_rate = fill(fill_client, server, keys)
        passes = 1
        if name == "snapshot":
            await_compaction(server)
            if not (directory / "snapshot.kgs").exists():
                fill(fill_client, server, keys)
                passes = 2
                await_compaction(server)
        before = server.persistence()
        stop_seconds = server.stop()
    finally:
        server.kill()
    data_bytes, snapshot_bytes, log_bytes = directory_sizes(directory)

    restarted = Server(binary, files, free_port(), flags, out / f"restart-{name}.log")
    try:
        ready_seconds = await_ready(restarted)
        counted = restarted.key_count()
        loaded_seconds = ready_seconds
        while counted < keys and time.monotonic() - restarted.started < START_TIMEOUT:
            time.sleep(0.005)
            counted = restarted.key_count()
            loaded_seconds = time.monotonic() - restarted.started
        if counted != keys:
            sys.exit(f"{name}: {counted} keys after the restart, {keys} written")
        samples = [0, keys - 1, *random.Random(7).sample(range(keys), min(20, keys))]
        for index in samples:
            status, body = restarted.get(f"/v1/cache/fill:{index}")
            if (status, body) != (200, b"hello"):
                sys.exit(f"{name}: fill:{index} answered {status} {body[:100]!r} after the restart")
        rss = restarted.rss_kib()
        restarted.stop()
    finally:
        restarted.kill()
    return (
        f"case={name} keys={keys} passes={passes} fill_seconds={fill_seconds:.3f} fill_rate={fill_rate:.0f} "
        f"stop_seconds={stop_seconds:.3f} compactions={before.get('compactions', 'null')} "
        f"data_bytes={data_bytes} snapshot_bytes={snapshot_bytes} log_bytes={log_bytes} "
        f"snapshot={1 if snapshot_bytes > 0 else 0} ready_seconds={ready_seconds:.3f} "
        f"loaded_seconds={loaded_seconds:.3f} "
        f"rss_kib={rss}"
    )


def main() -> None:
    if len(sys.argv) != 7:
        sys.exit("usage: restart.py BINARY PUBLIC OPENAPI OUT KEYS FILL_CLIENT")
    binary, public, openapi, out = Path(sys.argv[1]), sys.argv[2], sys.argv[3], Path(sys.argv[4])
    keys, fill_client = int(sys.argv[5]), Path(sys.argv[6])
    # Benchmarks/run stops us with SIGTERM: exit through the `finally`s, which stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    out.mkdir(parents=True, exist_ok=True)
    for name in ("log", "snapshot"):
        print(run_case(name, binary, [public, openapi], out, keys, fill_client), flush=True)


if __name__ == "__main__":
    main()
