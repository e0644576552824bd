"""Access control beyond the HTTP operations that test_contract.py checks against the
document: every WebSocket operation under each kind of token, revocation by SIGHUP (an event
stream ends, a socket closes with 1008), the token file (made by `keygate tokens add`,
refused at start-up when malformed, kept when a reload finds it malformed), and the
protected mode that refuses to serve a non-loopback address without access control.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import stat
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from access_tokens import bearer, write_token_file
from keygate_server import BINARY, REPO, STOP_TIMEOUT, RunningServer, start_server
from test_websocket import REPLY_TIMEOUT, Session

PUBLIC = REPO / "public"
# The bound: the streams and sockets of a revoked token end within a second of SIGHUP.
REVOCATION_BOUND = 1.0
SCOPES = {
    "root": ["*:*", "admin"],
    "outsider": ["push:elsewhere:*"],
    "reader": ["read:team-*", "subscribe:team-*"],
}


def unique(name: str) -> str:
    """A key no other test uses."""
    return f"{name}-{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def session(server: RunningServer, token: str | None = None, ticket: str | None = None) -> Iterator[Session]:
    """A WebSocket session, with `token` in `Authorization` or `ticket` in the query."""
    query = f"?ticket={ticket}" if ticket else ""
    headers = bearer(token) if token else None
    with connect(f"ws://{server.host}:{server.port}/v1/ws{query}", additional_headers=headers,
                 open_timeout=REPLY_TIMEOUT) as socket:
        yield Session(socket)


@pytest.fixture
def secured(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[RunningServer, dict[str, str], Path]:
    file = tmp_path / "tokens.json"
    tokens = write_token_file(file, SCOPES)
    return start_server(request, PUBLIC, ("--auth-tokens", str(file))), tokens, file


# The action each WebSocket operation needs.
ACTIONS = {"get": "read", "set": "write", "del": "write", "ttl": "read", "expire": "write", "push": "push",
           "pop": "pop", "subscribe": "subscribe"}


# The WebSocket operations, each on `key` (a string) or `queue` (holding one message).
def operations(key: str, queue: str) -> list[dict[str, Any]]:
    return [
        {"op": "get", "key": key},
        {"op": "set", "key": key, "value": "changed"},
        {"op": "ttl", "key": key},
        {"op": "expire", "key": key, "ttl": 30},
        {"op": "push", "queue": queue, "value": "more"},
        {"op": "pop", "queue": queue},
        {"op": "subscribe", "key": key},
        {"op": "del", "key": key},
    ]


def test_a_handshake_needs_a_token_or_a_ticket(secured: tuple[RunningServer, dict[str, str], Path]) -> None:
    server, tokens, _ = secured
    for headers in (None, bearer("not-a-token-of-this-server")):
        with pytest.raises(InvalidStatus) as refused:
            connect(f"ws://{server.host}:{server.port}/v1/ws", additional_headers=headers,
                    open_timeout=REPLY_TIMEOUT)
        assert refused.value.response.status_code == 401
    with session(server, token=tokens["reader"]) as reader:
        reader.error(404, "not-found", op="ttl", key="team-x")


def test_every_websocket_operation_is_checked_against_the_tokens_scopes(
    secured: tuple[RunningServer, dict[str, str], Path]
) -> None:
    server, tokens, _ = secured
    key, queue = unique("ws-acl"), unique("ws-acl-q")
    with session(server, token=tokens["root"]) as root:
        root.ok(op="set", key=key, value="v")
        root.ok(op="push", queue=queue, value="m")
        def state() -> tuple[Any, ...]:
            value, ttl = root.ok(op="get", key=key), root.ok(op="ttl", key=key)
            return (value["value"], value["etag"], ttl["ttl"])

        before = state()
        with session(server, token=tokens["outsider"]) as outsider:
            for request in operations(key, queue):
                problem = outsider.error(403, "forbidden", **request)
                assert f"may not {ACTIONS[request['op']]}" in problem["detail"], problem
        # Nothing changed.
        assert state() == before
        assert requests.get(f"{server.base_url}/v1/queues/{queue}", headers=bearer(tokens["root"]),
                            timeout=REPLY_TIMEOUT).json()["length"] == 1
        for request in operations(key, queue):
            root.ok(**request)


def test_every_websocket_lease_operation_is_checked_against_the_tokens_scopes(
    secured: tuple[RunningServer, dict[str, str], Path]
) -> None:
    """Receive, ack (one and batch), extend and the move of a pop need `pop` on the queue (and
    the move `push` on its destination): refused, they change nothing."""
    server, tokens, _ = secured
    queue, destination = unique("ws-acl-lease"), unique("ws-acl-moved")
    with session(server, token=tokens["root"]) as root:
        root.ok(op="push", queue=queue, value="leased")
        root.ok(op="push", queue=queue, value="waiting")
        receipt = root.ok(op="receive", queue=queue, visibility=60)["messages"][0]["receipt"]
        requests_ = [
            {"op": "receive", "queue": queue},
            {"op": "extend", "queue": queue, "receipt": receipt, "visibility": 0},
            {"op": "ack", "queue": queue, "receipt": receipt},
            {"op": "ack", "queue": queue, "receipts": [receipt]},
            {"op": "pop", "queue": queue, "to": destination},
        ]
        with session(server, token=tokens["outsider"]) as outsider:
            for request in requests_:
                problem = outsider.error(403, "forbidden", **request)
                assert f"may not pop '{queue}'" in problem["detail"], problem
        counts = requests.get(f"{server.base_url}/v1/queues/{queue}", headers=bearer(tokens["root"]),
                              timeout=REPLY_TIMEOUT).json()
        assert (counts["visible"], counts["inFlight"]) == (1, 1), "a refused call changed something"
        root.ok(op="extend", queue=queue, receipt=receipt, visibility=60)
        root.ok(op="ack", queue=queue, receipt=receipt)
        assert root.ok(op="pop", queue=queue, to=destination)["value"] == "waiting"


def test_a_subscription_hears_only_of_keys_in_scope_replay_included(
    secured: tuple[RunningServer, dict[str, str], Path]
) -> None:
    server, tokens, _ = secured
    shared, private = unique("team-a"), unique("private")
    with session(server, token=tokens["root"]) as root:
        root.ok(op="set", key=shared, value="1")
        root.ok(op="set", key=private, value="2")
        with session(server, token=tokens["reader"]) as reader:
            reader.ok(op="subscribe", type="set", lastEventId=0)
            root.ok(op="set", key=private + "-later", value="3")
            root.ok(op="set", key=shared + "-later", value="4")
            heard: list[str] = []
            while shared + "-later" not in heard:
                message = reader.receive()
                heard.append(message["event"]["key"])
            assert shared in heard and all(key.startswith("team-") for key in heard), heard


def test_revoking_a_token_ends_its_streams_and_sockets(
    secured: tuple[RunningServer, dict[str, str], Path]
) -> None:
    server, tokens, file = secured
    stream = socket.create_connection((server.host, server.port), timeout=REPLY_TIMEOUT)
    stream.sendall(
        f"GET /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tokens['reader']}\r\n\r\n".encode())
    head = b""
    while b"retry:" not in head:
        chunk = stream.recv(4096)
        assert chunk, head
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head
    with session(server, token=tokens["reader"]) as reader, session(server, token=tokens["root"]) as root:
        reader.ok(op="subscribe", type="set")
        # The file without `reader`; root stays.
        entries = json.loads(file.read_text())["tokens"]
        file.write_text(json.dumps({"tokens": [entry for entry in entries if entry["name"] != "reader"]}))
        signalled = time.monotonic()
        server.process.send_signal(signal.SIGHUP)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                reader.socket.recv(timeout=REPLY_TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008, closed.value
        # The stream ends: its chunked terminator comes.
        stream.settimeout(REPLY_TIMEOUT)
        received = head
        while not received.endswith(b"\r\n0\r\n\r\n"):
            chunk = stream.recv(4096)
            assert chunk, received
            received += chunk
        ended = time.monotonic() - signalled
        assert ended < REVOCATION_BOUND, f"the socket and the stream ended {ended:.3f} s after SIGHUP"
        # root's socket goes on; the revoked token is refused from now on.
        root.ok(op="set", key=unique("still"), value="v")
        refused = requests.get(f"{server.base_url}/v1/cache/team-x", headers=bearer(tokens["reader"]),
                               timeout=REPLY_TIMEOUT)
        assert refused.status_code == 401, refused.text
    stream.close()


def test_a_reload_of_a_malformed_file_keeps_the_tokens(
    secured: tuple[RunningServer, dict[str, str], Path]
) -> None:
    server, tokens, file = secured
    file.write_text("{not json")
    server.process.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + REPLY_TIMEOUT
    while not any("was not read again" in line for line in server.log):
        assert time.monotonic() < deadline, "no log line for the failed reload"
        time.sleep(0.02)
    assert any(str(file) in line for line in server.log if "was not read again" in line)
    answer = requests.put(f"{server.base_url}/v1/cache/{unique('kept')}", data=b"v",
                          headers=bearer(tokens["root"]), timeout=REPLY_TIMEOUT)
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize(
    ("contents", "named"),
    [
        ("{not json", "not JSON"),
        ('{"tokens": [{"name": "a", "sha256": "00", "scopes": ["read:*"]}]}', "sha256"),
        ('{"tokens": [{"name": "a", "sha256": "' + "0" * 64 + '", "scopes": ["fly:*"]}]}', "'fly'"),
        ('{"tokens": [{"name": "a", "sha256": "' + "0" * 64 + '", "scopes": []}]}', "scopes"),
        ('{"tokens": [], "extra": 1}', "only member"),
    ],
    ids=["not JSON", "short digest", "unknown action", "no scope", "unknown member"],
)
def test_a_malformed_token_file_stops_the_start_naming_the_file(tmp_path: Path, contents: str, named: str) -> None:
    file = tmp_path / "tokens.json"
    file.write_text(contents)
    started = subprocess.run([str(BINARY), "--memory-only", "--port", "0", "--auth-tokens", str(file)],
                             capture_output=True, text=True, timeout=STOP_TIMEOUT, check=False)
    assert started.returncode != 0, started
    assert str(file) in started.stderr and named in started.stderr, started.stderr


def test_tokens_add_makes_a_token_that_the_server_accepts(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    file = tmp_path / "made" / "tokens.json"
    file.parent.mkdir()

    def add(name: str, *scopes: str) -> subprocess.CompletedProcess[str]:
        arguments = [str(BINARY), "tokens", "add", "--file", str(file), "--name", name]
        for scope in scopes:
            arguments += ["--scope", scope]
        return subprocess.run(arguments, capture_output=True, text=True, timeout=STOP_TIMEOUT, check=False)

    made = add("dashboard", "read:user:*", "subscribe:*")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert len(token) >= 43 and set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
    assert token not in file.read_text(), "the file holds the token itself"
    assert add("dashboard", "read:*").returncode != 0, "a second token of one name"
    bad = add("other", "fly:*")
    assert bad.returncode != 0 and "'fly'" in bad.stderr
    admin = add("admin", "*:*", "admin")
    assert admin.returncode == 0, admin.stderr
    server = start_server(request, PUBLIC, ("--auth-tokens", str(file)))
    root = bearer(admin.stdout.strip())
    assert requests.put(f"{server.base_url}/v1/cache/user:1", data=b"v", headers=root, timeout=5).status_code == 201
    reader = bearer(token)
    assert requests.get(f"{server.base_url}/v1/cache/user:1", headers=reader, timeout=5).text == "v"
    assert requests.put(f"{server.base_url}/v1/cache/user:1", data=b"w", headers=reader, timeout=5).status_code == 403


def test_protected_mode_refuses_a_public_address_without_access_control(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    refused = subprocess.run([str(BINARY), "--memory-only", "--port", "0", "--host", "0.0.0.0"],
                             capture_output=True, text=True, timeout=STOP_TIMEOUT, check=False)
    assert refused.returncode != 0, refused
    assert "--allow-anonymous" in refused.stderr and "--auth-tokens" in refused.stderr, refused.stderr
    # Allowed when asked for, or with access control.
    start_server(request, PUBLIC, ("--memory-only", "--host", "0.0.0.0", "--allow-anonymous"))
    file = tmp_path / "tokens.json"
    write_token_file(file, {"root": ["*:*"]})
    start_server(request, PUBLIC, ("--memory-only", "--host", "0.0.0.0", "--auth-tokens", str(file)))
