"""Two gateways on one keyspace on a NATS JetStream cluster (`--engine nats`): what one does,
the other sees.

Runs with `KEYGATE_TEST_ENGINE=nats` (the second pass of `make test`), on the three-node
cluster the tests start (`nats_cluster.py`); each test has a keyspace of its own, served by a
gateway and its partner (`keygate_server.start_server`). Also checks, with a client of the
cluster itself (`nats-py`), how the keyspace is laid out on it: TTLs in storage rounded up to
whole seconds while reads hide a key from its deadline to the millisecond.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import statistics
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from keygate_server import BINARY, ENGINE, RunningServer, nats_cluster, start_server
from test_contract import PUBLIC, REQUEST_TIMEOUT, Client, metric, open_events, prometheus_samples

pytestmark = pytest.mark.skipif(ENGINE != "nats", reason="the NATS engine's tests (KEYGATE_TEST_ENGINE=nats)")


def pair(request: pytest.FixtureRequest, *arguments: str) -> tuple[Client, Client]:
    """Clients of two gateways serving one fresh keyspace."""
    server = start_server(request, PUBLIC, arguments)
    assert server.partner is not None
    first, second = Client(server), Client(server.partner)
    request.addfinalizer(first.session.close)
    request.addfinalizer(second.session.close)
    return first, second


def put(api: Client, key: str, body: bytes = b"v", query: dict[str, str] | None = None,
        headers: dict[str, str] | None = None, status: int | tuple[int, ...] = (201, 204)):
    return api.call("PUT", "/v1/cache/{key}", path={"key": key}, query=query, body=body, headers=headers,
                    status=status)


def get(api: Client, key: str, status: int = 200):
    return api.call("GET", "/v1/cache/{key}", path={"key": key}, status=status)


def test_a_write_on_one_gateway_is_read_on_the_other(request: pytest.FixtureRequest) -> None:
    a, b = pair(request)
    tag = put(a, "k", b"one", headers={"Content-Type": "text/plain"}, status=201).headers["ETag"]
    read = get(b, "k")
    assert (read.body, read.headers["ETag"], read.headers["Content-Type"]) == (b"one", tag, "text/plain")
    # A conditional write on B with A's tag, then A's old tag no longer holds on A.
    newer = put(b, "k", b"two", headers={"If-Match": tag}, status=204).headers["ETag"]
    put(a, "k", b"three", headers={"If-Match": tag}, status=412)
    put(a, "k", headers={"If-None-Match": "*"}, status=412)
    assert get(a, "k").body == b"two" and newer != tag
    # Listings on either gateway see the other's writes at once.
    put(a, "list/1")
    put(b, "list/2")
    for api in (a, b):
        rows = api.call("GET", "/v1/keys", query={"prefix": "list/"}, status=200).json()["keys"]
        assert [row["key"] for row in rows] == ["list/1", "list/2"]
    a.call("DELETE", "/v1/cache/{key}", path={"key": "k"}, status=204)
    get(b, "k", status=404)
    b.call("DELETE", "/v1/cache/{key}", path={"key": "k"}, status=404)
    # Types hold across gateways too.
    a.call("POST", "/v1/queues/{name}", path={"name": "q"}, body=b"m", status=201)
    put(b, "q", status=409)
    get(b, "q", status=409)


def test_a_push_on_one_gateway_wakes_a_pop_parked_on_the_other(request: pytest.FixtureRequest) -> None:
    a, b = pair(request)
    latencies = []
    with ThreadPoolExecutor(max_workers=1) as pool:
        for round_number in range(5):
            parked = pool.submit(
                lambda: requests.post(f"{b.server.base_url}/v1/queues/jobs/pop", params={"wait": "10"},
                                      timeout=REQUEST_TIMEOUT + 10))
            deadline = time.monotonic() + 5
            while b.call("GET", "/v1/queues/{name}", path={"name": "jobs"}, status=200).json()["consumers"] < 1:
                assert time.monotonic() < deadline, "the pop did not park on B"
                time.sleep(0.01)
            sent = time.monotonic()
            body = f"job {round_number}".encode()
            a.call("POST", "/v1/queues/{name}", path={"name": "jobs"}, body=body, status=201)
            answer = parked.result(timeout=REQUEST_TIMEOUT)
            latencies.append(time.monotonic() - sent)
            assert (answer.status_code, answer.content, answer.headers["Queue"]) == (200, body, "jobs")
    print(f"\npush on A -> pop parked on B: {[round(1000 * seconds, 1) for seconds in latencies]} ms")
    assert a.call("GET", "/v1/queues/{name}", path={"name": "jobs"}, status=200).json()["length"] == 0


def test_waiting_pops_on_both_gateways_are_served_in_the_order_they_came(request: pytest.FixtureRequest) -> None:
    a, b = pair(request)
    order = [b, a, b, a]
    with ThreadPoolExecutor(max_workers=len(order)) as pool:
        parked = []
        for index, api in enumerate(order):
            parked.append(pool.submit(
                lambda api=api: requests.post(f"{api.server.base_url}/v1/queues/fair/pop", params={"wait": "10"},
                                              timeout=REQUEST_TIMEOUT + 10)))
            deadline = time.monotonic() + 5
            expected = sum(1 for other in order[:index + 1] if other is api)
            while api.call("GET", "/v1/queues/{name}", path={"name": "fair"}, status=200).json()["consumers"] < expected:
                assert time.monotonic() < deadline
                time.sleep(0.01)
        for index in range(len(order)):
            a.call("POST", "/v1/queues/{name}", path={"name": "fair"}, body=f"{index}".encode(), status=201)
            # One at a time: the next push goes out once this one reached its pop.
            answer = parked[index].result(timeout=REQUEST_TIMEOUT)
            assert answer.content == f"{index}".encode(), "first come, first served across gateways"


def test_expiry_is_announced_on_time_by_both_gateways_once(request: pytest.FixtureRequest) -> None:
    a, b = pair(request)
    with open_events(a.server) as on_a, open_events(b.server) as on_b:
        lateness = {}
        told_ahead: dict[tuple[str, int], bool] = {}
        for round_number in range(5):
            key = f"short-{round_number}"
            put(a, key, query={"ttl": "0.3"}, status=201)
            set_a, set_b = on_a.next_event(), on_b.next_event()
            assert (set_a.type, set_a.key) == ("set", key) and set_b.id == set_a.id
            deadline = set_a.data["time"] + 300
            expired_a, expired_b = on_a.next_event(), on_b.next_event()
            arrived = time.time() * 1000
            assert (expired_a.type, expired_a.key, expired_b.key) == ("expired", key, key)
            assert expired_a.data["time"] == expired_b.data["time"] == deadline
            # Told at the deadline by each gateway, ahead of the event stream (the id names it),
            # unless the stream's copy came back first: then the copy is told, once.
            told_ahead.update({("a", round_number): "~" in expired_a.token, ("b", round_number): "~" in expired_b.token})
            lateness[key] = arrived - deadline
            # Hidden from the deadline on both, although storage keeps it up to a second more.
            get(a, key, status=404)
            get(b, key, status=404)
        # Past the second B gives A before it stands in: no second `expired`, the next event on
        # both is the sentinel.
        time.sleep(1.2)
        put(b, "sentinel", status=201)
        assert on_a.next_event().key == "sentinel" and on_b.next_event().key == "sentinel"
    print(f"\nexpired events after the deadline: {[round(late, 1) for late in lateness.values()]} ms; "
          f"told ahead: {sorted(told for told, ahead in told_ahead.items() if ahead)}")
    assert any(ahead for (gateway, _), ahead in told_ahead.items() if gateway == "a"), told_ahead
    assert max(lateness.values()) < 100, lateness
    for api in (a, b):
        samples = prometheus_samples(api.call("GET", "/metrics", status=200).body.decode())
        assert metric(samples, "keygate_keys_expired_total") == 5, "each gateway counts every expiry"
        assert metric(samples, "keygate_nats_events_resent_total", reason="stand_in") == 0, "A was there"


def test_an_expiry_told_ahead_is_not_told_again_where_its_subscriber_resumes(
        request: pytest.FixtureRequest) -> None:
    a, b = pair(request)
    wanted = {"type": "set,expired"}
    with open_events(a.server, wanted) as on_a:
        # Told ahead unless the stream's copy came back first: a few tries.
        for attempt in range(5):
            put(a, "first", query={"ttl": "0.3"}, status=201)
            assert on_a.next_event().key == "first"
            told = on_a.next_event()
            assert (told.type, told.key) == ("expired", "first"), told
            if told.token.startswith(f"{told.id}~"):
                break
        else:
            pytest.fail(f"no expiry was told ahead of the stream in 5 tries: {told}")
    # The cluster's copy of that expiry is in its event stream after the id the token starts
    # with; the token names it, so that a subscriber resuming with it is not told twice.
    put(a, "second", status=201)
    with open_events(b.server, wanted, headers={"Last-Event-ID": told.token}) as on_b:
        after = on_b.next_event()
        assert (after.type, after.key, after.token) == ("set", "second", str(after.id)), "no second `expired`"
    with open_events(a.server, {**wanted, "last_event_id": told.token}) as again_on_a:
        assert again_on_a.next_event().key == "second"
    # Resuming with the number alone, the copy is told: it is in the stream.
    with open_events(b.server, wanted, headers={"Last-Event-ID": str(told.id)}) as on_b:
        copy = on_b.next_event()
        assert (copy.type, copy.key, copy.data["time"]) == ("expired", "first", told.data["time"])
        assert copy.token == str(copy.id) and copy.id > told.id
        assert on_b.next_event().key == "second"


def test_a_key_whose_writer_died_is_announced_by_the_other_gateway_once(request: pytest.FixtureRequest) -> None:
    # The gateway that wrote a key announces its expiry; the others stand in for it a second
    # after the deadline when its event has not come.
    a, b = pair(request)
    with open_events(b.server) as on_b:
        put(a, "orphan", query={"ttl": "0.5"}, status=201)
        written = on_b.next_event()
        assert (written.type, written.key) == ("set", "orphan")
        a.server.kill()
        expired = on_b.next_event()
        arrived = time.time() * 1000
        deadline = written.data["time"] + 500
        assert (expired.type, expired.key, expired.data["time"]) == ("expired", "orphan", deadline)
        assert arrived - deadline < 250, f"told {arrived - deadline:.0f} ms after the deadline"
        get(b, "orphan", status=404)
        # The event stream's record of it comes from B a second later, and is not told again.
        waited_until = time.monotonic() + 5
        while True:
            samples = prometheus_samples(b.call("GET", "/metrics", status=200).body.decode())
            if metric(samples, "keygate_nats_events_resent_total", reason="stand_in") == 1:
                break
            assert time.monotonic() < waited_until, "B stands in for A a second after the deadline"
            time.sleep(0.05)
        put(b, "sentinel", status=201)
        assert on_b.next_event().key == "sentinel", "one expired event, not one per gateway"
    with open_events(b.server, {"last_event_id": str(written.id)}) as replay:
        stored = replay.next_event()
        assert (stored.type, stored.key, stored.data["time"]) == ("expired", "orphan", deadline), "B stored it"


def test_a_subscriber_resumes_on_the_other_gateway_after_one_dies(request: pytest.FixtureRequest) -> None:
    a, b = pair(request)
    for index in range(20):
        put(a, f"before-{index}", status=201)
    with open_events(a.server, {"last_event_id": "0"}) as stream:
        seen = [stream.next_event() for _ in range(10)]
    last = seen[-1].id
    assert [event.id for event in seen] == list(range(1, 11))
    a.server.kill()
    for index in range(5):
        put(b, f"after-{index}", status=201)
    with open_events(b.server, headers={"Last-Event-ID": str(last)}) as stream:
        rest = [stream.next_event() for _ in range(15)]
        assert [event.id for event in rest] == list(range(11, 26)), "every missed event, once, in order"
        assert [event.key for event in rest] == [*(f"before-{index}" for index in range(10, 20)),
                                                 *(f"after-{index}" for index in range(5))]
        put(b, "live", status=201)
        assert (stream.next_event().id, stream.blocks[-1].count("live")) == (26, 1)


def stored_record(prefix: str, key: str) -> dict:
    """The key's last message in the value stream, read from the cluster directly."""
    import nats

    async def read() -> dict:
        connection = await nats.connect(nats_cluster().urls)
        try:
            token = base64.urlsafe_b64encode(key.encode()).decode().rstrip("=")
            answer = await connection.request(
                f"$JS.API.STREAM.MSG.GET.{prefix}_KV", json.dumps({"last_by_subj": f"{prefix}.kv.{token}"}).encode(),
                timeout=5)
            return json.loads(answer.data)
        finally:
            await connection.close()

    return asyncio.run(read())


