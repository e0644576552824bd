"""HTTPS: `--tls-cert` and `--tls-key`, end to end against the real `keygate` server, with real
clients trusting a certificate authority made for the run (`tls_certificates.py`): curl,
Python `requests`, `http.client` and `ssl` sockets, and the `websockets` package over `wss://`.

Every transport is covered over TLS: REST with keep-alive and pipelining, a long poll answered
by a push, an event stream, WebSocket requests and subscriptions. Then what TLS adds: only TLS
1.2 and 1.3 are spoken, start-up refuses a missing file, a key that does not match or one flag
without the other (naming the file), and SIGHUP rotates the certificate for new connections
while open ones carry on, keeping the old pair when the new one is bad. Every read has a
deadline.

Run from the repository root after `swift build`:

    python3 -m pytest -q Tests/contract/test_tls.py
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import functools
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests
from cryptography import x509
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from keygate_server import BINARY, REPO, SPEC_FILE, STOP_TIMEOUT, RunningServer, start_server
from tls_certificates import Authority, ServerPair

PUBLIC = REPO / "public"
# The longest a test waits for an answer, an event or a reply it expects.
REPLY_TIMEOUT = 5.0
# The longest a refused start may take to exit.
START_TIMEOUT = 30.0


def unique(name: str) -> str:
    """A key no other test uses."""
    return f"{name}-{uuid.uuid4().hex[:10]}"


# --- Fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


@pytest.fixture(scope="module")
def authority(workspace: Path) -> Authority:
    return Authority.make(workspace, "Keygate Test CA")


@pytest.fixture(scope="module")
def pair(workspace: Path, authority: Authority) -> ServerPair:
    certificate, key = authority.issue("keygate-tls-test")
    return ServerPair.write(workspace / "server", "server", certificate, key)


def tls_arguments(pair: ServerPair, *more: str) -> tuple[str, ...]:
    return ("--memory-only", "--tls-cert", str(pair.certificate_path), "--tls-key", str(pair.key_path), *more)


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, pair: ServerPair) -> RunningServer:
    started = start_server(request, PUBLIC, tls_arguments(pair))
    assert started.base_url.startswith("https://"), started.base_url
    return started


def client_context(authority: Authority, **versions: ssl.TLSVersion) -> ssl.SSLContext:
    """A client context that trusts only `authority`, optionally bounded to some versions."""
    context = ssl.create_default_context(cafile=str(authority.path))
    for name, version in versions.items():
        setattr(context, name, version)
    return context


def rest(server: RunningServer, authority: Authority, method: str, path: str, **options: Any) -> requests.Response:
    return requests.request(method, server.base_url + path, verify=str(authority.path), timeout=REPLY_TIMEOUT, **options)


def await_consumers(server: RunningServer, authority: Authority, queue: str, count: int) -> None:
    deadline = time.monotonic() + REPLY_TIMEOUT
    while rest(server, authority, "GET", f"/v1/queues/{queue}").json()["consumers"] != count:
        assert time.monotonic() < deadline, f"{count} consumers never waited on {queue}"
        time.sleep(0.02)


def tls_socket(server: RunningServer, context: ssl.SSLContext, *, receive_buffer: int | None = None) -> ssl.SSLSocket:
    """A TLS connection to the server, handshake done."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    raw.settimeout(REPLY_TIMEOUT)
    raw.connect((server.host, server.port))
    return context.wrap_socket(raw, server_hostname=server.host)


def peer_serial(connection: ssl.SSLSocket) -> int:
    """The serial number of the certificate the server presented on `connection`."""
    der = connection.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


# --- Every transport over TLS ---------------------------------------------------------------


