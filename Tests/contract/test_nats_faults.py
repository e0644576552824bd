"""Faults of a NATS JetStream cluster under two gateways (`--engine nats`), with the figures.

Each test starts a three-node cluster of its own (it kills and stops its nodes), and two
gateways on it with every node's URL. Runs with `KEYGATE_TEST_ENGINE=nats`.

- `kill -9` of a node under a write load: every write is answered 2xx or a 503 problem with
  `Retry-After`, never anything else; every acknowledged write is found afterwards, on the
  other gateway; the error rate, the p99 during the fail-over and the time until writes are
  served again are printed.
- The whole cluster out of reach: 503 `/problems/store-unavailable` and `/readyz` 503, then,
  once the cluster is back, both gateways serve again by themselves.
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid

import pytest
import requests

from keygate_server import ENGINE, launch, wait_until_ready
from nats_cluster import NATSCluster
from test_contract import PUBLIC

pytestmark = pytest.mark.skipif(ENGINE != "nats", reason="the NATS engine's tests (KEYGATE_TEST_ENGINE=nats)")

LOAD_SECONDS = 8.0
KILL_AFTER = 2.5
WRITERS = 8


@pytest.fixture
def cluster() -> NATSCluster:
    cluster = NATSCluster.create()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


def gateways(request: pytest.FixtureRequest, cluster: NATSCluster):
    prefix = f"F{uuid.uuid4().hex[:12]}"
    urls = [argument for url in cluster.urls for argument in ("--nats-url", url)]
    flags = ("--engine", "nats", *urls, "--nats-prefix", prefix)
    first = launch(request, PUBLIC, flags, persist=False)
    second = launch(request, PUBLIC, flags, persist=False)
    wait_until_ready(first)
    wait_until_ready(second)
    return first, second, prefix


def value_stream_leader(cluster: NATSCluster, prefix: str):
    import asyncio
    import json

    import nats

    async def ask() -> str:
        connection = await nats.connect(cluster.urls)
        try:
            answer = await connection.request(f"$JS.API.STREAM.INFO.{prefix}_KV", b"", timeout=5)
            return json.loads(answer.data)["cluster"]["leader"]
        finally:
            await connection.close()

    leader = asyncio.run(ask())
    return next(node for node in cluster.nodes if node.name == leader)


def check_refusal(answer: requests.Response) -> None:
    """A refused request is a 503 problem with Retry-After, never another failure."""
    assert answer.status_code == 503, (answer.status_code, answer.text)
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.headers.get("Retry-After") == "1"
    assert answer.json()["type"] in ("/problems/store-unavailable", "/problems/service-unavailable")


def test_kill_9_of_a_node_under_writes_loses_no_acknowledged_write(
    request: pytest.FixtureRequest, cluster: NATSCluster
) -> None:
    first, second, prefix = gateways(request, cluster)
    victim = value_stream_leader(cluster, prefix)
    acknowledged: dict[str, bytes] = {}
    outcomes: list[tuple[float, float, bool]] = []  # (start, latency, succeeded)
    lock = threading.Lock()
    start = time.monotonic()
    stop_at = start + LOAD_SECONDS
    failures: list[str] = []

    def write(worker: int) -> None:
        session = requests.Session()
        gateway = (first, second)[worker % 2]
        index = 0
        while time.monotonic() < stop_at:
            key, body = f"w{worker}-{index}", f"value {worker} {index}".encode()
            index += 1
            sent = time.monotonic()
            try:
                answer = session.put(f"{gateway.base_url}/v1/cache/{key}", data=body, timeout=10)
            except requests.RequestException as error:
                failures.append(f"{key}: {error}")
                continue
            latency = time.monotonic() - sent
            if answer.status_code in (201, 204):
                with lock:
                    acknowledged[key] = body
                    outcomes.append((sent - start, latency, True))
            else:
                try:
                    check_refusal(answer)
                except AssertionError as error:
                    failures.append(f"{key}: {error}")
                with lock:
                    outcomes.append((sent - start, latency, False))

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(WRITERS)]
    for thread in threads:
        thread.start()
    time.sleep(KILL_AFTER)
    killed_at = time.monotonic() - start
    cluster.kill(victim)
    for thread in threads:
        thread.join()
    assert not failures, failures[:5]

    errors = [outcome for outcome in outcomes if not outcome[2]]
    during = [latency for sent, latency, _ in outcomes if killed_at <= sent <= killed_at + 3]
    after_kill = sorted(outcomes)
    last_error = max((sent + latency for sent, latency, ok in after_kill if not ok), default=killed_at)
    slowest = max((sent + latency for sent, latency, _ in after_kill if sent <= killed_at + 0.001), default=killed_at)
    served_again = max(last_error, min(slowest, killed_at + 10)) - killed_at
    p99 = statistics.quantiles(during, n=100)[98] if len(during) >= 2 else float("nan")

    # Every acknowledged write is there, read through the other gateway and through the first.
    session = requests.Session()
    missing = []
    for number, (key, body) in enumerate(sorted(acknowledged.items())):
        gateway = (second, first)[number % 2]
        deadline = time.monotonic() + 10
        # A 503 says nothing of the key: asked again (the cluster may still be electing).
        while (answer := session.get(f"{gateway.base_url}/v1/cache/{key}", timeout=10)).status_code == 503:
            assert time.monotonic() < deadline, f"{key}: 503 for 10 s"
            time.sleep(0.1)
        if answer.status_code != 200 or answer.content != body:
            missing.append((key, answer.status_code))
    found = len(acknowledged) - len(missing)
    print(
        f"\nkill -9 of {victim.name} (leader of the value stream) at {killed_at:.2f} s of {LOAD_SECONDS:.0f} s, "
        f"{WRITERS} writers on 2 gateways: {len(outcomes)} writes, acknowledged {len(acknowledged)}, found {found}; "
        f"errors (503) {len(errors)} ({100 * len(errors) / max(len(outcomes), 1):.2f} %); "
        f"p99 in the 3 s after the kill {1000 * p99:.1f} ms; served again {1000 * served_again:.0f} ms after the kill")
    assert not missing, f"acknowledged writes lost: {missing[:10]}"
    assert found == len(acknowledged)
    # The node comes back and catches up; the keyspace goes on.
    cluster.start_node(victim)
    cluster.wait_ready()
    assert session.put(f"{first.base_url}/v1/cache/after", data=b"x", timeout=10).status_code == 201


def test_an_unreachable_cluster_is_503_then_served_again_by_itself(
    request: pytest.FixtureRequest, cluster: NATSCluster
) -> None:
    first, second, _ = gateways(request, cluster)
    session = requests.Session()
    # Ready means the gateways' streams answered; a stream just created on a cluster whose node
    # was killed and restarted by the test before may still be electing its leader: its first
    # writes are then 503s with Retry-After, as they should be.
    deadline = time.monotonic() + 10
    while (written := session.put(f"{first.base_url}/v1/cache/before", data=b"kept", timeout=10)).status_code == 503:
        check_refusal(written)
        assert time.monotonic() < deadline, "the new keyspace took no write within 10 s"
        time.sleep(0.1)
    assert written.status_code == 201
    cluster.stop()
    stopped = time.monotonic()
    for gateway in (first, second):
        deadline = time.monotonic() + 10
        while (ready := session.get(f"{gateway.base_url}/readyz", timeout=10)).status_code != 503:
            assert time.monotonic() < deadline, "/readyz stayed 200 with the cluster gone"
            time.sleep(0.05)
        check_refusal(ready)
        assert ready.json()["type"] == "/problems/store-unavailable"
        for method, path in (("GET", "/v1/cache/before"), ("PUT", "/v1/cache/x"), ("POST", "/v1/queues/q"),
                             ("GET", "/v1/keys")):
            check_refusal(session.request(method, f"{gateway.base_url}{path}", data=b"x", timeout=10))
    refused_after = time.monotonic() - stopped
    cluster.start()
    restarted = time.monotonic()
    recovered = {}
    for gateway in (first, second):
        deadline = time.monotonic() + 30
        while session.get(f"{gateway.base_url}/readyz", timeout=10).status_code != 200:
            assert time.monotonic() < deadline, "the gateway did not come back within 30 s of the cluster"
            time.sleep(0.05)
        recovered[gateway.port] = time.monotonic() - restarted
        answer = session.get(f"{gateway.base_url}/v1/cache/before", timeout=10)
        assert (answer.status_code, answer.content) == (200, b"kept")
    assert session.put(f"{second.base_url}/v1/cache/after", data=b"x", timeout=10).status_code == 201
    print(f"\ncluster stopped: both gateways refused (503, /readyz 503) within {1000 * refused_after:.0f} ms; "
          f"after the cluster's restart, ready again in "
          f"{', '.join(f'{1000 * seconds:.0f} ms' for seconds in recovered.values())}")