def test_requests_wait_on_64_threads_and_streams_are_served_by_a_loop_per_core(request: pytest.FixtureRequest) -> None:
    # Operations hold an HTTP thread for their round trips to the cluster, so a gateway runs
    # 64; event streams and WebSockets stay on one loop per core, where a delivery to many
    # streams costs least.
    a, _ = pair(request)
    cores = os.sysconf("SC_NPROCESSORS_ONLN")
    listening = a.server.wait_for_log(r"Keygate listening")
    assert "threads=64" in listening and f"loops={cores}" in listening, listening
    names = Counter((task / "comm").read_text().strip()
                    for task in Path(f"/proc/{a.server.process.pid}/task").iterdir())
    assert (names["MHD-worker"], names["keygate-upgrade"]) == (64, cores), names


def test_ttls_are_whole_seconds_in_storage_and_milliseconds_on_the_wire(request: pytest.FixtureRequest) -> None:
    a, _ = pair(request)
    put(a, "volatile", query={"ttl": "1.2"}, status=201)
    written = time.monotonic()
    record = stored_record(a.server.nats_prefix, "volatile")["message"]
    headers = base64.b64decode(record["hdrs"]).decode()
    assert "Nats-TTL: 2s" in headers, f"1.2 s is stored as 2 s (rounded up): {headers!r}"
    remaining = a.call("GET", "/v1/cache/{key}/ttl", path={"key": "volatile"}, status=200).json()["ttl"]
    assert 1.0 < remaining <= 1.2 and round(remaining, 3) == remaining
    while time.monotonic() - written < 1.3:
        time.sleep(0.02)
    get(a, "volatile", status=404)
    # Past its deadline the key is hidden, though the cluster has not dropped it yet.
    assert "message" in stored_record(a.server.nats_prefix, "volatile"), "storage keeps it until its 2 s"
    deadline = time.monotonic() + 5
    while "message" in stored_record(a.server.nats_prefix, "volatile"):
        assert time.monotonic() < deadline, "the cluster never dropped the key"
        time.sleep(0.1)


