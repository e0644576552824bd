"""Bad bytes and request smuggling, over raw sockets, against the real `keygate` server.

Each test sends bytes no well-behaved client sends (broken escapes, control and non-UTF-8
bytes, conflicting framing headers, smuggled requests hidden in bodies, odd versions and
targets) and checks that the server:

- answers with a 4xx `application/problem+json` (RFC 9457) or closes the connection;
  libmicrohttpd refuses some requests itself, before our code sees them, with its own small
  HTML 400/413/414/505 answers (sometimes with its header block written twice): those are
  asserted as "refused by libmicrohttpd", a 4xx (or 505 for versions) then a close;
- never applies the bad request, nor a request hidden inside it: the key or queue it aimed at
  is checked afterwards;
- stays up: after every test the process is alive and `/healthz` answers 200.

The answers are read until the server closes the connection or stays silent for
`IDLE_TIMEOUT`; requests that are not about the connection's reuse carry
`Connection: close`, so that most tests end as soon as the server closes.

A few cases are marked `xfail(strict=True)`: libmicrohttpd 0.9.75 gets them wrong before our
code can tell (a NUL truncates the target or a header value; a folded empty field vanishes);
each reason says what a fix needs. They fail loudly
(XPASS) once fixed.

Run from the repository root:

    KEYGATE_BINARY=.build/debug/keygate python3 -m pytest -q Tests/contract/test_bad_bytes.py
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Iterator

import pytest
import requests

from keygate_server import REPO, RunningServer, start_server

PUBLIC = REPO / "public"

# How long a connection may stay silent before the exchange is taken as over: the server
# answers within milliseconds on loopback, so a second answer would have come by then.
IDLE_TIMEOUT = 0.4
# The longest one exchange lasts, whatever the server does.
EXCHANGE_TIMEOUT = 2.0
REQUEST_TIMEOUT = 5.0
PROBLEM = "application/problem+json"


# --- Raw exchanges ----------------------------------------------------------------------


@dataclass
class RawResponse:
    """One response as read off the socket."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of the header `name` (case-insensitive), or `None`."""
        return next((value for key, value in self.headers if key.lower() == name.lower()), None)

    @property
    def problem(self) -> dict[str, Any]:
        """The body as a JSON object."""
        document = json.loads(self.body)
        assert isinstance(document, dict), self.body
        return document


@dataclass
class Exchange:
    """What the server sent back for some bytes: its complete responses, in order, whether it
    closed the connection, and any bytes that did not make a complete response."""

    responses: list[RawResponse] = field(default_factory=list)
    closed: bool = False
    rest: bytes = b""

    @property
    def statuses(self) -> list[int]:
        return [response.status for response in self.responses]


def parse_responses(data: bytes, *, head: bool = False) -> tuple[list[RawResponse], bytes]:
    """The complete responses at the start of `data`, and what follows them.

    Bodies are framed by `Content-Length` or chunked encoding; 1xx, 204 and 304 answers, and
    every answer when `head` is set, have none.
    """
    responses: list[RawResponse] = []
    while (end := data.find(b"\r\n\r\n")) >= 0:
        lines = data[:end].decode("latin-1").split("\r\n")
        version, _, rest = lines[0].partition(" ")
        code, _, reason = rest.partition(" ")
        assert version.startswith("HTTP/1.") and code.isdigit(), f"not a status line: {lines[0]!r}"
        headers = [(name.strip(), value.strip()) for name, _, value in (line.partition(":") for line in lines[1:])]
        response = RawResponse(int(code), reason, headers, b"")
        position = end + 4
        if head or response.status in (204, 304) or response.status < 200:
            pass
        elif (response.header("Transfer-Encoding") or "").lower() == "chunked":
            body = b""
            while True:
                line_end = data.find(b"\r\n", position)
                if line_end < 0:
                    return responses, data
                size = int(data[position:line_end].split(b";")[0], 16)
                if len(data) < line_end + 2 + size + 2:
                    return responses, data
                body += data[line_end + 2:line_end + 2 + size]
                position = line_end + 2 + size + 2
                if size == 0:
                    break
            response.body = body
        elif (length := response.header("Content-Length")) is not None:
            if len(data) < position + int(length):
                return responses, data
            response.body = data[position:position + int(length)]
            position += int(length)
        responses.append(response)
        data = data[position:]
    return responses, data


def exchange(
    server: RunningServer, *parts: bytes, half_close: bool = False, close_after: float | None = None,
    head: bool = False,
) -> Exchange:
    """Sends `parts` on a new connection (one write each) and reads until the server closes
    the connection or stays silent for IDLE_TIMEOUT, at most EXCHANGE_TIMEOUT.

    `half_close` shuts the sending side after the last part (the client has no more to say);
    `close_after` closes the connection that many seconds after sending instead of reading on,
    as a client that gives up.
    """
    received = b""
    closed = False
    with socket.create_connection((server.host, server.port), timeout=REQUEST_TIMEOUT) as connection:
        for part in parts:
            connection.sendall(part)
        if half_close:
            connection.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + (close_after if close_after is not None else EXCHANGE_TIMEOUT)
        while (remaining := deadline - time.monotonic()) > 0:
            connection.settimeout(min(remaining, IDLE_TIMEOUT if close_after is None else remaining))
            try:
                data = connection.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not data:
                closed = True
                break
            received += data
    responses, rest = parse_responses(received, head=head)
    return Exchange(responses, closed, rest)


