"""Starting and stopping the real `keygate` binary for the Python tests.

`KEYGATE_BINARY` names the server binary (default `.build/debug/keygate`, relative to the
repository root).
"""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC_FILE = REPO / "openapi.yaml"
BINARY = REPO / os.environ.get("KEYGATE_BINARY", ".build/debug/keygate")

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
LISTENING = re.compile(r"address=(http://[^\s:]+:(\d+))")


@dataclass
class RunningServer:
    """A started `keygate` process and where it listens."""

    process: subprocess.Popen[str]
    base_url: str
    host: str
    port: int
    log: list[str]


def start_server(
    request: pytest.FixtureRequest, public: Path, arguments: tuple[str, ...] = ()
) -> RunningServer:
    """Starts the binary on port 0 serving `public`, with more `arguments`; a finalizer
    always stops it."""
    if not BINARY.is_file():
        pytest.fail(f"No server binary at {BINARY}: run `swift build` or set KEYGATE_BINARY.")
    # The test owns its server's configuration: no KEYGATE_* variable of the caller leaks in.
    environment = {name: value for name, value in os.environ.items() if not name.startswith("KEYGATE_")}
    process = subprocess.Popen(
        [
            str(BINARY), "--port", "0", "--public", str(public),
            "--openapi", str(SPEC_FILE), "--log-level", "info", *arguments,
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, encoding="utf-8", errors="replace", env=environment,
    )
    log: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:
        # Reads stderr to its end so the server never blocks on a full pipe.
        assert process.stderr is not None
        for line in process.stderr:
            log.append(line)
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=drain, name="keygate-stderr", daemon=True)
    reader.start()

    def stop() -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            reader.join(timeout=STOP_TIMEOUT)
            pytest.fail(f"keygate did not exit within {STOP_TIMEOUT} s of SIGTERM:\n{''.join(log[-30:])}")
        reader.join(timeout=STOP_TIMEOUT)
        assert code == 0, f"keygate exited with {code} after SIGTERM:\n{''.join(log[-30:])}"

    request.addfinalizer(stop)

    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"keygate did not report its address within {STARTUP_TIMEOUT} s:\n{''.join(log)}")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            pytest.fail(f"keygate exited with {process.wait()} before listening:\n{''.join(log)}")
        if match := LISTENING.search(line):
            parsed = urllib.parse.urlsplit(match.group(1))
            assert parsed.hostname and parsed.port
            return RunningServer(process, match.group(1), parsed.hostname, parsed.port, log)