def test_curl_trusting_the_ca_writes_and_reads(server: RunningServer, authority: Authority) -> None:
    key = unique("curl")
    url = f"{server.base_url}/v1/cache/{key}"
    stored = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "--cacert", str(authority.path), "-X", "PUT", "-H", "Content-Type: text/plain",
         "--data-binary", "hello over TLS", "-o", "/dev/null", "-w", "%{http_code}", url],
        capture_output=True, text=True, timeout=REPLY_TIMEOUT, check=True)
    assert stored.stdout == "201", stored.stderr
    # Twice over one connection: curl reuses it (keep-alive), which -w tells.
    read = subprocess.run(
        ["curl", "-sS", "--noproxy", "*", "--cacert", str(authority.path), url, "-w", " %{http_code} %{num_connects}\n",
         url, "-w", " %{http_code} %{num_connects}\n"],
        capture_output=True, text=True, timeout=REPLY_TIMEOUT, check=True)
    assert read.stdout.splitlines() == ["hello over TLS 200 1", "hello over TLS 200 0"], read.stderr
    # Without the CA, curl refuses the server: the certificate really is checked.
    untrusted = subprocess.run(["curl", "-sS", "--noproxy", "*", url], capture_output=True, text=True, timeout=REPLY_TIMEOUT)
    assert untrusted.returncode == 60, untrusted.stderr


def test_requests_with_the_ca_runs_a_value_lifecycle(server: RunningServer, authority: Authority) -> None:
    key = unique("requests")
    with requests.Session() as session:
        # Given per request: a session's own `verify` loses to REQUESTS_CA_BUNDLE when set.
        session.request = functools.partial(session.request, verify=str(authority.path))  # type: ignore[method-assign]
        put = session.put(f"{server.base_url}/v1/cache/{key}", params={"ttl": "30"}, data=b"\x00\x01binary",
                          headers={"Content-Type": "application/octet-stream"}, timeout=REPLY_TIMEOUT)
        assert put.status_code == 201 and put.headers["Location"].endswith(key)
        got = session.get(f"{server.base_url}/v1/cache/{key}", timeout=REPLY_TIMEOUT)
        assert (got.status_code, got.content, got.headers["Content-Type"]) == (200, b"\x00\x01binary", "application/octet-stream")
        assert session.head(f"{server.base_url}/v1/cache/{key}", timeout=REPLY_TIMEOUT).status_code == 200
        assert 0 < session.get(f"{server.base_url}/v1/cache/{key}/ttl", timeout=REPLY_TIMEOUT).json()["ttl"] <= 30
        assert session.delete(f"{server.base_url}/v1/cache/{key}", timeout=REPLY_TIMEOUT).status_code == 204
        missing = session.get(f"{server.base_url}/v1/cache/{key}", timeout=REPLY_TIMEOUT)
        assert missing.status_code == 404 and missing.headers["Content-Type"] == "application/problem+json"
    assert rest(server, authority, "GET", "/healthz").json()["status"] == "ok"


def test_keep_alive_serves_many_requests_on_one_tls_connection(server: RunningServer, authority: Authority) -> None:
    key = unique("keep-alive")
    connection = http.client.HTTPSConnection(server.host, server.port, context=client_context(authority), timeout=REPLY_TIMEOUT)
    try:
        connection.request("PUT", f"/v1/cache/{key}", body=b"0")
        assert connection.getresponse().read() == b""
        first = connection.sock
        for number in range(1, 20):
            connection.request("PUT", f"/v1/cache/{key}", body=str(number).encode())
            response = connection.getresponse()
            assert response.status == 204, response.status
            response.read()
            connection.request("GET", f"/v1/cache/{key}")
            assert connection.getresponse().read() == str(number).encode()
        # The same socket throughout: nothing was closed and reopened.
        assert connection.sock is first
    finally:
        connection.close()