def request(
    method: str, target: str, headers: dict[str, str] | None = None, body: bytes | None = None,
    *, close: bool = True,
) -> bytes:
    """An HTTP/1.1 request's bytes: `Host`, `Content-Length` when there is a body, and
    `Connection: close` unless `close` is false."""
    lines = [f"{method} {target} HTTP/1.1", "Host: keygate"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    if body is not None:
        lines.append(f"Content-Length: {len(body)}")
    if close:
        lines.append("Connection: close")
    return "\r\n".join(lines).encode("latin-1") + b"\r\n\r\n" + (body or b"")


# --- Assertions -------------------------------------------------------------------------


def assert_problem(response: RawResponse, status: int, slug: str | None = None) -> None:
    """`response` is an RFC 9457 problem with `status` (and the type `/problems/<slug>`)."""
    assert response.status == status, (response.status, response.body)
    assert response.header("Content-Type") == PROBLEM, response.headers
    problem = response.problem
    assert problem["status"] == status
    assert isinstance(problem["title"], str) and problem["title"]
    assert isinstance(problem["detail"], str) and problem["detail"]
    assert problem["type"] == (f"/problems/{slug}" if slug else problem["type"])
    assert problem["type"].startswith("/problems/")


def assert_one_problem(answer: Exchange, status: int, slug: str | None = None, *, closed: bool = True) -> None:
    """Exactly one answer, a problem; then (with `closed`) the server closed the connection."""
    assert len(answer.responses) == 1, answer
    assert_problem(answer.responses[0], status, slug)
    assert answer.rest == b"", answer
    if closed:
        assert answer.closed, "the server kept the connection open"


def assert_refused_by_libmicrohttpd(answer: Exchange, statuses: tuple[int, ...] = (400,)) -> None:
    """libmicrohttpd answered itself, before our code saw the request: one of `statuses` (its
    HTML page, not a problem), then a close; or a close with no answer."""
    if answer.responses:
        assert answer.responses[0].status in statuses, answer
        assert answer.responses[0].header("Content-Type") != PROBLEM
    assert answer.closed, "libmicrohttpd kept the connection open"


def assert_no_answer(answer: Exchange) -> None:
    """The server sent nothing (it waits for the rest of the request, or closed)."""
    assert answer.responses == [] and answer.rest == b"", answer


# --- The server and its state -----------------------------------------------------------


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest) -> RunningServer:
    return start_server(request, PUBLIC)


@pytest.fixture(scope="module")
def http(server: RunningServer) -> Iterator[requests.Session]:
    session = requests.Session()
    yield session
    session.close()


@pytest.fixture(autouse=True)
def still_serving(server: RunningServer, http: requests.Session) -> Iterator[None]:
    """After each test: the process is alive and answers /healthz."""
    yield
    assert server.process.poll() is None, "".join(server.log[-30:])
    assert http.get(f"{server.base_url}/healthz", timeout=REQUEST_TIMEOUT).status_code == 200


@pytest.fixture
def key() -> str:
    """A key (and queue) name no other test uses; bad requests aim at keys that start with it."""
    return f"bad-{uuid.uuid4().hex[:12]}"


def keys_with_prefix(server: RunningServer, http: requests.Session, prefix: str) -> list[str]:
    answer = http.get(f"{server.base_url}/v1/keys", params={"prefix": prefix}, timeout=REQUEST_TIMEOUT)
    assert answer.status_code == 200
    return [entry["key"] for entry in answer.json()["keys"]]


def assert_nothing_stored(server: RunningServer, http: requests.Session, prefix: str) -> None:
    """No key starting with `prefix` exists: the bad request created none."""
    assert keys_with_prefix(server, http, prefix) == []


def put_value(server: RunningServer, http: requests.Session, key: str, value: bytes) -> str:
    answer = http.put(f"{server.base_url}/v1/cache/{key}", data=value, timeout=REQUEST_TIMEOUT)
    assert answer.status_code in (201, 204)
    return answer.headers["ETag"]


def stored(server: RunningServer, http: requests.Session, key: str) -> tuple[bytes, str] | None:
    """The value at `key` and its Content-Type, or `None` when there is none."""
    answer = http.get(f"{server.base_url}/v1/cache/{key}", timeout=REQUEST_TIMEOUT)
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200
    return answer.content, answer.headers["Content-Type"]


# --- Percent-encoding and bytes in the target -------------------------------------------


@pytest.mark.parametrize("escape", ["%zz", "%4", "%", "%g0", "%%41"])
@pytest.mark.parametrize("method", ["PUT", "GET", "DELETE"])
def test_invalid_percent_encoding_in_the_key_is_a_400(
    server: RunningServer, http: requests.Session, key: str, method: str, escape: str,
) -> None:
    """A `%` not followed by two hex digits is refused, never guessed at, and stores nothing."""
    body = b"v" if method == "PUT" else None
    answer = exchange(server, request(method, f"/v1/cache/{key}{escape}", body=body))
    assert_one_problem(answer, 400, "bad-request")
    assert "'%'" in answer.responses[0].problem["detail"]
    assert_nothing_stored(server, http, key)


