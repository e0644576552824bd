"""Starting and stopping the real `keygate` binary for the Python tests.

`KEYGATE_BINARY` names the server binary (default `.build/debug/keygate`, relative to the
repository root).

`KEYGATE_TEST_ENGINE=nats` runs every server on a three-node NATS JetStream cluster instead of
the built-in engine: the cluster is started once, on the first server, by the tests themselves
(`nats_cluster.py`) and stopped when the test process exits; each server gets a keyspace of its
own (a fresh `--nats-prefix`) and a partner, a second gateway on the same keyspace, so that the
whole suite runs against two gateways sharing it (the partner publishes expiries too, which the
event stream must de-duplicate). A test that needs a data directory is skipped there: the
cluster keeps the data.

Every server gets a fresh data directory of its own under pytest's temporary folder, so that
no test reads what another wrote (or the developer's `./keygate-data`), unless the caller
passes `--memory-only`, its own `--data-dir`, or `data_dir=` to start on a given directory
again (the crash test restarts on the directory of a server it killed). A binary that does
not know `--data-dir` yet is started without it.
"""

from __future__ import annotations

import atexit
import functools
import os
import queue
import re
import signal
import ssl
import subprocess
import threading
import time
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SPEC_FILE = REPO / "openapi.yaml"
BINARY = REPO / os.environ.get("KEYGATE_BINARY", ".build/debug/keygate")

STARTUP_TIMEOUT = 30.0
ENGINE = os.environ.get("KEYGATE_TEST_ENGINE", "builtin")
# What only the built-in engine serves: the memory limit (refused at start-up on a NATS cluster,
# which keeps the data).
builtin_only = pytest.mark.skipif(ENGINE == "nats", reason="the built-in engine's alone")
STOP_TIMEOUT = 10.0
LISTENING = re.compile(r"address=(https?://[^\s:]+:(\d+))")


@dataclass
class RunningServer:
    """A started `keygate` process and where it listens."""

    process: subprocess.Popen[str]
    base_url: str
    host: str
    port: int
    log: list[str]
    # The directory the server persists to; `None` for a memory-only server (or a binary
    # without persistence).
    data_dir: Path | None = None
    # Set by `kill`: the finalizer then expects the process to have died of SIGKILL.
    killed: bool = field(default=False)
    # On a NATS cluster: the second gateway serving the same keyspace.
    partner: RunningServer | None = None
    # On a NATS cluster: the keyspace's prefix there.
    nats_prefix: str | None = None
    # Notified whenever a line is added to `log`.
    logged: threading.Condition = field(default_factory=threading.Condition)

    def wait_for_log(self, pattern: str, *, after: int = 0, timeout: float = STARTUP_TIMEOUT) -> str:
        """The first line of the log from index `after` on that matches the regular expression
        `pattern`, waiting up to `timeout` seconds for it to be written."""
        expression = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.logged:
            while True:
                for line in self.log[after:]:
                    if expression.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail(f"keygate logged no line matching {pattern!r} within {timeout} s:\n{''.join(self.log[-30:])}")
                self.logged.wait(remaining)

    def kill(self) -> None:
        """Kills the process with SIGKILL (no chance to flush or clean up) and waits for it."""
        self.killed = True
        self.process.send_signal(signal.SIGKILL)
        code = self.process.wait(timeout=STOP_TIMEOUT)
        assert code == -signal.SIGKILL, f"keygate exited with {code}, not by SIGKILL:\n{''.join(self.log[-30:])}"

    def stop(self) -> None:
        """Stops the process with SIGTERM and checks that it exits cleanly, within STOP_TIMEOUT."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=STOP_TIMEOUT)
        assert code == 0, f"keygate exited with {code} after SIGTERM:\n{''.join(crash_report(self.log))}"


def crash_report(log: list[str]) -> list[str]:
    """What a server's log says of its end: from a crash's first line (the Swift runtime's
    "Fatal error", or its backtracer's "crashed"), its message and the crashing thread's frames,
    else the last lines."""
    first = next((index for index, line in enumerate(log) if "Fatal error" in line or "crashed" in line), None)
    return log[-30:] if first is None else log[first:first + 60]


@functools.cache
def nats_cluster():  # -> nats_cluster.NATSCluster
    """The tests' NATS cluster, started on first use and removed when the process exits."""
    from nats_cluster import NATSCluster

    cluster = NATSCluster.create()
    atexit.register(cluster.remove)
    cluster.start()
    return cluster


def nats_arguments(prefix: str) -> tuple[str, ...]:
    """The flags of a gateway on the tests' cluster, on the keyspace of `prefix`."""
    urls = [argument for url in nats_cluster().urls for argument in ("--nats-url", url)]
    return ("--engine", "nats", *urls, "--nats-prefix", prefix)


def wait_until_ready(server: RunningServer, timeout: float = STARTUP_TIMEOUT) -> None:
    """Polls `/readyz` until 200: a gateway on a cluster listens before its streams are set up."""
    # Over HTTPS the probe does not check the test's certificate: it asks only whether the
    # gateway is ready, on loopback; the tests check the certificate themselves.
    context = ssl._create_unverified_context() if server.base_url.startswith("https:") else None
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(f"{server.base_url}/readyz", timeout=2, context=context) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"keygate was not ready within {timeout} s:\n{''.join(server.log[-30:])}")
        time.sleep(0.02)