def test_pipelined_requests_are_answered_in_order(server: RunningServer, authority: Authority) -> None:
    keys = [unique("pipelined") for _ in range(3)]
    for index, key in enumerate(keys):
        rest(server, authority, "PUT", f"/v1/cache/{key}", data=f"value {index}".encode())
    requests_bytes = b"".join(
        f"GET /v1/cache/{key} HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode() for key in keys)
    with tls_socket(server, client_context(authority)) as connection:
        # All three in one write, so that they arrive in one TLS record, before any answer.
        connection.sendall(requests_bytes)
        received = b""
        while received.count(b"value ") < 3 or not received.endswith(b"value 2"):
            chunk = connection.recv(65536)
            assert chunk, f"the connection closed after {received!r}"
            received += chunk
    answers = received.split(b"HTTP/1.1 ")[1:]
    assert [answer.split(b"\r\n\r\n", 1)[1] for answer in answers] == [b"value 0", b"value 1", b"value 2"]
    assert all(answer.startswith(b"200 ") for answer in answers)


def test_an_event_stream_over_https(server: RunningServer, authority: Authority) -> None:
    prefix = unique("sse")
    with requests.get(f"{server.base_url}/v1/events", params={"key": f"{prefix}:*"}, verify=str(authority.path),
                      stream=True, timeout=REPLY_TIMEOUT) as stream:
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)
        assert next(lines) == "retry: 3000"
        rest(server, authority, "PUT", f"/v1/cache/{prefix}:a", data=b"1")
        rest(server, authority, "DELETE", f"/v1/cache/{prefix}:a")
        events: list[dict[str, Any]] = []
        while len(events) < 2:
            line = next(lines)
            if line.startswith("data: "):
                events.append(json.loads(line[len("data: "):]))
    assert [(event["type"], event["key"]) for event in events] == [("set", f"{prefix}:a"), ("del", f"{prefix}:a")]


def test_a_long_poll_over_tls_is_answered_by_a_push(server: RunningServer, authority: Authority) -> None:
    queue = unique("long-poll")
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        waiting = pool.submit(rest, server, authority, "POST", f"/v1/queues/{queue}/pop", params={"wait": "10"})
        await_consumers(server, authority, queue, 1)
        pushed_at = time.monotonic()
        rest(server, authority, "POST", f"/v1/queues/{queue}", data=b"job 1", headers={"Content-Type": "text/plain"})
        answer = waiting.result(timeout=REPLY_TIMEOUT)
        assert time.monotonic() - pushed_at < 1
    assert (answer.status_code, answer.content, answer.headers["Queue"]) == (200, b"job 1", queue)