def test_a_delayed_message_appears_on_time_on_the_other_gateway_and_once_when_its_pusher_died(
    request: pytest.FixtureRequest,
) -> None:
    a, b = pair(request)
    pushed = time.monotonic()
    a.call("POST", "/v1/queues/{name}", path={"name": "later"}, query={"delay": "0.5"}, body=b"first", status=201)
    state = b.call("GET", "/v1/queues/{name}", path={"name": "later"}, status=200).json()
    assert (state["length"], state["visible"], state["delayed"]) == (1, 0, 1)
    b.call("POST", "/v1/queues/{name}/pop", path={"name": "later"}, status=204)
    got = b.call("POST", "/v1/queues/{name}/pop", path={"name": "later"}, query={"wait": "5"}, status=200)
    elapsed = time.monotonic() - pushed
    assert got.body == b"first" and 0.5 - 0.001 <= elapsed < 0.75, f"appeared after {elapsed:.3f} s"
    # Its pusher gone before it is due: the other gateway appends it, a second late, once.
    a.call("POST", "/v1/queues/{name}", path={"name": "later"}, query={"delay": "0.3"}, body=b"orphan", status=201)
    a.server.kill()
    got = b.call("POST", "/v1/queues/{name}/pop", path={"name": "later"}, query={"wait": "5"}, status=200)
    assert got.body == b"orphan"
    b.call("POST", "/v1/queues/{name}/pop", path={"name": "later"}, query={"wait": "1.5"}, status=204)
    assert b.call("GET", "/v1/queues/{name}", path={"name": "later"}, status=200).json()["length"] == 0


