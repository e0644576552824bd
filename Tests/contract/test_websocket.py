"""The WebSocket endpoint `/v1/ws`, end to end against the real `keygate` server.

Requests and replies go through the Python `websockets` client, as a web front end's would;
protocol violations go through a raw socket (`RawWebSocket`), which can send what no proper
client sends. Every read has a deadline. Tests that need other limits, or stop the server,
start a server of their own.

Run from the repository root after `swift build`:

    python3 -m pytest -q Tests/contract/test_websocket.py
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import resource
import signal
import socket
import struct
import time
import uuid
from typing import Any, Iterator

import pytest
import requests
from websockets.asyncio.client import connect as connect_async
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from keygate_server import REPO, STOP_TIMEOUT, RunningServer, builtin_only, start_server
from openapi_document import schema_errors

PUBLIC = REPO / "public"
# The longest a test waits for a reply or an event it expects.
REPLY_TIMEOUT = 5.0
# The longest a test waits to be sure that nothing more comes.
QUIET_TIMEOUT = 0.3


def unique(name: str) -> str:
    """A key no other test uses."""
    return f"{name}-{uuid.uuid4().hex[:10]}"


class Session:
    """A `websockets` client speaking Keygate's JSON protocol."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.next_id = 0

    def send(self, **request: Any) -> int:
        """Sends a request with a fresh `id`; returns the id."""
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, **request}))
        return self.next_id

    def receive(self, timeout: float = REPLY_TIMEOUT) -> dict[str, Any]:
        """The next message, which must be one that openapi.yaml documents."""
        message = self.socket.recv(timeout=timeout)
        assert isinstance(message, str), f"a binary message: {message!r}"
        decoded = json.loads(message)
        schema = "WebSocketSubscriptionMessage" if "subscription" in decoded and "ok" not in decoded \
            else "WebSocketReply"
        errors = schema_errors(f"/components/schemas/{schema}", decoded)
        assert not errors, f"{message} does not match {schema}: {errors}"
        return decoded

    def request(self, **request: Any) -> dict[str, Any]:
        """Sends a request and returns its reply, which must be the next message."""
        id = self.send(**request)
        reply = self.receive()
        assert reply.get("id") == id, f"expected the reply to {id}: {reply}"
        return reply

    def ok(self, **request: Any) -> dict[str, Any]:
        reply = self.request(**request)
        assert reply["ok"] is True, reply
        return reply

    def error(self, status: int, slug: str, **request: Any) -> dict[str, Any]:
        """Sends a request that must fail with the problem `slug`."""
        reply = self.request(**request)
        assert reply["ok"] is False, reply
        problem = reply["error"]
        assert problem["status"] == status and problem["type"] == f"/problems/{slug}", reply
        assert problem["title"] and problem["detail"], reply
        return problem

    def assert_quiet(self) -> None:
        """Nothing more arrives for a short while."""
        with pytest.raises(TimeoutError):
            self.socket.recv(timeout=QUIET_TIMEOUT)



@contextlib.contextmanager
def open_session(server: RunningServer) -> Iterator[Session]:
    """A session on a new socket, closed however the block ends."""
    with connect(f"ws://{server.host}:{server.port}/v1/ws", open_timeout=REPLY_TIMEOUT, max_size=None) as socket:
        yield Session(socket)


class RawWebSocket:
    """A WebSocket client over a bare socket, for frames no proper client sends."""

    def __init__(self, server: RunningServer) -> None:
        self.socket = socket.create_connection((server.host, server.port), timeout=REPLY_TIMEOUT)
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            f"GET /v1/ws HTTP/1.1\r\nHost: {server.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        self.buffer = b""
        head = self.read_until(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head

    def read_until(self, delimiter: bytes) -> bytes:
        while delimiter not in self.buffer:
            chunk = self.socket.recv(65536)
            assert chunk, f"closed before {delimiter!r}: {self.buffer!r}"
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(delimiter)
        return head

    def read_exactly(self, count: int) -> bytes | None:
        """`count` bytes, or None if the server closed first."""
        while len(self.buffer) < count:
            chunk = self.socket.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    @staticmethod
    def frame(opcode: int, payload: bytes, *, final: bool = True, masked: bool = True, rsv: int = 0) -> bytes:
        head = bytes([(0x80 if final else 0) | rsv << 4 | opcode])
        mask_bit = 0x80 if masked else 0
        if len(payload) < 126:
            head += bytes([mask_bit | len(payload)])
        elif len(payload) < 65536:
            head += bytes([mask_bit | 126]) + struct.pack("!H", len(payload))
        else:
            head += bytes([mask_bit | 127]) + struct.pack("!Q", len(payload))
        if not masked:
            return head + payload
        mask = os.urandom(4)
        return head + mask + bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))

    def send_frame(self, opcode: int, payload: bytes = b"", **options: Any) -> None:
        self.socket.sendall(self.frame(opcode, payload, **options))

    def next_frame(self) -> tuple[int, bytes] | None:
        """The next frame from the server, which must be unmasked; None once it closed."""
        head = self.read_exactly(2)
        if head is None:
            return None
        assert head[1] & 0x80 == 0, "the server masked a frame"
        length = head[1] & 0x7F
        if length == 126:
            length = struct.unpack("!H", self.read_exactly(2) or b"\0\0")[0]
        elif length == 127:
            length = struct.unpack("!Q", self.read_exactly(8) or b"\0" * 8)[0]
        payload = self.read_exactly(length)
        assert payload is not None, "closed inside a frame"
        return head[0] & 0x0F, payload

    def close_code(self) -> int:
        """Reads past everything else to the server's close frame; returns its code, after
        checking that the server then closes the connection."""
        while (frame := self.next_frame()) is not None:
            opcode, payload = frame
            if opcode == 0x8:
                assert len(payload) >= 2, "a close frame without a code"
                code = struct.unpack("!H", payload[:2])[0]
                payload[2:].decode("utf-8")
                assert self.next_frame() is None, "frames after the close frame"
                return code
        raise AssertionError("the server closed without a close frame")

    def close(self) -> None:
        self.socket.close()