@pytest.mark.parametrize("escape", ["%00", "%01", "%0a", "%0D", "%1b", "%1f", "%7f"])
def test_percent_encoded_control_bytes_in_a_key_are_a_400(
    server: RunningServer, http: requests.Session, key: str, escape: str,
) -> None:
    """A key may not hold NUL or any other control byte, however it is encoded."""
    answer = exchange(server, request("PUT", f"/v1/cache/{key}{escape}x", body=b"v"))
    assert_one_problem(answer, 400, "invalid-key")
    assert_nothing_stored(server, http, key)


@pytest.mark.parametrize("byte", [b"\x01", b"\x07", b"\t", b"\x1b", b"\x7f", b" "], ids=repr)
@pytest.mark.parametrize("route", ["/v1/cache/{key}", "/v1/queues/{key}"])
def test_raw_control_bytes_and_spaces_in_the_target_are_a_400(
    server: RunningServer, http: requests.Session, key: str, byte: bytes, route: str,
) -> None:
    """Bytes that must be percent-encoded are refused when sent raw; libmicrohttpd passes a
    target with a space on (it takes the line's last space as the target's end)."""
    method = "PUT" if "cache" in route else "POST"
    target = route.format(key=key).encode() + byte + b"x"
    data = method.encode() + b" " + target + b" HTTP/1.1\r\nHost: k\r\nContent-Length: 1\r\nConnection: close\r\n\r\nv"
    assert_one_problem(exchange(server, data), 400, "bad-request")
    assert_nothing_stored(server, http, key)


@pytest.mark.xfail(strict=True, reason=(
    "libmicrohttpd 0.9.75 hands the access handler a NUL-terminated target, so "
    "Callbacks.swift sees '/v1/cache/<key>' and stores the truncated key; the fix needs the "
    "target's real end (0.9.75 only gives it implicitly: the `version` argument points past "
    "it in the same line buffer) or a libmicrohttpd that refuses NUL in the request line"))
def test_a_raw_nul_in_the_target_is_refused(server: RunningServer, http: requests.Session, key: str) -> None:
    """A raw NUL in the target must not cut it short: nothing is stored at the prefix."""
    data = f"PUT /v1/cache/{key}".encode() + b"\x00tail HTTP/1.1\r\nHost: k\r\nContent-Length: 1\r\nConnection: close\r\n\r\nv"
    answer = exchange(server, data)
    assert all(400 <= status < 500 for status in answer.statuses), answer
    assert_nothing_stored(server, http, key)


@pytest.mark.parametrize("segment", [b"%ff", b"\xff", b"%c3%28", b"\xc3(", b"%c3", b"%ed%a0%80", b"%c0%af"], ids=repr)
def test_non_utf8_keys_are_a_400(server: RunningServer, http: requests.Session, key: str, segment: bytes) -> None:
    """A key is UTF-8 text: raw or escaped invalid sequences (truncated, surrogates,
    overlong) are refused."""
    data = b"PUT /v1/cache/" + key.encode() + segment + b" HTTP/1.1\r\nHost: k\r\nContent-Length: 1\r\nConnection: close\r\n\r\nv"
    assert_one_problem(exchange(server, data), 400, "invalid-key")
    assert_nothing_stored(server, http, key)


@pytest.mark.parametrize("query", [b"ttl=%ff", b"ttl=\xff", b"ttl=%zz", b"ttl=%c3%28", b"%ff=1", b"t%00tl=5", b"ttl=5%00"], ids=repr)
def test_bad_bytes_in_query_values_are_a_400(
    server: RunningServer, http: requests.Session, key: str, query: bytes,
) -> None:
    """Query names and values are decoded strictly; a PUT with a bad one stores nothing."""
    data = b"PUT /v1/cache/" + key.encode() + b"?" + query + b" HTTP/1.1\r\nHost: k\r\nContent-Length: 1\r\nConnection: close\r\n\r\nv"
    assert_one_problem(exchange(server, data), 400)
    assert_nothing_stored(server, http, key)


@pytest.mark.parametrize("query", ["wait=%c3%28", "wait=%ff", "wait=%", "wait=1%00"])
def test_bad_bytes_in_a_pops_wait_are_a_400_and_pop_nothing(
    server: RunningServer, http: requests.Session, key: str, query: str,
) -> None:
    """A pop with a bad `wait` is refused before it pops: the queue keeps its message."""
    assert http.post(f"{server.base_url}/v1/queues/{key}", data=b"m", timeout=REQUEST_TIMEOUT).status_code == 201
    assert_one_problem(exchange(server, request("POST", f"/v1/queues/{key}/pop?{query}")), 400)
    assert http.get(f"{server.base_url}/v1/queues/{key}", timeout=REQUEST_TIMEOUT).json()["length"] == 1


@pytest.mark.parametrize("value", [b"text/\xff", b"text/plain\x01", b"text/plain; charset=\xc3(", b"\x7f/x"], ids=repr)
def test_bad_bytes_in_content_type_are_a_400(
    server: RunningServer, http: requests.Session, key: str, value: bytes,
) -> None:
    """A Content-Type outside visible ASCII is refused, for values and for messages."""
    for target in (f"/v1/cache/{key}", f"/v1/queues/{key}"):
        method = b"PUT" if "cache" in target else b"POST"
        data = (method + b" " + target.encode() + b" HTTP/1.1\r\nHost: k\r\nContent-Type: " + value
                + b"\r\nContent-Length: 1\r\nConnection: close\r\n\r\nv")
        assert_one_problem(exchange(server, data), 400, "bad-request")
    assert_nothing_stored(server, http, key)