def test_a_move_on_one_gateway_wakes_a_pop_parked_on_the_other(request: pytest.FixtureRequest) -> None:
    a, b = pair(request)
    with ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(b.call, "POST", "/v1/queues/{name}/pop", path={"name": "done"},
                              query={"wait": "10"}, status=200)
        deadline = time.monotonic() + 5
        while b.call("GET", "/v1/queues/{name}", path={"name": "done"}, status=200).json()["consumers"] != 1:
            assert time.monotonic() < deadline, "the pop never parked"
            time.sleep(0.01)
        a.call("POST", "/v1/queues/{name}", path={"name": "todo"}, body=b"task", status=201)
        moved = a.call("POST", "/v1/queues/{name}/pop", path={"name": "todo"}, query={"to": "done"}, status=200)
        assert moved.body == b"task"
        assert waiting.result(timeout=REQUEST_TIMEOUT).body == b"task"
    assert a.call("GET", "/v1/queues/{name}", path={"name": "todo"}, status=200).json()["length"] == 0


def receive_on(client: Client, name: str, query: dict[str, str] | None = None) -> dict[str, object]:
    """The one message a receive gets."""
    messages = client.call("POST", "/v1/queues/{name}/receive", path={"name": name}, query=query,
                           status=200).json()["messages"]
    assert len(messages) == 1, messages
    message: dict[str, object] = messages[0]
    return message


def lease_path(name: str, receipt: object) -> dict[str, str]:
    return {"name": name, "receipt": str(receipt)}