# --- Fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> RunningServer:
    return start_server(request, PUBLIC)


@pytest.fixture
def session(server: RunningServer) -> Iterator[Session]:
    with open_session(server) as client:
        yield client


def rest(server: RunningServer, method: str, path: str, **options: Any) -> requests.Response:
    return requests.request(method, server.base_url + path, timeout=REPLY_TIMEOUT, **options)


# --- The cache --------------------------------------------------------------------------


def test_value_lifecycle_over_one_socket(server: RunningServer, session: Session) -> None:
    key = unique("ws-value")
    created = session.ok(op="set", key=key, value="hello")
    assert created["created"] is True and created["etag"].startswith('"')
    replaced = session.ok(op="set", key=key, value="héllo", contentType="text/x-greeting")
    assert replaced["created"] is False and replaced["etag"] != created["etag"]
    read = session.ok(op="get", key=key)
    assert (read["value"], read["contentType"], read["etag"]) == ("héllo", "text/x-greeting", replaced["etag"])
    assert "valueBase64" not in read
    # The same keyspace as the REST API.
    answer = rest(server, "GET", f"/v1/cache/{key}")
    assert (answer.content, answer.headers["Content-Type"]) == ("héllo".encode(), "text/x-greeting")
    assert session.ok(op="ttl", key=key)["ttl"] is None
    session.ok(op="del", key=key)
    session.error(404, "not-found", op="get", key=key)
    session.error(404, "not-found", op="del", key=key)
    session.error(404, "not-found", op="ttl", key=key)


def test_binary_values_travel_as_base64(server: RunningServer, session: Session) -> None:
    key = unique("ws-bytes")
    data = bytes(range(256))
    session.ok(op="set", key=key, valueBase64=base64.b64encode(data).decode())
    read = session.ok(op="get", key=key)
    assert base64.b64decode(read["valueBase64"]) == data and "value" not in read
    assert read["contentType"] == "application/octet-stream"
    # A value written over REST that is not UTF-8 comes back as base64 too.
    rest(server, "PUT", f"/v1/cache/{key}", data=b"\xff\xfe", headers={"Content-Type": "image/x-raw"})
    read = session.ok(op="get", key=key)
    assert (read["valueBase64"], read["contentType"]) == ("//4=", "image/x-raw")


def test_time_to_live_and_expiry(session: Session) -> None:
    key = unique("ws-ttl")
    session.ok(op="set", key=key, value="v", ttl=30)
    assert 29 < session.ok(op="ttl", key=key)["ttl"] <= 30
    session.ok(op="expire", key=key, ttl=None)
    assert session.ok(op="ttl", key=key)["ttl"] is None
    session.ok(op="expire", key=key, ttl=0.2)
    deadline = time.monotonic() + REPLY_TIMEOUT
    while session.request(op="get", key=key)["ok"]:
        assert time.monotonic() < deadline, "the key did not expire"
        time.sleep(0.05)
    session.error(404, "not-found", op="expire", key=key, ttl=5)
    session.error(400, "invalid-ttl", op="set", key=key, value="v", ttl=0)