def test_a_long_poll_whose_tls_client_leaves_loses_no_message(server: RunningServer, authority: Authority) -> None:
    queue = unique("long-poll-gone")
    connection = tls_socket(server, client_context(authority))
    connection.sendall(f"POST /v1/queues/{queue}/pop?wait=30 HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
    await_consumers(server, authority, queue, 1)
    # A TLS client leaving: its close-notify, then the end of the connection, without waiting
    # for the server's close-notify (which a suspended connection does not send).
    connection.setblocking(False)
    with contextlib.suppress(ssl.SSLWantReadError):
        connection.unwrap()
    connection.close()
    await_consumers(server, authority, queue, 0)
    rest(server, authority, "POST", f"/v1/queues/{queue}", data=b"kept")
    answer = rest(server, authority, "POST", f"/v1/queues/{queue}/pop")
    assert (answer.status_code, answer.content) == (200, b"kept")


# --- WebSocket over wss:// ------------------------------------------------------------------


@contextlib.contextmanager
def wss(server: RunningServer, authority: Authority) -> Iterator[ClientConnection]:
    with connect(f"wss://{server.host}:{server.port}/v1/ws", ssl=client_context(authority),
                 open_timeout=REPLY_TIMEOUT, close_timeout=REPLY_TIMEOUT, max_size=None) as socket_:
        yield socket_


def ask(socket_: ClientConnection, **request: Any) -> dict[str, Any]:
    socket_.send(json.dumps(request))
    reply = json.loads(socket_.recv(timeout=REPLY_TIMEOUT))
    assert reply.get("id") == request["id"], reply
    return reply


def test_websocket_over_wss_gets_sets_pops_and_subscribes(server: RunningServer, authority: Authority) -> None:
    prefix = unique("wss")
    with wss(server, authority) as socket_:
        assert ask(socket_, id=1, op="subscribe", key=f"{prefix}:a", type=["set", "expired"]) == {
            "id": 1, "ok": True, "subscription": 1}
        assert ask(socket_, id=2, op="set", key=f"{prefix}:a", value="alice", ttl=0.3)["created"] is True
        event = json.loads(socket_.recv(timeout=REPLY_TIMEOUT))
        assert event["subscription"] == 1 and event["event"]["type"] == "set"
        got = ask(socket_, id=3, op="get", key=f"{prefix}:a")
        assert (got["ok"], got["value"]) == (True, "alice")
        expired = json.loads(socket_.recv(timeout=REPLY_TIMEOUT))
        assert (expired["event"]["type"], expired["event"]["key"]) == ("expired", f"{prefix}:a")
        # A waiting pop answered by a push over REST, the socket still serving meanwhile.
        socket_.send(json.dumps({"id": 4, "op": "pop", "queue": f"{prefix}-jobs", "wait": 10}))
        await_consumers(server, authority, f"{prefix}-jobs", 1)
        assert ask(socket_, id=5, op="ttl", key=f"{prefix}:a")["ok"] is False
        rest(server, authority, "POST", f"/v1/queues/{prefix}-jobs", data=b"job", headers={"Content-Type": "text/plain"})
        popped = json.loads(socket_.recv(timeout=REPLY_TIMEOUT))
        assert (popped["id"], popped["value"], popped["queue"]) == (4, "job", f"{prefix}-jobs")
        # A large value crosses libmicrohttpd's forwarding both ways intact.
        large = "x" * 300_000
        assert ask(socket_, id=6, op="set", key=f"{prefix}:large", value=large)["ok"] is True
        assert ask(socket_, id=7, op="get", key=f"{prefix}:large")["value"] == large
        started = time.monotonic()
    # The closing handshake ends at once: the server closes the TLS connection after its close
    # frame instead of waiting for the client, which waits for the server (RFC 6455).
    assert time.monotonic() - started < 2


class RawTLSWebSocket:
    """A WebSocket client over a bare TLS socket, for ways of leaving no proper client takes."""

    def __init__(self, server: RunningServer, authority: Authority, *, receive_buffer: int | None = None) -> None:
        self.socket = tls_socket(server, client_context(authority), receive_buffer=receive_buffer)
        key = base64.b64encode(os.urandom(16)).decode()
        self.socket.sendall(
            f"GET /v1/ws HTTP/1.1\r\nHost: {server.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode())
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self.buffer += self.receive()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101"), head

    def receive(self) -> bytes:
        chunk = self.socket.recv(65536)
        assert chunk, "the server closed the connection"
        return chunk

    @staticmethod
    def frame(text: str) -> bytes:
        """A masked, final text frame."""
        payload = text.encode()
        mask = os.urandom(4)
        length = len(payload)
        header = bytes([0x81]) + (bytes([0x80 | length]) if length < 126 else bytes([0x80 | 126]) + struct.pack("!H", length))
        return header + mask + bytes(byte ^ mask[index % 4] for index, byte in enumerate(payload))

    def close_code(self) -> int:
        """Reads frames until a close frame; its code."""
        while True:
            while len(self.buffer) < 2:
                self.buffer += self.receive()
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                while len(self.buffer) < 4:
                    self.buffer += self.receive()
                length, offset = struct.unpack("!H", self.buffer[2:4])[0], 4
            elif length == 127:
                while len(self.buffer) < 10:
                    self.buffer += self.receive()
                length, offset = struct.unpack("!Q", self.buffer[2:10])[0], 10
            while len(self.buffer) < offset + length:
                self.buffer += self.receive()
            payload, self.buffer = self.buffer[offset:offset + length], self.buffer[offset + length:]
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0]


@pytest.mark.parametrize("leaving", ["end-of-file", "reset"])
def test_a_wss_client_that_leaves_while_its_pop_waits_loses_no_message(
    server: RunningServer, authority: Authority, leaving: str
) -> None:
    # libmicrohttpd does not tell an upgraded TLS socket that its client left: the server watches
    # the client's connection itself, and the waiting pop must go before a push comes.
    queue = unique(f"wss-{leaving}")
    raw = RawTLSWebSocket(server, authority)
    raw.socket.sendall(RawTLSWebSocket.frame(json.dumps({"id": 1, "op": "pop", "queue": queue, "wait": 30})))
    await_consumers(server, authority, queue, 1)
    if leaving == "reset":
        raw.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # Closed without a close frame or a close-notify: the end of the connection, or a reset.
    raw.socket.close()
    await_consumers(server, authority, queue, 0)
    rest(server, authority, "POST", f"/v1/queues/{queue}", data=b"kept")
    answer = rest(server, authority, "POST", f"/v1/queues/{queue}/pop")
    assert (answer.status_code, answer.content) == (200, b"kept")


def test_a_wss_client_that_stops_reading_is_closed_with_1008(request: pytest.FixtureRequest, pair: ServerPair,
                                                             authority: Authority) -> None:
    small = start_server(request, PUBLIC, tls_arguments(pair, "--ws-send-buffer-bytes", "65536"))
    rest(small, authority, "PUT", "/v1/cache/big", data=os.urandom(96 * 1024))
    raw = RawTLSWebSocket(small, authority, receive_buffer=256 * 1024)
    try:
        request_frame = RawTLSWebSocket.frame('{"op":"get","key":"big"}')
        # About 26 MB of replies, far more than the socket pair, the kernel's buffers and the
        # server's send buffer hold; none of it read until the server has given up.
        for _ in range(200):
            try:
                raw.socket.sendall(request_frame)
            except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
                break
        time.sleep(2)
        assert raw.close_code() == 1008
    finally:
        raw.socket.close()
    assert rest(small, authority, "GET", "/healthz").status_code == 200


def test_stopping_the_server_closes_wss_sockets_with_1001(request: pytest.FixtureRequest, pair: ServerPair,
                                                          authority: Authority) -> None:
    stopping = start_server(request, PUBLIC, tls_arguments(pair))
    with wss(stopping, authority) as socket_:
        assert ask(socket_, id=1, op="subscribe")["ok"] is True
        socket_.send(json.dumps({"id": 2, "op": "pop", "queue": "parked", "wait": 30}))
        await_consumers(stopping, authority, "parked", 1)
        started = time.monotonic()
        stopping.process.send_signal(signal.SIGTERM)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                socket_.recv(timeout=REPLY_TIMEOUT)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001, closed.value
    assert stopping.process.wait(timeout=STOP_TIMEOUT) == 0
    assert time.monotonic() - started < 3


# --- What TLS adds --------------------------------------------------------------------------


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["1.2", "1.3"])
def test_tls_1_2_and_1_3_are_spoken(server: RunningServer, authority: Authority, version: ssl.TLSVersion) -> None:
    context = client_context(authority, minimum_version=version, maximum_version=version)
    with tls_socket(server, context) as connection:
        assert connection.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2", ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
        connection.sendall(f"GET /healthz HTTP/1.1\r\nHost: {server.host}\r\nConnection: close\r\n\r\n".encode())
        assert connection.recv(65536).startswith(b"HTTP/1.1 200 ")