def test_a_lease_given_on_one_gateway_is_acknowledged_on_the_other(request: pytest.FixtureRequest) -> None:
    a, b = pair(request)
    a.call("POST", "/v1/queues/{name}", path={"name": "jobs"}, body=b"one", status=201)
    leased = receive_on(a, "jobs", {"visibility": "30"})
    state = b.call("GET", "/v1/queues/{name}", path={"name": "jobs"}, status=200).json()
    assert (state["length"], state["visible"], state["inFlight"]) == (1, 0, 1)
    b.call("POST", "/v1/queues/{name}/receive", path={"name": "jobs"}, status=204)
    b.call("DELETE", "/v1/queues/{name}/leases/{receipt}", path=lease_path("jobs", leased["receipt"]), status=204)
    # Once acknowledged, on either gateway, its receipt is over on both: the gateways hear of
    # each other's leases a NATS message later, within milliseconds.
    time.sleep(0.1)
    for gateway in (a, b):
        gateway.call("DELETE", "/v1/queues/{name}/leases/{receipt}", path=lease_path("jobs", leased["receipt"]),
                     status=410)
    assert a.call("GET", "/v1/queues/{name}", path={"name": "jobs"}, status=200).json()["length"] == 0


def test_a_receipt_whose_lease_ended_acknowledges_nothing_on_either_gateway(request: pytest.FixtureRequest) -> None:
    """JetStream acknowledges by message: without the gateways' lease book, the first
    worker's late acknowledgement would remove the message from under the second."""
    a, b = pair(request)
    a.call("POST", "/v1/queues/{name}", path={"name": "slow"}, body=b"work", status=201)
    first = receive_on(a, "slow", {"visibility": "0.3"})
    second = receive_on(b, "slow", {"wait": "5", "visibility": "30"})
    assert (second["id"], second["attempts"]) == (first["id"], 2)
    for gateway in (a, b):
        gateway.call("DELETE", "/v1/queues/{name}/leases/{receipt}", path=lease_path("slow", first["receipt"]),
                     status=410)
        gateway.call("PUT", "/v1/queues/{name}/leases/{receipt}", path=lease_path("slow", first["receipt"]),
                     body=b'{"visibility": 60}', status=410)
    state = a.call("GET", "/v1/queues/{name}", path={"name": "slow"}, status=200).json()
    assert (state["length"], state["inFlight"]) == (1, 1), "the second worker's lease runs"
    # The second worker extends on one gateway and acknowledges on the other.
    a.call("PUT", "/v1/queues/{name}/leases/{receipt}", path=lease_path("slow", second["receipt"]),
           body=b'{"visibility": 60}', status=200)
    b.call("DELETE", "/v1/queues/{name}/leases/{receipt}", path=lease_path("slow", second["receipt"]), status=204)


def test_a_dead_letter_policy_set_on_one_gateway_holds_on_the_other(request: pytest.FixtureRequest) -> None:
    a, b = pair(request)
    policy = {"visibility": 0.3, "maxReceives": 1, "deadLetter": "poison-dead"}
    a.call("PUT", "/v1/queues/{name}/policy", path={"name": "poison"}, body=json.dumps(policy).encode(), status=200)
    assert b.call("GET", "/v1/queues/{name}/policy", path={"name": "poison"}, status=200).json() == policy
    b.call("POST", "/v1/queues/{name}", path={"name": "poison"}, body=b"bad", status=201)
    leased = receive_on(b, "poison")
    assert leased["visibleUntil"] - leased["enqueuedAt"] < 2000  # type: ignore[operator]
    # Its one lease ends unacknowledged: moved to the dead-letter queue, its id and attempts kept.
    dead = receive_on(a, "poison-dead", {"wait": "5", "visibility": "30"})
    assert (dead["id"], dead["text"], dead["attempts"]) == (leased["id"], "bad", 2)
    assert a.call("GET", "/v1/queues/{name}", path={"name": "poison"}, status=200).json()["length"] == 0
    b.call("DELETE", "/v1/queues/{name}/policy", path={"name": "poison"}, status=204)
    assert a.call("GET", "/v1/queues/{name}/policy", path={"name": "poison"}, status=200).json() == {
        "visibility": 30, "maxReceives": None, "deadLetter": None}


@pytest.mark.parametrize("flag", [("--max-memory", "64MiB"), ("--eviction-policy", "allkeys-lru")])
def test_a_memory_limit_is_refused_on_a_cluster(flag: tuple[str, str]) -> None:
    started = subprocess.run([str(BINARY), "--engine", "nats", "--port", "0", *flag],
                             capture_output=True, text=True, timeout=30, check=False)
    assert started.returncode != 0
    assert f"{flag[0]} is for the built-in engine" in started.stderr, started.stderr