def test_conditional_writes(session: Session) -> None:
    key = unique("ws-condition")
    session.error(412, "precondition-failed", op="set", key=key, value="a", ifPresent=True)
    etag = session.ok(op="set", key=key, value="a", ifAbsent=True)["etag"]
    session.error(412, "precondition-failed", op="set", key=key, value="b", ifAbsent=True)
    session.error(412, "precondition-failed", op="set", key=key, value="b", ifMatch='"ffff"')
    session.ok(op="set", key=key, value="b", ifMatch=etag)
    session.error(412, "precondition-failed", op="del", key=key, ifMatch=etag)
    assert session.ok(op="get", key=key)["value"] == "b"


@pytest.mark.parametrize(
    "request_, slug",
    [
        ({"op": "get"}, "bad-request"),
        ({"op": "get", "key": ""}, "invalid-key"),
        ({"op": "get", "key": "k", "tll": 5}, "bad-request"),
        ({"op": "flush"}, "bad-request"),
        ({"op": "set", "key": "k", "value": "v", "ttl": "5"}, "bad-request"),
        ({"op": "set", "key": "k", "value": "v", "contentType": "no type"}, "bad-request"),
        ({"op": "pop", "queue": "q", "wait": 3600}, "bad-request"),
        ({"op": "subscribe", "key": "["}, "invalid-pattern"),
        ({"op": "unsubscribe", "subscription": 12345}, "not-found"),
    ],
)
def test_bad_requests_get_a_problem_and_change_nothing(session: Session, request_: dict[str, Any], slug: str) -> None:
    reply = session.request(**request_)
    assert reply["ok"] is False and reply["error"]["type"] == f"/problems/{slug}", reply
    # The socket stays open and keeps serving.
    session.error(404, "not-found", op="get", key=unique("absent"))


def test_wrong_types_are_409(session: Session) -> None:
    queue = unique("ws-queue")
    session.ok(op="push", queue=queue, value="m")
    session.error(409, "wrong-type", op="get", key=queue)
    session.error(409, "wrong-type", op="set", key=queue, value="v")
    key = unique("ws-string")
    session.ok(op="set", key=key, value="v")
    session.error(409, "wrong-type", op="push", queue=key, value="m")


def test_messages_that_are_not_requests_are_answered_with_a_null_id(session: Session) -> None:
    for text in ["not json", "[1, 2]", "42", '"get"']:
        session.socket.send(text)
        reply = session.receive()
        assert reply["id"] is None and reply["ok"] is False, reply
        assert reply["error"]["status"] == 400
    # Any JSON value is an id, echoed as sent.
    for id in [None, "text", 2**53 + 1, 1.5, [1, {"a": None}], {"nested": True}]:
        session.socket.send(json.dumps({"id": id, "op": "ttl", "key": unique("absent")}))
        assert session.receive()["id"] == id


# --- Queues -----------------------------------------------------------------------------


def test_push_and_pop(server: RunningServer, session: Session) -> None:
    queue = unique("ws-queue")
    assert session.ok(op="push", queue=queue, value="first")["length"] == 1
    assert session.ok(op="push", queue=queue, valueBase64="//4=")["length"] == 2
    reply = session.ok(op="pop", queue=queue)
    assert (reply["queue"], reply["value"], reply["contentType"]) == (queue, "first", "text/plain; charset=utf-8")
    reply = session.ok(op="pop", queues=[unique("empty"), queue], wait=1)
    assert (reply["queue"], reply["valueBase64"]) == (queue, "//4=")
    reply = session.ok(op="pop", queue=queue)
    assert reply["queue"] is None and reply["value"] is None
    # A message pushed over REST pops over the socket, content type and all.
    rest(server, "POST", f"/v1/queues/{queue}", data=b"job", headers={"Content-Type": "application/x-job"})
    reply = session.ok(op="pop", queue=queue)
    assert (reply["value"], reply["contentType"]) == ("job", "application/x-job")


def test_a_waiting_pop_times_out_with_no_message(session: Session) -> None:
    started = time.monotonic()
    reply = session.ok(op="pop", queue=unique("ws-empty"), wait=0.3)
    assert reply["queue"] is None and reply["value"] is None
    assert 0.25 <= time.monotonic() - started < 3


def test_a_waiting_pop_does_not_block_other_requests(server: RunningServer, session: Session) -> None:
    queue = unique("ws-parked")
    key = unique("ws-meanwhile")
    pop_id = session.send(op="pop", queue=queue, wait=10)
    session.ok(op="set", key=key, value="v")
    assert session.ok(op="get", key=key)["value"] == "v"
    # Replies come out of order: the pop is answered when the push comes.
    rest(server, "POST", f"/v1/queues/{queue}", data=b"late")
    reply = session.receive()
    assert (reply["id"], reply["value"], reply["queue"]) == (pop_id, "late", queue)