# Python deprecates the old versions it is asked for here, which is the point.
@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["1.0", "1.1"])
def test_tls_1_0_and_1_1_are_refused(server: RunningServer, authority: Authority, version: ssl.TLSVersion) -> None:
    context = client_context(authority, minimum_version=version, maximum_version=version)
    # OpenSSL's default security level would refuse these versions on the client's side; level 0
    # lets the client offer them, so that the refusal seen is the server's.
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with pytest.raises(ssl.SSLError) as refused:
        tls_socket(server, context).close()
    # The client sent its hello and the server ended the handshake (GnuTLS closes the
    # connection, or sends a protocol_version alert); a client that refused to offer the version
    # itself would fail with NO_PROTOCOLS_AVAILABLE before sending anything.
    assert isinstance(refused.value, ssl.SSLEOFError) or "PROTOCOL_VERSION" in str(refused.value), refused.value
    # The same client allowed TLS 1.2 as well gets a session: only the version was refused.
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    with tls_socket(server, context) as connection:
        assert connection.version() == "TLSv1.2"
    # And openssl's own client, asked for TLS 1.1 only, gets no session either.
    shown = subprocess.run(
        ["openssl", "s_client", "-connect", f"{server.host}:{server.port}", "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0",
         "-CAfile", str(authority.path)],
        input="", capture_output=True, text=True, timeout=REPLY_TIMEOUT)
    assert shown.returncode != 0 and "Cipher is (NONE)" in shown.stdout + shown.stderr, shown.stdout + shown.stderr