@pytest.mark.parametrize("value", [b'"\xff"', b"\xff", b'"a\x01"', b"W/\"\x80\"", b"*\x01"], ids=repr)
def test_bad_bytes_in_if_match_change_nothing(
    server: RunningServer, http: requests.Session, key: str, value: bytes,
) -> None:
    """An If-Match no entity tag of ours can match (obs-text, control bytes) fails the
    condition or is refused: the value stays as it was."""
    put_value(server, http, key, b"before")
    data = (b"PUT /v1/cache/" + key.encode() + b" HTTP/1.1\r\nHost: k\r\nIf-Match: " + value
            + b"\r\nContent-Length: 5\r\nConnection: close\r\n\r\nafter")
    answer = exchange(server, data)
    assert len(answer.responses) == 1, answer
    assert answer.responses[0].status in (400, 412)
    assert_problem(answer.responses[0], answer.responses[0].status)
    assert stored(server, http, key) == (b"before", "application/octet-stream")


@pytest.mark.xfail(strict=True, reason=(
    "libmicrohttpd 0.9.75 ends a header value at a NUL (RFC 9110, section 5.5, says reject or "
    "replace it with SP), so the gateway reads 'text/plain' and stores the value; only a "
    "libmicrohttpd that refuses NUL in header lines can fix it"))
def test_a_nul_in_a_header_value_is_refused(server: RunningServer, http: requests.Session, key: str) -> None:
    """A NUL inside Content-Type must not cut the value short and store it."""
    data = (b"PUT /v1/cache/" + key.encode() + b" HTTP/1.1\r\nHost: k\r\nContent-Type: text/plain\x00junk"
            + b"\r\nContent-Length: 1\r\nConnection: close\r\n\r\nv")
    answer = exchange(server, data)
    assert all(400 <= status < 500 for status in answer.statuses), answer
    assert_nothing_stored(server, http, key)


def test_unused_headers_with_control_bytes_are_ignored(server: RunningServer, http: requests.Session, key: str) -> None:
    """A header the server does not read may hold anything: the request is served as sent."""
    data = (b"PUT /v1/cache/" + key.encode() + b" HTTP/1.1\r\nHost: k\r\nX-Junk: a\x01\xff\x7fb"
            + b"\r\nContent-Length: 1\r\nConnection: close\r\n\r\nv")
    assert exchange(server, data).statuses == [201]
    assert stored(server, http, key) == (b"v", "application/octet-stream")


# --- Duplicate and conflicting headers --------------------------------------------------


@pytest.mark.parametrize(("lengths", "body"), [
    pytest.param(("3", "3"), b"abc", id="same"),
    pytest.param(("3", "5"), b"abcde", id="different"),
    pytest.param(("5", "3"), b"abcde", id="different-longer-first"),
])
def test_two_content_lengths_are_a_400_that_closes(
    server: RunningServer, http: requests.Session, key: str, lengths: tuple[str, str], body: bytes,
) -> None:
    """Two Content-Length fields are refused and the connection closed (RFC 9112, section
    6.3): the bytes past the shorter length are never read as a request."""
    head = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length: {lengths[0]}\r\nContent-Length: {lengths[1]}\r\n\r\n"
    answer = exchange(server, head.encode() + body + request("PUT", f"/v1/cache/{key}-smuggled", body=b"z"))
    assert_one_problem(answer, 400, "bad-request")
    assert answer.responses[0].header("Connection") == "close"
    assert_nothing_stored(server, http, key)


@pytest.mark.parametrize("value", ["3, 3", "3,5", "+3", "-3", "-1", " 3 4", "0x3", "3.0", "3e0", "", "three", "\t3\x0b"])
def test_malformed_content_lengths_are_refused_by_libmicrohttpd(
    server: RunningServer, http: requests.Session, key: str, value: str,
) -> None:
    """A Content-Length that is not one decimal number (a list, a sign, hex, a space inside)
    gets libmicrohttpd's own 400 and a close."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length: {value}\r\n\r\nabc".encode("latin-1")
    assert_refused_by_libmicrohttpd(exchange(server, data))
    assert_nothing_stored(server, http, key)


@pytest.mark.parametrize("value", ["18446744073709551617", "99999999999999999999999"])
def test_content_lengths_past_64_bits_are_refused_by_libmicrohttpd(
    server: RunningServer, http: requests.Session, key: str, value: str,
) -> None:
    """A length that does not fit 64 bits gets libmicrohttpd's own 413 and a close."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length: {value}\r\n\r\nabc".encode()
    assert_refused_by_libmicrohttpd(exchange(server, data), (413,))
    assert_nothing_stored(server, http, key)


@pytest.mark.parametrize("value", ["9223372036854775807", "8388609"])
def test_content_lengths_past_the_body_limit_are_a_413(
    server: RunningServer, http: requests.Session, key: str, value: str,
) -> None:
    """A declared length past `--max-body-bytes` is refused before the body is read."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length: {value}\r\n\r\nabc".encode()
    assert_one_problem(exchange(server, data), 413, "content-too-large")
    assert_nothing_stored(server, http, key)


def test_leading_zeros_in_content_length_are_the_same_number(
    server: RunningServer, http: requests.Session, key: str,
) -> None:
    """`003` is 1*DIGIT, so valid: three bytes are stored, nothing more."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length: 003\r\nConnection: close\r\n\r\nabc".encode()
    assert exchange(server, data).statuses == [201]
    assert stored(server, http, key) == (b"abc", "application/octet-stream")