def test_waiting_pops_are_served_first_come_first_served(server: RunningServer) -> None:
    queue = unique("ws-fifo")
    with contextlib.ExitStack() as stack:
        sessions = [stack.enter_context(open_session(server)) for _ in range(3)]
        for index, session in enumerate(sessions):
            session.send(op="pop", queue=queue, wait=10)
            await_consumers(server, queue, index + 1)
        for index in range(3):
            rest(server, "POST", f"/v1/queues/{queue}", data=f"m{index}".encode())
        assert [session.receive()["value"] for session in sessions] == ["m0", "m1", "m2"]


def await_consumers(server: RunningServer, queue: str, count: int) -> None:
    deadline = time.monotonic() + REPLY_TIMEOUT
    while rest(server, "GET", f"/v1/queues/{queue}").json()["consumers"] != count:
        assert time.monotonic() < deadline, f"{count} consumers never waited on {queue}"
        time.sleep(0.02)


def test_a_socket_that_closes_while_its_pop_waits_loses_no_message(server: RunningServer) -> None:
    queue = unique("ws-gone")
    with open_session(server) as session:
        session.send(op="pop", queue=queue, wait=30)
        await_consumers(server, queue, 1)
    await_consumers(server, queue, 0)
    rest(server, "POST", f"/v1/queues/{queue}", data=b"kept")
    assert rest(server, "GET", f"/v1/queues/{queue}").json()["length"] == 1
    answer = rest(server, "POST", f"/v1/queues/{queue}/pop")
    assert (answer.status_code, answer.content) == (200, b"kept")


def test_a_socket_reset_while_its_pop_waits_loses_no_message(server: RunningServer) -> None:
    queue = unique("ws-reset")
    raw = RawWebSocket(server)
    raw.send_frame(0x1, json.dumps({"id": 1, "op": "pop", "queue": queue, "wait": 30}).encode())
    await_consumers(server, queue, 1)
    raw.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.close()
    await_consumers(server, queue, 0)
    rest(server, "POST", f"/v1/queues/{queue}", data=b"kept")
    answer = rest(server, "POST", f"/v1/queues/{queue}/pop")
    assert (answer.status_code, answer.content) == (200, b"kept")


# --- Leases -----------------------------------------------------------------------------


def test_receive_ack_and_extend_over_one_socket(server: RunningServer, session: Session) -> None:
    queue = unique("ws-lease")
    session.ok(op="push", queue=queue, value="one")
    session.ok(op="push", queue=queue, valueBase64="//4=")
    reply = session.ok(op="receive", queue=queue, visibility=30, max=5)
    assert reply["queue"] == queue
    first, second = reply["messages"]
    assert (first["text"], first["attempts"], second["base64"]) == ("one", 1, "//4=")
    assert rest(server, "GET", f"/v1/queues/{queue}").json()["inFlight"] == 2
    # Acknowledged over the socket, then gone: a second acknowledgement is a 410.
    session.ok(op="ack", queue=queue, receipt=first["receipt"])
    session.error(410, "lease-expired", op="ack", queue=queue, receipt=first["receipt"])
    session.error(410, "lease-expired", op="extend", queue=queue, receipt=first["receipt"], visibility=5)
    # Extended, then released with 0: visible again, received with attempts 2.
    extended = session.ok(op="extend", queue=queue, receipt=second["receipt"], visibility=60)
    assert extended["visibleUntil"] >= second["visibleUntil"]
    session.ok(op="extend", queue=queue, receipt=second["receipt"], visibility=0)
    again = session.ok(op="receive", queue=queue)["messages"][0]
    assert (again["id"], again["attempts"]) == (second["id"], 2)
    batch = session.ok(op="ack", queue=queue, receipts=[again["receipt"], second["receipt"]])
    assert (batch["acked"], batch["expired"], batch["unknown"]) == ([again["receipt"]], [second["receipt"]], [])
    assert session.ok(op="receive", queue=queue)["messages"] == []
    assert rest(server, "GET", f"/v1/queues/{queue}").json()["length"] == 0


def test_a_waiting_receive_gets_a_message_whose_lease_ended(server: RunningServer, session: Session) -> None:
    queue = unique("ws-redeliver")
    session.ok(op="push", queue=queue, value="work", delay=0.2)
    assert rest(server, "GET", f"/v1/queues/{queue}").json()["delayed"] == 1
    first = session.ok(op="receive", queue=queue, wait=5, visibility=0.3)["messages"][0]
    # Its worker never acknowledges: after the visibility it comes again, to the next receive.
    again = session.ok(op="receive", queue=queue, wait=5)["messages"][0]
    assert (again["id"], again["attempts"], again["text"]) == (first["id"], 2, "work")
    session.error(410, "lease-expired", op="ack", queue=queue, receipt=first["receipt"])
    session.ok(op="ack", queue=queue, receipt=again["receipt"])