def test_plain_http_on_the_https_port_gets_no_answer(server: RunningServer) -> None:
    with socket.create_connection((server.host, server.port), timeout=REPLY_TIMEOUT) as plain:
        plain.sendall(f"GET /healthz HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
        try:
            answer = plain.recv(65536)
        except ConnectionResetError:
            answer = b""
    assert not answer.startswith(b"HTTP/"), answer


def test_a_late_request_over_tls_is_closed_without_plaintext(request: pytest.FixtureRequest, pair: ServerPair,
                                                             authority: Authority) -> None:
    # The read deadline writes a raw 408 on plain HTTP; over TLS it only closes the connection,
    # since bytes written beside libmicrohttpd's TLS records would break the stream.
    slow = start_server(request, PUBLIC, tls_arguments(pair, "--read-timeout", "1"))
    with tls_socket(slow, client_context(authority)) as connection:
        connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        try:
            received = connection.recv(65536)
        except (ConnectionResetError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            received = b""
        # Any plaintext on the wire would have been a TLS record error here, not an end.
        assert received == b""
        assert time.monotonic() - started < 3


# --- Start-up refusals ----------------------------------------------------------------------


def refused_start(*arguments: str, environment: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Runs the binary with `arguments`, which must make it refuse to start: it exits, non-zero."""
    variables = {name: value for name, value in os.environ.items() if not name.startswith("KEYGATE_")}
    variables.update(environment or {})
    finished = subprocess.run(
        [str(BINARY), "--port", "0", "--memory-only", "--public", str(PUBLIC), "--openapi", str(SPEC_FILE), *arguments],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=START_TIMEOUT, env=variables)
    assert finished.returncode != 0, f"keygate started:\n{finished.stderr}"
    assert "listening" not in finished.stderr, finished.stderr
    return finished


def test_a_missing_certificate_file_stops_start_up_naming_it(workspace: Path, pair: ServerPair) -> None:
    missing = workspace / "missing.pem"
    finished = refused_start("--tls-cert", str(missing), "--tls-key", str(pair.key_path))
    assert f"'{missing}'" in finished.stderr and "No such file or directory" in finished.stderr, finished.stderr


def test_an_unreadable_key_file_stops_start_up_naming_it(workspace: Path, pair: ServerPair) -> None:
    # A directory cannot be read as a file, even by root, which every mode bit lets read.
    folder = workspace / "a-folder.key"
    folder.mkdir(exist_ok=True)
    finished = refused_start("--tls-cert", str(pair.certificate_path), "--tls-key", str(folder))
    assert f"'{folder}'" in finished.stderr and "Is a directory" in finished.stderr, finished.stderr


def test_a_file_that_is_not_pem_stops_start_up_naming_it(workspace: Path, pair: ServerPair) -> None:
    garbage = workspace / "garbage.pem"
    garbage.write_text("not a certificate\n")
    finished = refused_start("--tls-cert", str(garbage), "--tls-key", str(pair.key_path))
    assert f"'{garbage}'" in finished.stderr and "no usable PEM certificate" in finished.stderr, finished.stderr
    finished = refused_start("--tls-cert", str(pair.certificate_path), "--tls-key", str(garbage))
    assert f"'{garbage}'" in finished.stderr and "no usable unencrypted PEM private key" in finished.stderr, finished.stderr


def test_a_key_that_does_not_match_stops_start_up_naming_both_files(workspace: Path, authority: Authority,
                                                                    pair: ServerPair) -> None:
    certificate, key = authority.issue("other")
    other = ServerPair.write(workspace / "other", "other", certificate, key)
    finished = refused_start("--tls-cert", str(pair.certificate_path), "--tls-key", str(other.key_path))
    assert f"The TLS key file '{other.key_path}' does not match the certificate in '{pair.certificate_path}'" in finished.stderr, \
        finished.stderr


@pytest.mark.parametrize("given", ["certificate", "key"])
def test_one_file_without_the_other_stops_start_up_naming_it(pair: ServerPair, given: str) -> None:
    if given == "certificate":
        finished = refused_start("--tls-cert", str(pair.certificate_path))
        assert f"--tls-cert '{pair.certificate_path}' needs --tls-key too" in finished.stderr, finished.stderr
    else:
        # Through its variable this time: the variable is read like the flag.
        finished = refused_start(environment={"KEYGATE_TLS_KEY": str(pair.key_path)})
        assert f"--tls-key '{pair.key_path}' needs --tls-cert too" in finished.stderr, finished.stderr


def test_the_variables_serve_https_with_a_chain_and_an_rsa_key(request: pytest.FixtureRequest, workspace: Path,
                                                               authority: Authority) -> None:
    intermediate = authority.intermediate(workspace, "Keygate Test Intermediate")
    certificate, key = intermediate.issue("chained", key_kind="rsa")
    chained = ServerPair.write(workspace / "chained", "chained", certificate, key, chain=(intermediate.certificate,))
    started = start_server(request, PUBLIC, ("--memory-only",), environment={
        "KEYGATE_TLS_CERT": str(chained.certificate_path), "KEYGATE_TLS_KEY": str(chained.key_path)})
    # The client trusts only the root: the server must send the intermediate.
    assert rest(started, authority, "GET", "/healthz").status_code == 200
    with tls_socket(started, client_context(authority)) as connection:
        assert peer_serial(connection) == chained.serial
    started.wait_for_log(r"chain=2 .*TLS certificate loaded")


# --- Rotation by SIGHUP ---------------------------------------------------------------------


def install(pair: ServerPair, at: ServerPair) -> None:
    """Puts `pair`'s files where `at`'s are, each replaced whole (as a deployment would)."""
    for source, target in ((pair.certificate_path, at.certificate_path), (pair.key_path, at.key_path)):
        staged = target.with_suffix(target.suffix + ".new")
        shutil.copyfile(source, staged)
        os.replace(staged, target)


def test_sighup_rotates_the_certificate_for_new_connections_only(request: pytest.FixtureRequest, workspace: Path,
                                                                 authority: Authority) -> None:
    old_ca, new_ca = authority, Authority.make(workspace / "rotation", "Keygate Next CA")
    live = ServerPair.write(workspace / "rotation" / "live", "live", *old_ca.issue("keygate-old"))
    old_serial = live.serial
    rotating = start_server(request, PUBLIC, ("--memory-only", "--tls-cert", str(live.certificate_path),
                                              "--tls-key", str(live.key_path)))
    key = unique("rotation")
    rest(rotating, old_ca, "PUT", f"/v1/cache/{key}", data=b"before")
    kept = http.client.HTTPSConnection(rotating.host, rotating.port, context=client_context(old_ca), timeout=REPLY_TIMEOUT)
    try:
        kept.request("GET", f"/v1/cache/{key}")
        assert kept.getresponse().read() == b"before"
        assert peer_serial(kept.sock) == old_serial

        new = ServerPair.write(workspace / "rotation" / "next", "next", *new_ca.issue("keygate-new"))
        install(new, at=live)
        mark = len(rotating.log)
        rotating.process.send_signal(signal.SIGHUP)
        line = rotating.wait_for_log(r"TLS certificate reloaded", after=mark)
        logged = re.search(r"serial=([0-9a-f]+)", line)
        assert logged and int(logged.group(1), 16) == new.serial, line

        # A new handshake presents the new certificate, which only the new CA vouches for.
        with tls_socket(rotating, client_context(new_ca)) as connection:
            assert peer_serial(connection) == new.serial
        with pytest.raises(ssl.SSLCertVerificationError):
            tls_socket(rotating, client_context(old_ca)).close()
        assert rest(rotating, new_ca, "GET", f"/v1/cache/{key}").content == b"before"

        # The connection opened before carries on, still on the old certificate.
        kept.request("PUT", f"/v1/cache/{key}", body=b"after")
        answer = kept.getresponse()
        assert answer.status == 204
        answer.read()
        kept.request("GET", f"/v1/cache/{key}")
        assert kept.getresponse().read() == b"after"
        assert peer_serial(kept.sock) == old_serial
    finally:
        kept.close()


def test_a_bad_pair_on_sighup_keeps_the_old_one_and_says_why(request: pytest.FixtureRequest, workspace: Path,
                                                             authority: Authority) -> None:
    live = ServerPair.write(workspace / "bad-rotation" / "live", "live", *authority.issue("keygate-kept"))
    rotating = start_server(request, PUBLIC, ("--memory-only", "--tls-cert", str(live.certificate_path),
                                              "--tls-key", str(live.key_path)))
    # A new certificate with the old key: they do not match.
    stray = ServerPair.write(workspace / "bad-rotation" / "stray", "stray", *authority.issue("keygate-stray"))
    shutil.copyfile(stray.certificate_path, live.certificate_path)
    mark = len(rotating.log)
    rotating.process.send_signal(signal.SIGHUP)
    line = rotating.wait_for_log(r"TLS certificate not reloaded", after=mark)
    assert "previous one stays in use" in line and f"'{live.key_path}' does not match" in line, line
    with tls_socket(rotating, client_context(authority)) as connection:
        assert peer_serial(connection) == live.serial

    # A missing file: the same, naming it.
    live.key_path.unlink()
    mark = len(rotating.log)
    rotating.process.send_signal(signal.SIGHUP)
    line = rotating.wait_for_log(r"TLS certificate not reloaded", after=mark)
    assert f"'{live.key_path}': No such file or directory" in line, line
    assert rest(rotating, authority, "GET", "/healthz").status_code == 200
    with tls_socket(rotating, client_context(authority)) as connection:
        assert peer_serial(connection) == live.serial


def test_sighup_without_tls_changes_nothing(request: pytest.FixtureRequest) -> None:
    plain = start_server(request, PUBLIC, ("--memory-only",))
    plain.process.send_signal(signal.SIGHUP)
    plain.wait_for_log(r"Nothing to reload")
    assert requests.get(f"{plain.base_url}/healthz", timeout=REPLY_TIMEOUT).status_code == 200
    assert plain.process.poll() is None
    assert not any("TLS certificate" in line for line in plain.log)
    assert requests.get(f"{plain.base_url}/healthz", timeout=REPLY_TIMEOUT).status_code == 200