def test_two_content_types_are_a_400(server: RunningServer, http: requests.Session, key: str) -> None:
    """Content-Type names one media type (RFC 9110, section 8.3): two are refused, for a
    value and for a message, and nothing is stored."""
    for method, target in (("PUT", f"/v1/cache/{key}"), ("POST", f"/v1/queues/{key}")):
        data = (f"{method} {target} HTTP/1.1\r\nHost: k\r\nContent-Type: text/plain\r\n"
                "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}").encode()
        assert_one_problem(exchange(server, data), 400, "bad-request")
    assert_nothing_stored(server, http, key)


def test_two_if_match_fields_are_one_list(server: RunningServer, http: requests.Session, key: str) -> None:
    """If-Match is a list (RFC 9110, section 5.3): two fields mean either tag. With neither
    current, nothing changes (412); with one current, the write is made."""
    tag = put_value(server, http, key, b"before")
    stale = f'"{uuid.uuid4().hex}"'
    for tags, status, value in (((stale, '"0"'), 412, b"before"), ((stale, tag), 204, b"after")):
        data = (f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nIf-Match: {tags[0]}\r\nIf-Match: {tags[1]}\r\n"
                "Content-Length: 5\r\nConnection: close\r\n\r\nafter").encode()
        answer = exchange(server, data)
        assert answer.statuses == [status], answer
        if status == 412:
            assert_problem(answer.responses[0], 412, "precondition-failed")
        assert stored(server, http, key) == (value, "application/octet-stream")


def test_two_hosts_are_a_400_that_closes(server: RunningServer, http: requests.Session, key: str) -> None:
    """RFC 9112, section 3.2: a request with two Host lines gets a 400; nothing is stored."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 1\r\n\r\nv".encode()
    assert_one_problem(exchange(server, data), 400, "bad-request")
    assert_nothing_stored(server, http, key)


# --- Content-Length against the bytes sent ----------------------------------------------


@pytest.mark.parametrize("half_close", [False, True], ids=["gives-up", "half-closes"])
def test_a_body_shorter_than_declared_is_never_applied(
    server: RunningServer, http: requests.Session, key: str, half_close: bool,
) -> None:
    """The server waits for the declared bytes; a client that stalls and leaves (or shuts its
    side) gets no answer, and the partial PUT is not applied."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length: 10\r\n\r\nabc".encode()
    answer = exchange(server, data, half_close=half_close, close_after=0.3)
    assert_no_answer(answer)
    assert_nothing_stored(server, http, key)