def test_a_socket_that_closes_while_its_receive_waits_leases_nothing(server: RunningServer) -> None:
    queue = unique("ws-receive-gone")
    with open_session(server) as session:
        session.send(op="receive", queue=queue, wait=30)
        await_consumers(server, queue, 1)
    await_consumers(server, queue, 0)
    rest(server, "POST", f"/v1/queues/{queue}", data=b"kept")
    assert rest(server, "GET", f"/v1/queues/{queue}").json()["visible"] == 1
    received = rest(server, "POST", f"/v1/queues/{queue}/receive").json()["messages"][0]
    assert received["attempts"] == 1


def test_a_pop_with_to_moves_the_message(server: RunningServer, session: Session) -> None:
    source, destination = unique("ws-move"), unique("ws-moved")
    pop_id = session.send(op="pop", queue=source, to=destination, wait=10)
    await_consumers(server, source, 1)
    rest(server, "POST", f"/v1/queues/{source}", data=b"carried")
    reply = session.receive()
    assert (reply["id"], reply["queue"], reply["value"]) == (pop_id, source, "carried")
    assert rest(server, "GET", f"/v1/queues/{destination}").json()["length"] == 1
    session.error(400, "bad-request", op="pop", queue=source, to=source)
    session.error(400, "bad-request", op="pop", queues=[source, destination], to=unique("x"))


# In the form of a receipt (44 characters of base64url) but signed by no one: unknown, where
# text out of that form is malformed.
FORGED_RECEIPT = "AQ" + "A" * 42


@builtin_only
@pytest.mark.parametrize(
    "request_, slug",
    [
        ({"op": "receive"}, "bad-request"),
        ({"op": "receive", "queue": "q", "max": 0}, "bad-request"),
        ({"op": "receive", "queue": "q", "max": 101}, "bad-request"),
        ({"op": "receive", "queue": "q", "visibility": 0}, "bad-request"),
        ({"op": "receive", "queue": "q", "visibility": 43201}, "bad-request"),
        ({"op": "receive", "queue": "q", "visibilty": 5}, "bad-request"),
        ({"op": "ack", "queue": "q"}, "bad-request"),
        ({"op": "ack", "queue": "q", "receipt": "nope"}, "invalid-receipt"),
        ({"op": "ack", "queue": "q", "receipts": []}, "bad-request"),
        ({"op": "ack", "queue": "q", "receipt": FORGED_RECEIPT, "receipts": [FORGED_RECEIPT]}, "bad-request"),
        ({"op": "ack", "queue": "q", "receipt": FORGED_RECEIPT}, "not-found"),
        ({"op": "extend", "queue": "q", "receipt": FORGED_RECEIPT}, "bad-request"),
        ({"op": "extend", "queue": "q", "receipt": FORGED_RECEIPT, "visibility": -1}, "bad-request"),
        ({"op": "extend", "queue": "q", "receipt": FORGED_RECEIPT, "visibility": 5}, "not-found"),
        ({"op": "push", "queue": "q", "value": "v", "delay": -1}, "bad-request"),
        ({"op": "push", "queue": "q", "value": "v", "delay": 2592001}, "bad-request"),
    ],
)
def test_bad_lease_requests_get_a_problem(session: Session, request_: dict[str, Any], slug: str) -> None:
    reply = session.request(**request_)
    assert reply["ok"] is False and reply["error"]["type"] == f"/problems/{slug}", reply


# --- Events -----------------------------------------------------------------------------


def test_subscription_delivers_filtered_events_until_unsubscribed(server: RunningServer, session: Session) -> None:
    prefix = unique("ws-events")
    number = session.ok(op="subscribe", key=f"{prefix}:*", type=["set", "del"])["subscription"]
    rest(server, "PUT", f"/v1/cache/{prefix}:a", data=b"1")
    rest(server, "PUT", f"/v1/cache/other-{prefix}", data=b"1")
    rest(server, "PUT", f"/v1/cache/{prefix}:a/ttl", json={"ttl": 60})
    rest(server, "DELETE", f"/v1/cache/{prefix}:a")
    events = [session.receive(), session.receive()]
    assert [message["subscription"] for message in events] == [number, number]
    assert [(event["event"]["type"], event["event"]["key"]) for event in events] == [
        ("set", f"{prefix}:a"), ("del", f"{prefix}:a")]
    assert events[0]["event"]["id"] < events[1]["event"]["id"]
    assert all(isinstance(event["event"]["time"], int) for event in events)
    session.assert_quiet()
    session.ok(op="unsubscribe", subscription=number)
    rest(server, "PUT", f"/v1/cache/{prefix}:b", data=b"1")
    session.assert_quiet()
    session.error(404, "not-found", op="unsubscribe", subscription=number)