@functools.cache
def supports_persistence() -> bool:
    """Whether the binary knows `--data-dir` (read once from its `--help`)."""
    shown = subprocess.run(
        [str(BINARY), "--help"], capture_output=True, text=True, timeout=STARTUP_TIMEOUT, check=False
    )
    return "--data-dir" in shown.stdout


def fresh_data_dir(request: pytest.FixtureRequest) -> Path:
    """A data directory no server has used, under pytest's temporary folder; not created, so
    that the server's creating it is exercised too."""
    factory: pytest.TempPathFactory = request.getfixturevalue("tmp_path_factory")
    return factory.mktemp("keygate") / "data"


def start_server(
    request: pytest.FixtureRequest, public: Path, arguments: tuple[str, ...] = (),
    *, data_dir: Path | None = None, environment: dict[str, str] | None = None,
) -> RunningServer:
    """Starts the binary on port 0 serving `public`, with more `arguments`; a finalizer
    always stops it.

    The server persists to `data_dir` when given, else to a fresh directory, unless
    `arguments` hold `--memory-only` or `--data-dir`. `environment` adds variables to the
    server's (such as `LD_PRELOAD`).
    """
    if not BINARY.is_file():
        pytest.fail(f"No server binary at {BINARY}: run `swift build` or set KEYGATE_BINARY.")
    if ENGINE == "nats":
        return start_nats_pair(request, public, arguments, data_dir=data_dir, environment=environment)
    return launch(request, public, arguments, data_dir=data_dir, environment=environment)


def start_nats_pair(
    request: pytest.FixtureRequest, public: Path, arguments: tuple[str, ...],
    *, data_dir: Path | None, environment: dict[str, str] | None, prefix: str | None = None,
) -> RunningServer:
    """Two gateways on the tests' cluster sharing a fresh keyspace: the one returned, and its
    partner. A test that persists to a directory does not apply there."""
    if data_dir is not None or "--data-dir" in arguments or "--fsync" in arguments:
        pytest.skip("persistence to a data directory is the built-in engine's; on NATS the cluster keeps the data")
    prefix = prefix or f"T{uuid.uuid4().hex[:16]}"
    flags = (*arguments, *nats_arguments(prefix))
    server = launch(request, public, flags, environment=environment, persist=False)
    server.nats_prefix = prefix
    server.partner = launch(request, public, flags, environment=environment, persist=False)
    wait_until_ready(server)
    wait_until_ready(server.partner)
    return server


def launch(
    request: pytest.FixtureRequest, public: Path, arguments: tuple[str, ...] = (),
    *, data_dir: Path | None = None, environment: dict[str, str] | None = None, persist: bool = True,
) -> RunningServer:
    """Starts one process as `start_server` says; with `persist` false, without a data directory."""
    persistence: tuple[str, ...] = ()
    if "--memory-only" in arguments or "--data-dir" in arguments:
        if data_dir is not None:
            pytest.fail("start_server: pass data_dir or --data-dir/--memory-only, not both")
        if "--data-dir" in arguments:
            data_dir = Path(arguments[arguments.index("--data-dir") + 1])
    elif data_dir is not None:
        if not supports_persistence():
            pytest.fail(f"{BINARY} has no --data-dir: it cannot start on a given data directory")
        persistence = ("--data-dir", str(data_dir))
    elif persist and supports_persistence():
        data_dir = fresh_data_dir(request)
        persistence = ("--data-dir", str(data_dir))
    # The test owns its server's configuration: no KEYGATE_* variable of the caller leaks in.
    variables = {name: value for name, value in os.environ.items() if not name.startswith("KEYGATE_")}
    variables.update(environment or {})
    process = subprocess.Popen(
        [
            str(BINARY), "--port", "0", "--public", str(public),
            "--openapi", str(SPEC_FILE), "--log-level", "info", *persistence, *arguments,
        ],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, encoding="utf-8", errors="replace", env=variables,
    )
    log: list[str] = []
    logged = threading.Condition()
    lines: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:
        # Reads stderr to its end so the server never blocks on a full pipe.
        assert process.stderr is not None
        for line in process.stderr:
            with logged:
                log.append(line)
                logged.notify_all()
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=drain, name="keygate-stderr", daemon=True)
    reader.start()
    # Filled once the server listens; the finalizer reads whether a test killed it.
    started: list[RunningServer] = []

    def stop() -> None:
        if started and started[0].killed:
            process.wait()
            reader.join(timeout=STOP_TIMEOUT)
            return
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
        assert code == 0, f"keygate exited with {code} after SIGTERM:\n{''.join(crash_report(log))}"

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
            server = RunningServer(process, match.group(1), parsed.hostname, parsed.port, log, data_dir, logged=logged)
            started.append(server)
            return server