def test_bytes_past_the_declared_length_are_a_request_of_their_own(
    server: RunningServer, http: requests.Session, key: str,
) -> None:
    """The PUT stores exactly the declared bytes; the garbage after it is read as a request,
    which libmicrohttpd refuses with its 400 and a close; nothing else is stored."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length: 3\r\n\r\nabcXYZ garbage\r\n\r\n".encode()
    answer = exchange(server, data)
    assert answer.statuses[:1] == [201], answer
    assert_refused_by_libmicrohttpd(Exchange(answer.responses[1:], answer.closed, answer.rest))
    assert stored(server, http, key) == (b"abc", "application/octet-stream")
    assert keys_with_prefix(server, http, key) == [key]


def test_a_whole_request_past_the_declared_length_is_pipelined(
    server: RunningServer, http: requests.Session, key: str,
) -> None:
    """Framing is by Content-Length alone: a complete request after the body is the next
    request of the connection (HTTP/1.1 pipelining), read exactly as any proxy honouring
    the same length reads it; the first value holds the declared bytes only."""
    first = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length: 3\r\n\r\nabc".encode()
    answer = exchange(server, first + request("PUT", f"/v1/cache/{key}-next", body=b"z"))
    assert answer.statuses == [201, 201], answer
    assert stored(server, http, key) == (b"abc", "application/octet-stream")
    assert stored(server, http, f"{key}-next") == (b"z", "application/octet-stream")


# --- Transfer-Encoding and smuggling ----------------------------------------------------


def test_chunked_with_a_content_length_smuggles_no_delete(
    server: RunningServer, http: requests.Session, key: str,
) -> None:
    """TE.CL: Transfer-Encoding and Content-Length together are refused with a 400 and a
    close (RFC 9112, section 6.3); the DELETE after the chunked body, which a reader honouring
    Content-Length takes for part of this request, is never run."""
    victim = f"{key}-victim"
    put_value(server, http, victim, b"keep")
    data = (f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n0\r\n\r\n").encode() + request("DELETE", f"/v1/cache/{victim}", close=False)
    answer = exchange(server, data)
    assert_one_problem(answer, 400, "bad-request")
    assert stored(server, http, victim) == (b"keep", "application/octet-stream")
    assert keys_with_prefix(server, http, key) == [victim]


def test_content_length_with_chunked_smuggles_no_put(
    server: RunningServer, http: requests.Session, key: str,
) -> None:
    """CL.TE: a Content-Length covering a whole hidden PUT, with a chunked body that ends at
    once, is refused and closed: neither this PUT nor the hidden one is applied."""
    hidden = request("PUT", f"/v1/cache/{key}-smuggled", body=b"z", close=False)
    body = b"0\r\n\r\n" + hidden
    data = (f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    assert_one_problem(exchange(server, data), 400, "bad-request")
    assert_nothing_stored(server, http, key)


def test_chunked_twice_is_a_400_that_closes(server: RunningServer, http: requests.Session, key: str) -> None:
    """`chunked` applied twice is not a valid coding list (RFC 9112, section 7): refused."""
    data = (f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
            "3\r\nabc\r\n0\r\n\r\n").encode() + request("PUT", f"/v1/cache/{key}-smuggled", body=b"z", close=False)
    assert_one_problem(exchange(server, data), 400, "bad-request")
    assert_nothing_stored(server, http, key)


@pytest.mark.parametrize("coding", ["chunked, identity", "identity", "xchunked", "gzip, chunked", "chunked;q=1", "x"])
@pytest.mark.parametrize("half_close", [False, True], ids=["open", "half-closed"])
def test_unknown_transfer_codings_are_never_applied(
    server: RunningServer, http: requests.Session, key: str, coding: str, half_close: bool,
) -> None:
    """A coding other than a lone `chunked` leaves libmicrohttpd 0.9.75 waiting for a body
    it cannot frame (it answers nothing, or closes); neither the PUT nor the request hidden
    after it is applied. (Such a connection stays in flight after the client leaves, so the
    server's stop at the end of the module waits out its 5 s grace period.)"""
    data = (f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: {coding}\r\nContent-Length: 3\r\n\r\n"
            "3\r\nabc\r\n0\r\n\r\n").encode() + request("PUT", f"/v1/cache/{key}-smuggled", body=b"z")
    answer = exchange(server, data, half_close=half_close)
    for response in answer.responses:
        assert 400 <= response.status < 500, answer
    assert_nothing_stored(server, http, key)


def test_chunked_is_case_insensitive(server: RunningServer, http: requests.Session, key: str) -> None:
    """`CHUNKED` is `chunked` (codings are case-insensitive): the body is decoded and stored."""
    data = (f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: CHUNKED\r\nConnection: close\r\n\r\n"
            "3\r\nabc\r\n0\r\n\r\n").encode()
    assert exchange(server, data).statuses == [201]
    assert stored(server, http, key) == (b"abc", "application/octet-stream")


@pytest.mark.parametrize(("size_line", "statuses"), [
    pytest.param(b"zz", (400,), id="not-hex"),
    pytest.param(b"-3", (400,), id="negative"),
    pytest.param(b"ffffffffffffffffff", (413,), id="past-64-bits"),
    pytest.param(b" 3", (400,), id="leading-space"),
    pytest.param(b"", (400,), id="empty"),
])
def test_bad_chunk_sizes_are_refused_by_libmicrohttpd(
    server: RunningServer, http: requests.Session, key: str, size_line: bytes, statuses: tuple[int, ...],
) -> None:
    """A chunk size that is not hex digits, or one past 64 bits, gets libmicrohttpd's own
    answer and a close; nothing is stored."""
    data = (f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + size_line + b"\r\nabc\r\n0\r\n\r\n")
    assert_refused_by_libmicrohttpd(exchange(server, data), statuses)
    assert_nothing_stored(server, http, key)


def test_a_chunk_longer_than_its_size_is_refused_by_libmicrohttpd(
    server: RunningServer, http: requests.Session, key: str,
) -> None:
    """Data past a chunk's declared size where its CRLF belongs is a 400 and a close."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcdef\r\n0\r\n\r\n".encode()
    assert_refused_by_libmicrohttpd(exchange(server, data))
    assert_nothing_stored(server, http, key)


def test_a_chunk_size_beyond_the_limit_is_never_applied(server: RunningServer, http: requests.Session, key: str) -> None:
    """A chunk of 2^64 - 1 bytes is waited for (or the connection closed): nothing is stored."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc".encode()
    answer = exchange(server, data, close_after=0.3)
    assert all(400 <= status < 500 for status in answer.statuses), answer
    assert_nothing_stored(server, http, key)


def test_chunk_extensions_are_ignored(server: RunningServer, http: requests.Session, key: str) -> None:
    """Chunk extensions (RFC 9112, section 7.1.1) carry nothing we use: only the data is stored."""
    data = (f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
            '3;name=value;quoted="a b"\r\nabc\r\n0;last\r\n\r\n').encode()
    assert exchange(server, data).statuses == [201]
    assert stored(server, http, key) == (b"abc", "application/octet-stream")


@pytest.mark.parametrize("half_close", [False, True], ids=["gives-up", "half-closes"])
def test_a_chunked_body_without_its_last_chunk_is_never_applied(
    server: RunningServer, http: requests.Session, key: str, half_close: bool,
) -> None:
    """Without the final `0` chunk the body is not complete: no answer, nothing stored."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n".encode()
    assert_no_answer(exchange(server, data, half_close=half_close, close_after=0.3))
    assert_nothing_stored(server, http, key)


def test_bare_lf_line_ends_are_read_as_line_ends(server: RunningServer, http: requests.Session, key: str) -> None:
    """RFC 9112, section 2.2, lets a recipient take a bare LF as a line end; libmicrohttpd
    does, in the head and in chunk lines alike, so the framing is the same as with CRLF:
    exactly the body is stored, and nothing is smuggled."""
    data = (f"PUT /v1/cache/{key} HTTP/1.1\nHost: k\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n".encode()
            + request("PUT", f"/v1/cache/{key}-next", body=b"z"))
    assert exchange(server, data).statuses == [201, 201]
    assert stored(server, http, key) == (b"abc", "application/octet-stream")


def test_a_bare_cr_is_refused_by_libmicrohttpd(server: RunningServer, http: requests.Session, key: str) -> None:
    """A CR not followed by LF ends no line: libmicrohttpd answers 400 and closes."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\rHost: k\rContent-Length: 3\r\r\nabc".encode()
    assert_refused_by_libmicrohttpd(exchange(server, data))
    assert_nothing_stored(server, http, key)


@pytest.mark.xfail(strict=True, reason=(
    "libmicrohttpd 0.9.75 drops a field whose value is folded onto the next line "
    "('Transfer-Encoding:' then ' chunked') without a trace the server can see (the names it "
    "reports are all tokens), so the field silently vanishes; RFC 9112, section 5.2, wants a "
    "400 or the fold replaced by SP. Framing stays by Content-Length, as the next test shows "
    "for a fold the server does see"))
def test_obs_fold_is_refused(server: RunningServer, http: requests.Session, key: str) -> None:
    """A folded Transfer-Encoding (which a proxy unfolding it reads as chunked) is refused
    rather than dropped: nothing is stored and the hidden PUT is not run."""
    hidden = request("PUT", f"/v1/cache/{key}-smuggled", body=b"z", close=False)
    data = (f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length: 5\r\nTransfer-Encoding:\r\n chunked\r\n\r\n"
            "0\r\n\r\n").encode() + hidden
    answer = exchange(server, data)
    assert all(400 <= status < 500 for status in answer.statuses), answer
    assert_nothing_stored(server, http, key)


def test_a_folded_field_that_libmicrohttpd_joins_to_a_name_is_refused(
    server: RunningServer, http: requests.Session, key: str,
) -> None:
    """libmicrohttpd 0.9.75 joins the folded line to a field name, which is then no token:
    the request is a 400 that closes the connection, and nothing is stored."""
    data = (f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Type: text/plain\r\n ; charset=utf-8\r\n"
            "Content-Length: 3\r\nConnection: close\r\n\r\nabc").encode()
    answer = exchange(server, data)
    assert answer.statuses == [400], answer
    assert_nothing_stored(server, http, key)


def test_a_space_before_the_colon_smuggles_nothing(server: RunningServer, http: requests.Session, key: str) -> None:
    """`Content-Length : n` is refused (RFC 9112, section 5.1), so its body is never read as a
    request: libmicrohttpd 0.9.75 keeps the space in the name, which is then no token."""
    hidden = request("PUT", f"/v1/cache/{key}-smuggled", body=b"z", close=False)
    data = (f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length : {len(hidden)}\r\n\r\n").encode() + hidden
    answer = exchange(server, data)
    assert all(400 <= status < 500 for status in answer.statuses), answer
    assert_nothing_stored(server, http, key)


def test_a_header_line_without_a_colon_is_refused_by_libmicrohttpd(
    server: RunningServer, http: requests.Session, key: str,
) -> None:
    """A header line with no colon is a 400 and a close."""
    data = f"PUT /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nGarbage\r\nContent-Length: 1\r\n\r\nv".encode()
    assert_refused_by_libmicrohttpd(exchange(server, data))
    assert_nothing_stored(server, http, key)


# --- Bodies where none belong -----------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "DELETE"])
def test_a_body_on_a_bodiless_method_is_ignored_not_parsed(
    server: RunningServer, http: requests.Session, key: str, method: str,
) -> None:
    """A body framed by Content-Length on GET/HEAD/OPTIONS/DELETE is read and ignored: the
    request hidden in it is never run, and only one answer comes. (DELETE is applied, its
    body having no meaning, RFC 9110, section 9.3.5.)"""
    put_value(server, http, key, b"keep")
    hidden = request("PUT", f"/v1/cache/{key}-smuggled", body=b"z", close=False)
    data = (f"{method} /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nContent-Length: {len(hidden)}\r\n\r\n").encode() + hidden
    answer = exchange(server, data, head=method == "HEAD")
    expected = {"GET": 200, "HEAD": 200, "OPTIONS": 204, "DELETE": 204}[method]
    assert answer.statuses == [expected], answer
    assert answer.rest == b""
    assert keys_with_prefix(server, http, key) == ([] if method == "DELETE" else [key])


def test_a_chunked_body_on_get_is_ignored(server: RunningServer, http: requests.Session, key: str) -> None:
    """A chunked body on GET is decoded and dropped; the request after it is the next one."""
    put_value(server, http, key, b"keep")
    data = (f"GET /v1/cache/{key} HTTP/1.1\r\nHost: k\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5\r\nGET /\r\n0\r\n\r\n").encode() + request("GET", "/healthz")
    answer = exchange(server, data)
    assert answer.statuses == [200, 200], answer
    assert answer.responses[0].body == b"keep"


# --- Versions, methods and targets ------------------------------------------------------


def test_http_1_0_is_served_and_closed(server: RunningServer, http: requests.Session, key: str) -> None:
    """HTTP/1.0 needs no Host; the answer is HTTP/1.1 with a close, the write is made."""
    answer = exchange(server, f"PUT /v1/cache/{key} HTTP/1.0\r\nContent-Length: 1\r\n\r\nv".encode())
    assert answer.statuses == [201] and answer.closed
    assert stored(server, http, key) == (b"v", "application/octet-stream")


@pytest.mark.parametrize("data", [
    pytest.param(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", id="h2-preface"),
    pytest.param(b"PUT /v1/cache/{key} HTTP/2.0\r\nHost: k\r\nContent-Length: 1\r\n\r\nv", id="HTTP/2.0"),
    pytest.param(b"PUT /v1/cache/{key} HTTP/9.9\r\nHost: k\r\nContent-Length: 1\r\n\r\nv", id="HTTP/9.9"),
    pytest.param(b"PUT /v1/cache/{key} HTTP/0.9\r\nHost: k\r\nContent-Length: 1\r\n\r\nv", id="HTTP/0.9"),
])
def test_other_major_versions_are_refused_by_libmicrohttpd(
    server: RunningServer, http: requests.Session, key: str, data: bytes,
) -> None:
    """The HTTP/2 preface and versions other than 1.x get libmicrohttpd's 505 (or 400) and a
    close: a 505 is the right answer to a version it does not speak, not a crash."""
    assert_refused_by_libmicrohttpd(exchange(server, data.replace(b"{key}", key.encode())), (400, 505))
    assert_nothing_stored(server, http, key)


@pytest.mark.parametrize("line", [
    pytest.param("PUT /v1/cache/{key}", id="no-version"),
    pytest.param("PUT /v1/cache/{key} HTTX/1.1", id="not-http"),
    pytest.param("PUT /v1/cache/{key} http/1.1", id="lowercase"),
    pytest.param("PUT /v1/cache/{key} HTTP/1.1 extra", id="extra-word"),
    pytest.param("PUT  HTTP/1.1", id="no-target"),
    pytest.param(" PUT /v1/cache/{key} HTTP/1.1", id="leading-space"),
])
def test_malformed_request_lines_are_refused_by_libmicrohttpd(
    server: RunningServer, http: requests.Session, key: str, line: str,
) -> None:
    """A request line that is not `method SP target SP HTTP/1.x` is a 400 and a close."""
    data = (line.format(key=key) + "\r\nHost: k\r\nContent-Length: 1\r\n\r\nv").encode()
    assert_refused_by_libmicrohttpd(exchange(server, data))
    assert_nothing_stored(server, http, key)


def test_a_higher_minor_version_is_served_as_http_1_1(server: RunningServer, http: requests.Session, key: str) -> None:
    """RFC 9112, section 2.3: HTTP/1.7 is processed as the highest 1.x the server speaks,
    so the PUT is applied, and the connection stays open as HTTP/1.1's would."""
    answer = exchange(server, f"PUT /v1/cache/{key} HTTP/1.7\r\nHost: k\r\nContent-Length: 1\r\n\r\nv".encode())
    assert answer.statuses == [201] and not answer.closed
    assert stored(server, http, key) == (b"v", "application/octet-stream")


@pytest.mark.parametrize("method", ["FOO", "put", "G\x01T", "PUT\x7f", "X" * 8000, "GET/", "PU{T}"])
def test_absurd_methods_are_a_405_and_change_nothing(
    server: RunningServer, http: requests.Session, key: str, method: str,
) -> None:
    """An unknown method (methods are case-sensitive) is a 405 listing the allowed ones."""
    put_value(server, http, key, b"keep")
    answer = exchange(server, request(method, f"/v1/cache/{key}", body=b"v"))
    assert_one_problem(answer, 405, "method-not-allowed")
    assert answer.responses[0].header("Allow") == "GET, HEAD, PUT, DELETE, OPTIONS"
    assert stored(server, http, key) == (b"keep", "application/octet-stream")


def test_a_method_past_the_header_memory_is_refused_by_libmicrohttpd(
    server: RunningServer, http: requests.Session, key: str,
) -> None:
    """A 100 kB method does not fit libmicrohttpd's connection memory: its 414 and a close."""
    data = b"X" * 100_000 + f" /v1/cache/{key} HTTP/1.1\r\nHost: k\r\n\r\n".encode()
    assert_refused_by_libmicrohttpd(exchange(server, data), (400, 414, 431))


@pytest.mark.parametrize("target", [
    "http://keygate/v1/cache/{key}", "https://keygate:443/v1/cache/{key}", "//keygate/v1/cache/{key}",
    "*", "keygate:80", "v1/cache/{key}",
])
@pytest.mark.parametrize("method", ["PUT", "DELETE"])
def test_targets_other_than_a_path_change_nothing(
    server: RunningServer, http: requests.Session, key: str, target: str, method: str,
) -> None:
    """Absolute-form, authority-form, `*` and relative targets are answered with a problem
    (404: no endpoint, the gateway serves origin-form only; `//host/...` is a static file
    path, so a PUT there is a 405) and store nothing."""
    answer = exchange(server, request(method, target.format(key=key), body=b"v"))
    assert len(answer.responses) == 1, answer
    assert answer.responses[0].status in (404, 405)
    assert_problem(answer.responses[0], answer.responses[0].status)
    assert_nothing_stored(server, http, key)