def test_expiry_is_delivered_on_time(session: Session) -> None:
    key = unique("ws-expiry")
    number = session.ok(op="subscribe", key=key, type="expired")["subscription"]
    session.ok(op="set", key=key, value="v", ttl=0.3)
    set_at = time.time()
    event = session.receive()
    assert event["subscription"] == number and event["event"]["type"] == "expired"
    lateness = event["event"]["time"] / 1000 - (set_at + 0.3)
    assert -0.05 < lateness < 0.5, f"expired {lateness:.3f} s after its deadline"


@builtin_only
def test_evictions_are_delivered_and_a_full_memory_is_507(request: pytest.FixtureRequest) -> None:
    limited = start_server(request, PUBLIC, ("--memory-only", "--max-memory", "32KiB", "--eviction-policy", "allkeys-lru"))
    with open_session(limited) as session:
        number = session.ok(op="subscribe", key="ws-evict-*", type=["evicted"])["subscription"]
        written = 0
        while True:
            session.ok(op="set", key=f"ws-evict-{written:04d}", value="v" * 100)
            written += 1
            health = rest(limited, "GET", "/healthz").json()["memory"]
            if health["evicted"] > 0:
                break
            assert written < 2000, "nothing was ever evicted"
        event = session.receive()
        assert event["subscription"] == number and event["event"]["type"] == "evicted"
        session.error(404, "not-found", op="get", key=event["event"]["key"])
    full = start_server(request, PUBLIC, ("--memory-only", "--max-memory", "32KiB", "--eviction-policy", "noeviction"))
    with open_session(full) as session:
        for index in range(2000):
            reply = session.request(op="set", key=f"ws-full-{index:04d}", value="v" * 100)
            if not reply["ok"]:
                break
        else:
            pytest.fail("the limit was never reached")
        assert reply["error"]["status"] == 507 and reply["error"]["type"] == "/problems/memory-full", reply
        session.error(404, "not-found", op="get", key=f"ws-full-{index:04d}")


def test_subscriptions_resume_after_last_event_id(server: RunningServer, session: Session) -> None:
    key = unique("ws-replay")
    first = session.ok(op="subscribe", key=key)["subscription"]
    for value in ["1", "2", "3"]:
        rest(server, "PUT", f"/v1/cache/{key}", data=value.encode())
    ids = [session.receive()["event"]["id"] for _ in range(3)]
    session.ok(op="unsubscribe", subscription=first)
    # A new subscription after the first id replays the two that followed, then goes live.
    second = session.ok(op="subscribe", key=key, lastEventId=ids[0])["subscription"]
    assert second != first
    replayed = [session.receive() for _ in range(2)]
    assert [message["event"]["id"] for message in replayed] == ids[1:]
    assert {message["subscription"] for message in replayed} == {second}
    rest(server, "DELETE", f"/v1/cache/{key}")
    assert session.receive()["event"]["type"] == "del"


def test_a_subscription_resumes_after_an_expiry_without_hearing_it_again(session: Session) -> None:
    # On a NATS cluster the expiry is told at its deadline, ahead of the cluster's event stream:
    # its id is a string that names it, and resuming with it skips the stream's copy.
    key = unique("ws-expiry-resume")
    first = session.ok(op="subscribe", key=key, type=["set", "expired"])["subscription"]
    session.ok(op="set", key=key, value="v", ttl=0.3)
    assert session.receive()["event"]["type"] == "set"
    expired = session.receive()["event"]
    assert expired["type"] == "expired", expired
    session.ok(op="unsubscribe", subscription=first)
    session.ok(op="set", key=key, value="again")
    session.ok(op="subscribe", key=key, type=["set", "expired"], lastEventId=expired["id"])
    after = session.receive()["event"]
    assert (after["type"], after["key"]) == ("set", key), f"the expiry was heard again: {after}"
    session.assert_quiet()


def test_a_resume_past_the_history_reports_a_gap(request: pytest.FixtureRequest) -> None:
    small = start_server(request, PUBLIC, ("--event-history", "4"))
    with open_session(small) as session:
        for index in range(10):
            session.ok(op="set", key="k", value=str(index))
        session.socket.send(json.dumps({"id": "s", "op": "subscribe", "lastEventId": 1}))
        assert session.receive() == {"id": "s", "ok": True, "subscription": 1}
        # The history holds the last 4 events, and may still hold the one before them while the
        # notifier has not looked at it: on a NATS cluster the events come back from the event
        # stream after their writes are answered, so the subscriber can be there first.
        gap = session.receive()
        assert gap["subscription"] == 1 and gap["gap"]["from"] == 2 and gap["gap"]["to"] in (5, 6), gap
        rest = list(range(gap["gap"]["to"] + 1, 11))
        received = [session.receive() for _ in rest]
        assert [message.get("event", {}).get("id") for message in received] == rest, received
        session.assert_quiet()


def test_several_subscriptions_share_one_socket(server: RunningServer, session: Session) -> None:
    key = unique("ws-shared")
    sets = session.ok(op="subscribe", key=key, type=["set"])["subscription"]
    everything = session.ok(op="subscribe", key=key)["subscription"]
    rest(server, "PUT", f"/v1/cache/{key}", data=b"v")
    received = sorted((message["subscription"], message["event"]["type"]) for message in
                      [session.receive(), session.receive()])
    assert received == sorted([(sets, "set"), (everything, "set")])


def test_a_thousand_subscribed_sockets_all_receive_an_expiry(server: RunningServer) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    key = unique("ws-thousand")
    url = f"ws://{server.host}:{server.port}/v1/ws"

    async def main() -> list[dict[str, Any]]:
        sockets = []
        try:
            for _ in range(1000):
                sockets.append(await connect_async(url, open_timeout=REPLY_TIMEOUT))
            for index, ws in enumerate(sockets):
                await ws.send(json.dumps({"id": index, "op": "subscribe", "key": key, "type": ["expired"]}))
            replies = await asyncio.gather(*(ws.recv() for ws in sockets))
            assert all(json.loads(reply)["ok"] for reply in replies)
            rest(server, "PUT", f"/v1/cache/{key}?ttl=0.2", data=b"v")
            events = await asyncio.wait_for(asyncio.gather(*(ws.recv() for ws in sockets)), timeout=15)
            return [json.loads(event) for event in events]
        finally:
            await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)

    events = asyncio.run(main())
    assert len(events) == 1000
    assert {(event["event"]["type"], event["event"]["key"]) for event in events} == {("expired", key)}


# --- The protocol -----------------------------------------------------------------------


def test_ping_gets_pong_and_close_gets_an_echoed_close(server: RunningServer) -> None:
    raw = RawWebSocket(server)
    try:
        raw.send_frame(0x9, b"are you there")
        assert raw.next_frame() == (0xA, b"are you there")
        raw.send_frame(0x8, struct.pack("!H", 1000) + b"done")
        assert raw.next_frame() == (0x8, struct.pack("!H", 1000))
        assert raw.next_frame() is None, "the server closes after the closing handshake"
    finally:
        raw.close()


def test_fragmented_messages_with_a_ping_between_are_answered(server: RunningServer) -> None:
    raw = RawWebSocket(server)
    try:
        request = json.dumps({"id": "f", "op": "get", "key": unique("absent")}).encode()
        raw.send_frame(0x1, request[:10], final=False)
        raw.send_frame(0x9, b"p")
        raw.send_frame(0x0, request[10:20], final=False)
        raw.send_frame(0x0, request[20:])
        assert raw.next_frame() == (0xA, b"p")
        opcode, payload = raw.next_frame() or (None, b"")
        assert opcode == 0x1 and json.loads(payload)["id"] == "f"
    finally:
        raw.close()


@pytest.mark.parametrize(
    "frames, code",
    [
        pytest.param([RawWebSocket.frame(0x1, b"{}", masked=False)], 1002, id="unmasked"),
        pytest.param([RawWebSocket.frame(0x1, b"{}", rsv=4)], 1002, id="reserved bit"),
        pytest.param([RawWebSocket.frame(0x3, b"")], 1002, id="unknown opcode"),
        pytest.param([RawWebSocket.frame(0x0, b"x")], 1002, id="continuation of nothing"),
        pytest.param([RawWebSocket.frame(0x1, b"{", final=False), RawWebSocket.frame(0x1, b"}")], 1002,
                     id="new message inside a fragmented one"),
        pytest.param([RawWebSocket.frame(0x9, b"", final=False)], 1002, id="fragmented ping"),
        pytest.param([RawWebSocket.frame(0x9, b"x" * 126)], 1002, id="long ping"),
        pytest.param([RawWebSocket.frame(0x8, b"\x03")], 1002, id="one-byte close"),
        pytest.param([RawWebSocket.frame(0x1, b"\xff")], 1007, id="invalid UTF-8"),
        pytest.param([RawWebSocket.frame(0x1, "é".encode()[:1], final=False),
                      RawWebSocket.frame(0x0, b"x")], 1007, id="invalid UTF-8 across fragments"),
        pytest.param([RawWebSocket.frame(0x2, b"\x00\x01")], 1003, id="binary"),
        pytest.param([RawWebSocket.frame(0x1, b" " * (1024 * 1024 + 1))], 1009, id="over 1 MiB"),
        pytest.param([RawWebSocket.frame(0x1, b" " * 600_000, final=False),
                      RawWebSocket.frame(0x0, b" " * 600_000)], 1009, id="fragments over 1 MiB"),
    ],
)
def test_protocol_violations_close_with_their_code(server: RunningServer, frames: list[bytes], code: int) -> None:
    raw = RawWebSocket(server)
    try:
        for frame in frames:
            try:
                raw.socket.sendall(frame)
            except (BrokenPipeError, ConnectionResetError):
                break  # The server closed as soon as the first part was refused.
        assert raw.close_code() == code
    finally:
        raw.close()


def test_an_oversized_message_is_refused_from_its_header(server: RunningServer) -> None:
    raw = RawWebSocket(server)
    try:
        # Only the header of a 1 GiB frame: the server must not wait for the payload.
        raw.socket.sendall(bytes([0x81, 0xFF]) + struct.pack("!Q", 1 << 30) + os.urandom(4))
        assert raw.close_code() == 1009
    finally:
        raw.close()


def test_a_client_that_stops_reading_is_closed_with_1008(request: pytest.FixtureRequest) -> None:
    small = start_server(request, PUBLIC, ("--ws-send-buffer-bytes", "65536"))
    rest(small, "PUT", "/v1/cache/big", data=os.urandom(96 * 1024))
    raw = RawWebSocket(small)
    try:
        # A receive buffer small enough to fill, and large enough to read back quickly what
        # the server sent before it gave up.
        raw.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
        request_frame = RawWebSocket.frame(0x1, b'{"op":"get","key":"big"}')
        # About 26 MB of replies: far more than the kernel's socket buffers and the server's send
        # buffer hold, and none of it read until the server has given up on this client.
        for _ in range(200):
            try:
                raw.socket.sendall(request_frame)
            except (BrokenPipeError, ConnectionResetError):
                break
        # Still not reading while the server answers them all (slowly, in a debug build).
        time.sleep(2)
        raw.socket.settimeout(REPLY_TIMEOUT)
        assert raw.close_code() == 1008
    finally:
        raw.close()
    # The server is fine: it still answers.
    assert rest(small, "GET", "/healthz").status_code == 200


def test_a_silent_client_is_pinged_then_closed(request: pytest.FixtureRequest) -> None:
    pinging = start_server(request, PUBLIC, ("--ws-ping-interval", "1"))
    raw = RawWebSocket(pinging)
    try:
        started = time.monotonic()
        assert raw.next_frame() == (0x9, b"")
        assert 0.9 <= time.monotonic() - started < 3
        assert raw.close_code() == 1008
        assert time.monotonic() - started < 5
    finally:
        raw.close()


def test_stopping_the_server_closes_sockets_with_1001(request: pytest.FixtureRequest) -> None:
    stopping = start_server(request, PUBLIC)
    with open_session(stopping) as session:
        assert session.ok(op="subscribe")["subscription"] == 1
        session.send(op="pop", queue="parked", wait=30)
        started = time.monotonic()
        stopping.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                session.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001, closed.value
    assert stopping.process.wait(timeout=STOP_TIMEOUT) == 0
    assert time.monotonic() - started < 3


def test_changes_over_a_socket_wait_for_the_sync_and_survive_a_restart(request: pytest.FixtureRequest) -> None:
    """With `--fsync always` every change's reply comes once its log record is synced; after a
    restart on the same directory, every change replied to is there."""
    first = start_server(request, PUBLIC, ("--fsync", "always"))
    key, queue = unique("durable"), unique("durable-queue")
    with open_session(first) as session:
        assert session.ok(op="set", key=key, value="kept", ttl=600)["created"] is True
        assert session.ok(op="push", queue=queue, value="one")["length"] == 1
        assert session.ok(op="push", queue=queue, value="two")["length"] == 2
        assert session.ok(op="pop", queue=queue)["value"] == "one"
        assert session.ok(op="expire", key=key, ttl=300)
        # Replies to reads still come, and in the order asked when nothing waits.
        assert session.ok(op="get", key=key)["value"] == "kept"
    health = rest(first, "GET", "/healthz").json()
    assert health["persistence"]["fsync"] == "always"
    assert health["persistence"]["lastFsync"] is not None
    first.process.send_signal(signal.SIGTERM)
    assert first.process.wait(timeout=STOP_TIMEOUT) == 0

    second = start_server(request, PUBLIC, data_dir=first.data_dir)
    with open_session(second) as session:
        assert session.ok(op="get", key=key)["value"] == "kept"
        assert 290 < session.ok(op="ttl", key=key)["ttl"] <= 300
        assert session.ok(op="pop", queue=queue)["value"] == "two"
        assert session.ok(op="pop", queue=queue)["value"] is None
