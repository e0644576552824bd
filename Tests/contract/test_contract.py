"""The contract test: `openapi.yaml` against the real `keygate` server.

The document is validated as OpenAPI 3.1, then the server binary is started on port 0 and
every operation the document lists is called with realistic requests, good and bad. Each
answer must have a status the operation documents, a `Content-Type` among the documented
media types, the documented required headers, and a JSON body valid against the documented
schema (JSON Schema 2020-12, `$ref`s resolved within the document). The last test fails if
any operation of the document was not exercised, so the document cannot describe what the
tests do not hit; methods a path does not list must get a 405.

Pops that wait run on other threads, each with its own connection; the tests learn that a
pop is parked by polling the queue's `consumers`, with a deadline, never by fixed sleeps.
One test starts a second server (`--max-wait 30`) and stops it while pops are parked.

Event streams (`GET /v1/events`) never end on their own: they are read over raw sockets,
block by block, every read with a deadline, and closed when done. The tests learn that a
stream is open from its first block, and that no unexpected event came from the ids of
the events that follow; only the tests of expiry and heartbeats measure time. Tests that
expect exact event ids start a server of their own (its ids start at 1), some with a small
`--event-history` or a short `--heartbeat`.

Run from the repository root after `swift build`:

    python3 -m pytest -q Tests/contract

`KEYGATE_BINARY` names the server binary (see `keygate_server.py`).
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import math
import signal
import socket
import subprocess
import time
import urllib.parse
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import requests
from openapi_spec_validator import OpenAPIV31SpecValidator
from openapi_spec_validator import validate as validate_openapi
from requests.structures import CaseInsensitiveDict

from access_tokens import bearer, write_token_file
from keygate_server import (
    BINARY, ENGINE, REPO, SPEC_FILE, STOP_TIMEOUT, RunningServer, builtin_only, start_server, supports_persistence)
from openapi_document import SPEC, dereference, escape_pointer_token, lookup, schema_errors

PUBLIC = REPO / "public"

REQUEST_TIMEOUT = 10.0
# The server's default body limit (`--max-body-bytes`); the test starts it without the flag.
MAX_BODY_BYTES = 8 * 1024 * 1024
MAX_TTL_SECONDS = 10_000_000_000
# The server's default `--max-wait`, in seconds.
MAX_WAIT_SECONDS = 60
# The longest a test polls for a parked pop to show (or leave) in `consumers`.
PARK_TIMEOUT = 5.0
# The longest a test waits for a block it expects on an event stream.
EVENT_TIMEOUT = 5.0

# The operation keys of an OpenAPI path item.
OPERATION_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# Methods tried on every path; a path that does not list one must answer 405.
PROBED_METHODS = ("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS", "TRACE", "PURGE")
# A concrete value for each path parameter, for requests that only care about the path.
SAMPLE_PATH_VALUES = {"key": "sample", "name": "sample", "file": "index.html",
                      "receipt": "AQEAAAAAAAAAAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}

ETAG = re.compile(r'^"[0-9a-f]+"$')

# Paths outside /v1/ whose query is checked like the API's.
SERVICE_PATHS = {"/healthz", "/readyz", "/metrics"}
# Paths whose GET is a WebSocket handshake: they have no HEAD.
UPGRADE_PATHS = {"/v1/ws"}
# The value a server derives from the handshake key of RFC 6455, section 1.3.
RFC_6455_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
RFC_6455_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

# Every (path template, METHOD) the document lists.
OPERATIONS: dict[tuple[str, str], dict[str, Any]] = {
    (path, method.upper()): item[method]
    for path, item in SPEC["paths"].items()
    for method in OPERATION_METHODS
    if method in item
}
# What the tests did: operations answered as documented, those of them answered with a
# success (1xx to 3xx: the operation exists on the server, not only its errors), and paths
# whose other methods got 405.
EXERCISED: set[tuple[str, str]] = set()
SUCCEEDED: set[tuple[str, str]] = set()
METHOD_CHECKED_PATHS: set[str] = set()


# --- The document -----------------------------------------------------------------------


def operation_pointer(template: str, method: str) -> str:
    return f"/paths/{escape_pointer_token(template)}/{method.lower()}"


def documented_methods(template: str) -> set[str]:
    return {method.upper() for method in SPEC["paths"][template] if method in OPERATION_METHODS}


def parameters(template: str, method: str) -> list[dict[str, Any]]:
    """The resolved parameters of an operation, those of its path item included."""
    item = SPEC["paths"][template]
    listed = item.get("parameters", []) + item[method.lower()].get("parameters", [])
    return [dereference(parameter, "")[0] for parameter in listed]


def query_parameter_names(template: str, method: str) -> set[str]:
    return {parameter["name"] for parameter in parameters(template, method) if parameter["in"] == "query"}


def is_repeatable(parameter: dict[str, Any]) -> bool:
    """Whether a query parameter may be given several times: an array in the form style,
    exploded (`key=a&key=b`), as OpenAPI writes it."""
    exploded = parameter.get("explode", parameter.get("style", "form") == "form")
    return parameter["in"] == "query" and parameter["schema"].get("type") == "array" and exploded


def media_type_matches(documented: str, actual: str) -> bool:
    documented = documented.split(";")[0].strip().lower()
    actual = actual.split(";")[0].strip().lower()
    if documented == "*/*":
        return True
    if documented.endswith("/*"):
        return actual.startswith(documented[:-1])
    return documented == actual


def is_json(media_type: str) -> bool:
    essence = media_type.split(";")[0].strip().lower()
    return essence == "application/json" or essence.endswith("+json")


@dataclass
class Answer:
    """One HTTP answer, whichever client fetched it."""

    method: str
    target: str
    status: int
    headers: CaseInsensitiveDict[str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def __str__(self) -> str:
        return f"{self.method} {self.target} -> {self.status} {dict(self.headers)} {self.body[:300]!r}"


class Client:
    """Sends requests to one server and checks every answer against the document."""

    def __init__(self, server: RunningServer) -> None:
        self.server = server
        self.session = requests.Session()

    # Sending.

    def send(
        self, method: str, target: str, *, headers: dict[str, str] | None = None,
        body: bytes | None = None, raw: bool = False,
    ) -> Answer:
        """Sends a request; `raw` sends the target byte for byte (requests would normalize
        `..` and re-quote escapes), through `http.client`."""
        if raw:
            connection = self.connect()
            try:
                connection.request(method, target, body=body, headers=headers or {})
                return self.read(method, target, connection.getresponse())
            finally:
                connection.close()
        with self.session.request(
            method, self.server.base_url + target, headers=headers, data=body,
            allow_redirects=False, timeout=REQUEST_TIMEOUT, stream=True,
        ) as response:
            # An event stream never ends: its head is checked here, its body by EventStream.
            is_stream = response.headers.get("Content-Type", "").startswith("text/event-stream")
            content = b"" if is_stream and method != "HEAD" else response.content
            return Answer(method, target, response.status_code, response.headers, content)

    def send_declared_body(self, method: str, target: str, length: int) -> Answer:
        """Sends only the headers of a request declaring a body of `length` bytes."""
        connection = self.connect()
        try:
            connection.putrequest(method, target)
            connection.putheader("Content-Length", str(length))
            connection.putheader("Content-Type", "application/octet-stream")
            connection.endheaders()
            return self.read(method, target, connection.getresponse())
        finally:
            connection.close()

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.server.host, self.server.port, timeout=REQUEST_TIMEOUT)

    @staticmethod
    def read(method: str, target: str, response: http.client.HTTPResponse) -> Answer:
        headers = CaseInsensitiveDict(response.getheaders())
        # An event stream never ends: its head is checked here, its body by EventStream.
        is_stream = headers.get("Content-Type", "").startswith("text/event-stream")
        return Answer(method, target, response.status, headers, b"" if is_stream else response.read())

    # Calling documented operations.

    def call(
        self, method: str, template: str, *, path: dict[str, str] | None = None,
        query: Query | None = None,
        headers: dict[str, str] | None = None, body: bytes | None = None,
        raw_target: str | None = None, status: int | tuple[int, ...] | None = None,
        slugs: tuple[str, ...] | None = None,
    ) -> Answer:
        """Calls the operation `method template` and checks the answer against it.

        `path` fills the template (each value percent-encoded as one segment), `query` is
        pairs or a raw query string; `raw_target` replaces both. `status` is what the test
        expects, and `slugs` the problem types it accepts.
        """
        assert (template, method) in OPERATIONS, f"{method} {template} is not in openapi.yaml"
        target = raw_target if raw_target is not None else build_target(template, path or {}, query)
        answer = self.send(method, target, headers=headers, body=body, raw=raw_target is not None)
        if status is not None:
            expected = (status,) if isinstance(status, int) else status
            assert answer.status in expected, f"expected {expected}: {answer}"
        check_operation_answer(template, method, answer)
        if slugs is not None and method != "HEAD":
            assert answer.json()["type"] in {f"/problems/{slug}" for slug in slugs}, str(answer)
        if 200 <= answer.status < 300 and (template.startswith("/v1/") or template in SERVICE_PATHS):
            # A request the API accepted uses only query parameters the document lists
            # (files and this document ignore the query).
            query_text = urllib.parse.urlsplit(target).query
            sent = {name for name, _ in urllib.parse.parse_qsl(query_text, keep_blank_values=True)}
            listed = query_parameter_names(template, method)
            assert sent <= listed, f"{method} {template} accepted undocumented parameters {sent - listed}"
        EXERCISED.add((template, method))
        if answer.status < 400:
            SUCCEEDED.add((template, method))
        return answer


Query = list[tuple[str, str]] | dict[str, str] | str


def build_target(template: str, path: dict[str, str], query: Query | None) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        value = path.get(name, SAMPLE_PATH_VALUES[name])
        return urllib.parse.quote(value, safe="/" if name == "file" else "")

    target = re.sub(r"\{(\w+)\}", fill, template)
    if query is None:
        return target
    encoded = query if isinstance(query, str) else urllib.parse.urlencode(query)
    return f"{target}?{encoded}"


def check_operation_answer(template: str, method: str, answer: Answer) -> None:
    operation = OPERATIONS[(template, method)]
    documented = operation["responses"]
    assert str(answer.status) in documented, (
        f"{method} {template} answered {answer.status}, which openapi.yaml does not list "
        f"(it lists {sorted(documented)}): {answer}")
    pointer = f"{operation_pointer(template, method)}/responses/{answer.status}"
    check_response(pointer, answer)
    if "Allow" in answer.headers:
        check_allow(template, answer)


def check_response(pointer: str, answer: Answer) -> None:
    """Checks an answer against the Response Object at `pointer` (references followed)."""
    response, pointer = dereference(lookup(pointer), pointer)
    content = response.get("content")
    content_type = answer.headers.get("Content-Type")
    if content:
        assert content_type, f"no Content-Type, documented {sorted(content)}: {answer}"
        matches = [key for key in content if media_type_matches(key, content_type)]
        assert matches, f"Content-Type {content_type!r} is not among {sorted(content)}: {answer}"
        # The most specific documented media type, for its schema.
        media_type = sorted(matches, key=lambda key: key.count("*"))[0]
        schema_pointer = f"{pointer}/content/{escape_pointer_token(media_type)}/schema"
        if answer.method != "HEAD" and is_json(content_type) and "schema" in content[media_type]:
            instance = answer.json()
            errors = schema_errors(schema_pointer, instance)
            assert not errors, f"body does not match {schema_pointer}: {errors}: {answer}"
    else:
        assert content_type is None, f"a Content-Type on an answer documented without content: {answer}"
        assert answer.body == b"", f"a body on an answer documented without content: {answer}"
    if answer.method == "HEAD":
        assert answer.body == b"", f"HEAD answered with a body: {answer}"
    for name, header in response.get("headers", {}).items():
        header, header_pointer = dereference(header, f"{pointer}/headers/{escape_pointer_token(name)}")
        if name not in answer.headers:
            assert not header.get("required"), f"the required header {name} is missing: {answer}"
            continue
        value: Any = answer.headers[name]
        if header["schema"].get("type") == "integer":
            value = int(value)
        errors = schema_errors(f"{header_pointer}/schema", value)
        assert not errors, f"header {name}: {errors}: {answer}"


def check_allow(template: str, answer: Answer) -> None:
    allowed = [method.strip() for method in answer.headers["Allow"].split(",")]
    assert len(allowed) == len(set(allowed)), f"Allow repeats a method: {answer}"
    assert set(allowed) == documented_methods(template), (
        f"Allow is {allowed}, openapi.yaml lists {sorted(documented_methods(template))} for {template}")


def check_problem(answer: Answer, response_name: str, slugs: tuple[str, ...] | None = None) -> None:
    """Checks an answer that no operation covers against a problem response of components."""
    check_response(f"/components/responses/{response_name}", answer)
    if slugs is not None and answer.method != "HEAD":
        assert answer.json()["type"] in {f"/problems/{slug}" for slug in slugs}, str(answer)


def unique(name: str) -> str:
    """A key no other test uses."""
    return f"{name}-{uuid.uuid4().hex[:10]}"


def encoded(key: str) -> str:
    return urllib.parse.quote(key, safe="")


def encoded_segment(key: str) -> str:
    """The key as the server writes it in `Queue`: unreserved characters and `:@!$'()*+,;=`
    kept, every other byte `%XX`."""
    return urllib.parse.quote(key, safe=":@!$'()*+,;=")


# --- Fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def server(request: pytest.FixtureRequest) -> RunningServer:
    return start_server(request, PUBLIC)


@pytest.fixture(scope="session")
def api(server: RunningServer) -> Iterator[Client]:
    client = Client(server)
    yield client
    client.session.close()


# --- The document itself ----------------------------------------------------------------


def test_document_is_valid_openapi_3_1() -> None:
    validate_openapi(SPEC, cls=OpenAPIV31SpecValidator)
    assert SPEC["openapi"] == "3.1.0"
    assert SPEC["info"]["title"] == "Keygate"
    assert SPEC["info"]["version"] == "0.1.0"
    assert SPEC["info"].get("description")
    assert [server["url"] for server in SPEC["servers"]] == ["http://127.0.0.1:8080", "https://127.0.0.1:8080"]


# The limits every operation may answer, before the request reaches its route.
LIMIT_ANSWERS = {"408", "414", "431"}


def test_every_operation_is_named_and_complete() -> None:
    identifiers = [operation.get("operationId") for operation in OPERATIONS.values()]
    assert all(identifiers), "every operation has an operationId"
    assert len(identifiers) == len(set(identifiers)), "operationIds are unique"
    for (template, method), operation in OPERATIONS.items():
        assert operation.get("summary"), f"{method} {template} has a summary"
        assert LIMIT_ANSWERS <= set(operation["responses"]), f"{method} {template} documents 408, 414 and 431"
        for status, response in operation["responses"].items():
            response, pointer = dereference(response, "")
            where = f"{method} {template} {status} ({pointer})"
            if int(status) >= 400:
                assert list(response.get("content", {})) == ["application/problem+json"], where
                schema = response["content"]["application/problem+json"]["schema"]
                assert {"$ref": "#/components/schemas/Problem"} in schema.get("allOf", [schema]), where
            if status in LIMIT_ANSWERS:
                assert "Connection" in response["headers"], where
    for template, item in SPEC["paths"].items():
        methods = documented_methods(template)
        assert "OPTIONS" in methods, f"{template} documents OPTIONS"
        if template not in UPGRADE_PATHS:
            assert ("GET" in methods) == ("HEAD" in methods), f"{template} documents HEAD with GET"
        assert "503" in item["options"]["responses"]


def test_schemas_agree_with_examples() -> None:
    components = SPEC["components"]
    assert not schema_errors("/components/schemas/Problem", components["schemas"]["Problem"]["example"])
    update = components["requestBodies"]["TimeToLiveUpdate"]["content"]["application/json"]
    for example in update["examples"].values():
        assert not schema_errors("/components/schemas/TimeToLiveUpdate", example["value"])
    answer = components["responses"]["TimeToLive"]["content"]["application/json"]
    for example in answer["examples"].values():
        assert not schema_errors("/components/schemas/TimeToLive", example["value"])
    for response, schema in (("Pushed", "QueueLength"), ("QueueState", "QueueState"),
                             ("QueueMessages", "QueueMessages")):
        for example in components["responses"][response]["content"]["application/json"]["examples"].values():
            assert not schema_errors(f"/components/schemas/{schema}", example["value"]), response
    for example in components["schemas"]["KeyInfo"]["examples"]:
        assert not schema_errors("/components/schemas/KeyInfo", example)
    for schema in ("KeyspaceEvent", "GapEvent", "WebSocketRequest", "WebSocketReply",
                   "WebSocketSubscriptionMessage"):
        for example in components["schemas"][schema]["examples"]:
            assert not schema_errors(f"/components/schemas/{schema}", example), schema
    # The example stream is what a client would read: every block parses, every event is valid.
    stream = components["responses"]["EventStream"]["content"]["text/event-stream"]["example"]
    blocks = stream.split("\n\n")
    assert blocks[0] == RETRY_BLOCK and blocks[-1] == "", "blocks end with a blank line"
    events = [parse_event(block) for block in blocks[1:-1] if block != HEARTBEAT_BLOCK]
    assert [event.type for event in events] == ["gap", "set", "expired"]


@pytest.mark.parametrize(
    ("schema", "instance"),
    [
        ("KeyInfo", {"key": "k", "type": "string", "ttl": None, "bytes": 1, "length": 1}),
        ("KeyInfo", {"key": "k", "type": "queue", "ttl": None, "bytes": 1}),
        ("KeyInfo", {"key": "k", "type": "list", "ttl": None, "bytes": 1}),
        ("QueueMessage", {"contentType": "text/plain", "bytes": 1, "text": "a", "base64": "YQ=="}),
        ("QueueMessage", {"contentType": "text/plain", "bytes": 1}),
        ("QueueMessage", {"contentType": "text/plain", "bytes": 1, "base64": "not base64"}),
        ("QueueState", {"name": "q", "length": 0}),
        ("KeyspaceEvent", {"id": 1, "type": "gap", "key": "k", "time": 1}),
        ("KeyspaceEvent", {"id": 0, "type": "set", "key": "k", "time": 1}),
        ("KeyspaceEvent", {"id": 1, "type": "set", "key": "", "time": 1}),
        ("KeyspaceEvent", {"id": 1, "type": "set", "key": "k", "time": 1.5}),
        ("KeyspaceEvent", {"id": 1, "type": "set", "key": "k"}),
        ("KeyspaceEvent", {"id": 1, "type": "set", "key": "k", "time": 1, "value": "v"}),
        ("GapEvent", {"type": "gap", "from": 1}),
        ("GapEvent", {"type": "set", "from": 1, "to": 2}),
        ("GapEvent", {"id": 2, "type": "gap", "from": 1, "to": 2}),
        ("WebSocketRequest", {"id": 1, "key": "k"}),
        ("WebSocketRequest", {"id": 1, "op": "GET", "key": "k"}),
        ("WebSocketReply", {"id": 1, "ok": True, "valu": "typo"}),
        ("WebSocketReply", {"id": 1, "ok": False}),
        ("WebSocketReply", {"ok": True}),
        ("WebSocketSubscriptionMessage", {"subscription": 1, "event": {"id": 1, "type": "set", "key": "k"}}),
        ("WebSocketSubscriptionMessage", {"subscription": 0, "gap": {"from": 1, "to": 2}}),
    ],
)
def test_schemas_refuse_what_the_server_never_sends(schema: str, instance: dict[str, Any]) -> None:
    """The schemas tell strings and queues, text and base64, and events and gaps apart."""
    assert schema_errors(f"/components/schemas/{schema}", instance)


# --- Values -----------------------------------------------------------------------------


def test_value_lifecycle(api: Client) -> None:
    key = unique("lifecycle")
    path = {"key": key}
    created = api.call("PUT", "/v1/cache/{key}", path=path, body=b"hello\x00\xff world",
                       headers={"Content-Type": "text/plain; charset=utf-8"}, status=201)
    assert created.headers["Location"] == f"/v1/cache/{key}"
    first_tag = created.headers["ETag"]

    read = api.call("GET", "/v1/cache/{key}", path=path, status=200)
    assert read.body == b"hello\x00\xff world"
    assert read.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert read.headers["ETag"] == first_tag

    head = api.call("HEAD", "/v1/cache/{key}", path=path, status=200)
    for name in ("Content-Type", "ETag", "Content-Length"):
        assert head.headers[name] == read.headers[name], name
    assert int(head.headers["Content-Length"]) == len(read.body)

    replaced = api.call("PUT", "/v1/cache/{key}", path=path, body=b"{}",
                        headers={"Content-Type": "application/json"}, status=204)
    second_tag = replaced.headers["ETag"]
    assert second_tag != first_tag
    read = api.call("GET", "/v1/cache/{key}", path=path, status=200)
    assert read.body == b"{}"
    assert (read.headers["Content-Type"], read.headers["ETag"]) == ("application/json", second_tag)

    api.call("DELETE", "/v1/cache/{key}", path=path, status=204)
    api.call("GET", "/v1/cache/{key}", path=path, status=404)
    api.call("HEAD", "/v1/cache/{key}", path=path, status=404)
    api.call("DELETE", "/v1/cache/{key}", path=path, status=404)


def test_empty_value_and_default_content_type(api: Client) -> None:
    key = unique("empty")
    api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"", status=201)
    read = api.call("GET", "/v1/cache/{key}", path={"key": key}, status=200)
    assert read.body == b""
    assert read.headers["Content-Type"] == "application/octet-stream"
    assert api.call("HEAD", "/v1/cache/{key}", path={"key": key}, status=200).headers["Content-Length"] == "0"


@pytest.mark.parametrize(
    "content_type", ["bogus", "text/", "/plain", "text/pl ain", "text/plain\u00e9", "a/" + "b" * 300]
)
def test_malformed_content_type_is_400(api: Client, content_type: str) -> None:
    key = unique("content-type")
    header = content_type.encode("utf-8").decode("latin-1")  # sent as its UTF-8 bytes
    api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"x",
             headers={"Content-Type": header}, status=400, slugs=("bad-request",))
    api.call("GET", "/v1/cache/{key}", path={"key": key}, status=404)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("a/b", id="slash"),
        pytest.param("100%", id="percent"),
        pytest.param("with space", id="space"),
        pytest.param("plus+sign", id="plus"),
        pytest.param("été 日本語 🙂", id="utf8"),
        pytest.param("..", id="dots"),
        pytest.param("?#&=", id="delimiters"),
        pytest.param("k" * 1024, id="1024-bytes"),
        pytest.param("é" * 512, id="1024-bytes-utf8"),
    ],
)
def test_key_is_one_decoded_segment(api: Client, key: str) -> None:
    # A unique first byte-run keeps parallel keys apart; the 1024-byte keys are used once.
    key = key if len(key.encode()) >= 1024 else unique("seg") + key
    path = {"key": key}
    created = api.call("PUT", "/v1/cache/{key}", path=path, body=key.encode(), status=(201, 204))
    if created.status == 201:
        assert created.headers["Location"] == f"/v1/cache/{encoded(key)}", "Location is the path as sent"
    assert api.call("GET", "/v1/cache/{key}", path=path, status=200).body == key.encode()
    listing = api.call("GET", "/v1/keys", query={"prefix": key}, status=200).json()
    assert [row["key"] for row in listing["keys"]] == [key]
    assert listing["keys"][0]["bytes"] == len(key.encode())
    api.call("DELETE", "/v1/cache/{key}", path=path, status=204)


INVALID_KEY_SEGMENTS = [
    pytest.param("", ("invalid-key", "bad-request"), id="empty"),
    pytest.param("k" * 1025, ("invalid-key",), id="1025-bytes"),
    pytest.param("%C3%A9" * 512 + "k", ("invalid-key",), id="1025-bytes-utf8"),
    pytest.param("%zz", ("bad-request", "invalid-key"), id="bad-escape"),
    pytest.param("abc%4", ("bad-request", "invalid-key"), id="short-escape"),
    pytest.param("%FF", ("invalid-key", "bad-request"), id="not-utf8"),
    pytest.param("%C3", ("invalid-key", "bad-request"), id="truncated-utf8"),
    pytest.param("%00", ("invalid-key", "bad-request"), id="nul"),
    pytest.param("a%0Ab", ("invalid-key", "bad-request"), id="newline"),
    pytest.param("%1F", ("invalid-key", "bad-request"), id="unit-separator"),
    pytest.param("%7F", ("invalid-key", "bad-request"), id="delete"),
]


@pytest.mark.parametrize(("segment", "slugs"), INVALID_KEY_SEGMENTS)
def test_invalid_key_is_400(api: Client, segment: str, slugs: tuple[str, ...]) -> None:
    value = f"/v1/cache/{segment}"
    for method in ("GET", "HEAD", "PUT", "DELETE"):
        body = b"x" if method == "PUT" else None
        answer = api.call(method, "/v1/cache/{key}", raw_target=value, body=body, status=400)
        if method != "HEAD":
            assert answer.json()["type"] in {f"/problems/{slug}" for slug in slugs}, str(answer)
    ttl = f"/v1/cache/{segment}/ttl"
    api.call("GET", "/v1/cache/{key}/ttl", raw_target=ttl, status=400, slugs=slugs)
    api.call("HEAD", "/v1/cache/{key}/ttl", raw_target=ttl, status=400)
    api.call("PUT", "/v1/cache/{key}/ttl", raw_target=ttl, body=b'{"ttl": 5}', status=400, slugs=slugs)


# --- Times to live ----------------------------------------------------------------------


def remaining_seconds(api: Client, key: str) -> float | None:
    return api.call("GET", "/v1/cache/{key}/ttl", path={"key": key}, status=200).json()["ttl"]


def assert_milliseconds(seconds: float) -> None:
    assert round(seconds, 3) == seconds, f"{seconds} has more than millisecond precision"


@pytest.mark.parametrize(
    ("ttl", "at_most"),
    [
        ("30", 30), ("0.25", 0.25), (".5", 0.5), ("5.", 5), ("007", 7), ("12.3456", 12.346),
        ("10000000000", MAX_TTL_SECONDS),
    ],
)
def test_put_with_ttl(api: Client, ttl: str, at_most: float) -> None:
    key = unique("ttl-query")
    api.call("PUT", "/v1/cache/{key}", path={"key": key}, query={"ttl": ttl}, body=b"v", status=201)
    answer = api.call("GET", "/v1/cache/{key}/ttl", path={"key": key}, status=(200, 404))
    if answer.status == 404:
        assert at_most < 5, f"a key with ttl={ttl} expired at once"
        return
    seconds = answer.json()["ttl"]
    assert seconds is not None and max(0, at_most - 60) < seconds <= at_most
    assert_milliseconds(seconds)
    if at_most < 5:
        return
    row = api.call("GET", "/v1/keys", query={"prefix": key}, status=200).json()["keys"][0]
    assert row["ttl"] is not None and 0 < row["ttl"] <= at_most
    # Writing again without a ttl makes the key persistent.
    api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"w", status=204)
    assert remaining_seconds(api, key) is None
    api.call("DELETE", "/v1/cache/{key}", path={"key": key}, status=204)


@pytest.mark.parametrize(
    ("ttl", "slugs"),
    [
        ("0", ("invalid-ttl", "bad-request")),
        ("0.000", ("invalid-ttl", "bad-request")),
        ("-1", ("bad-request", "invalid-ttl")),
        ("+1", ("bad-request", "invalid-ttl")),
        (" 1", ("bad-request", "invalid-ttl")),
        ("1e3", ("bad-request", "invalid-ttl")),
        ("0x10", ("bad-request", "invalid-ttl")),
        ("1,5", ("bad-request", "invalid-ttl")),
        ("inf", ("bad-request", "invalid-ttl")),
        ("nan", ("bad-request", "invalid-ttl")),
        ("abc", ("bad-request", "invalid-ttl")),
        ("", ("bad-request", "invalid-ttl")),
        (".", ("bad-request", "invalid-ttl")),
        ("1.2.3", ("bad-request", "invalid-ttl")),
        ("10000000001", ("invalid-ttl", "bad-request")),
        ("10000000000.0001", ("invalid-ttl", "bad-request")),
        ("99999999999999999999999", ("invalid-ttl", "bad-request")),
    ],
)
def test_put_with_invalid_ttl_is_400_and_changes_nothing(
    api: Client, ttl: str, slugs: tuple[str, ...]
) -> None:
    key = unique("bad-ttl")
    tag = api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"old", status=201).headers["ETag"]
    api.call("PUT", "/v1/cache/{key}", path={"key": key}, query={"ttl": ttl}, body=b"new",
             status=400, slugs=slugs)
    read = api.call("GET", "/v1/cache/{key}", path={"key": key}, status=200)
    assert (read.body, read.headers["ETag"]) == (b"old", tag)
    assert remaining_seconds(api, key) is None
    # Not a key either: the parameter without '=' has an empty value.
    api.call("PUT", "/v1/cache/{key}", path={"key": unique("bad-ttl")}, query="ttl", body=b"x", status=400)


def test_time_to_live_resource(api: Client) -> None:
    key = unique("ttl")
    path = {"key": key}
    tag = api.call("PUT", "/v1/cache/{key}", path=path, body=b"v", status=201).headers["ETag"]
    assert remaining_seconds(api, key) is None
    api.call("HEAD", "/v1/cache/{key}/ttl", path=path, status=200)

    api.call("PUT", "/v1/cache/{key}/ttl", path=path, body=b'{"ttl": 100}',
             headers={"Content-Type": "application/json"}, status=204)
    seconds = remaining_seconds(api, key)
    assert seconds is not None and 90 < seconds <= 100
    assert_milliseconds(seconds)
    read = api.call("GET", "/v1/cache/{key}", path=path, status=200)
    assert read.headers["ETag"] == tag, "a TTL change keeps the ETag"

    # Any Content-Type is accepted; fractions are rounded up to the millisecond.
    api.call("PUT", "/v1/cache/{key}/ttl", path=path, body=b'{"ttl": 1000.0015}',
             headers={"Content-Type": "text/plain"}, status=204)
    assert 990 < remaining_seconds(api, key) <= 1000.002
    api.call("PUT", "/v1/cache/{key}/ttl", path=path, body=b' {"ttl" : 2.5e1 } ', status=204)
    assert 24 < remaining_seconds(api, key) <= 25
    api.call("PUT", "/v1/cache/{key}/ttl", path=path, body=b'{"ttl": null}', status=204)
    assert remaining_seconds(api, key) is None
    maximum = f'{{"ttl": {MAX_TTL_SECONDS}}}'.encode()
    api.call("PUT", "/v1/cache/{key}/ttl", path=path, body=maximum, status=204)
    assert remaining_seconds(api, key) <= MAX_TTL_SECONDS

    absent = {"key": unique("ttl-absent")}
    api.call("GET", "/v1/cache/{key}/ttl", path=absent, status=404)
    api.call("HEAD", "/v1/cache/{key}/ttl", path=absent, status=404)
    api.call("PUT", "/v1/cache/{key}/ttl", path=absent, body=b'{"ttl": 5}', status=404)
    api.call("PUT", "/v1/cache/{key}/ttl", path=absent, body=b'{"ttl": null}', status=404)
    api.call("GET", "/v1/cache/{key}", path=absent, status=404)


TTL_BODIES = [
    pytest.param(b'{"ttl": 30}', id="seconds"),
    pytest.param(b'{"ttl": 30.5}', id="fraction"),
    pytest.param(b'{"ttl": null}', id="null"),
    pytest.param(b'{"ttl": 10000000000}', id="maximum"),
    pytest.param(b'{"ttl": "5"}', id="string"),
    pytest.param(b'{"ttl": true}', id="boolean"),
    pytest.param(b'{"ttl": [5]}', id="array"),
    pytest.param(b'{"ttl": 5, "x": 1}', id="extra-member"),
    pytest.param(b'{"TTL": 5}', id="wrong-name"),
    pytest.param(b'{"ttl": 0}', id="zero"),
    pytest.param(b'{"ttl": -1}', id="negative"),
    pytest.param(b'{"ttl": 10000000000.5}', id="above-maximum"),
    pytest.param(b'{"ttl": 1e13}', id="far-above-maximum"),
    pytest.param(b"{}", id="empty-object"),
    pytest.param(b"[]", id="array-body"),
    pytest.param(b"5", id="bare-number"),
    pytest.param(b"null", id="bare-null"),
]
MALFORMED_TTL_BODIES = [
    pytest.param(b"", id="empty"),
    pytest.param(b"nul", id="truncated"),
    pytest.param(b'{"ttl": 5}x', id="trailing-garbage"),
    pytest.param(b'{"ttl": 5', id="unclosed"),
    pytest.param(b'{"ttl": 1e400}', id="overflow"),
    pytest.param(b"\xff", id="not-utf8"),
]


@pytest.mark.parametrize("body", TTL_BODIES)
def test_ttl_body_schema_agrees_with_server(api: Client, body: bytes) -> None:
    key = unique("ttl-body")
    api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"v", status=201)
    is_valid = not schema_errors("/components/schemas/TimeToLiveUpdate", json.loads(body))
    answer = api.call("PUT", "/v1/cache/{key}/ttl", path={"key": key}, body=body,
                      headers={"Content-Type": "application/json"}, status=204 if is_valid else 400)
    if is_valid:
        expected = json.loads(body)["ttl"]
        seconds = remaining_seconds(api, key)
        assert (seconds is None) == (expected is None) and (seconds is None or seconds <= expected)
    else:
        assert answer.json()["type"] in {"/problems/bad-request", "/problems/invalid-ttl"}
        assert remaining_seconds(api, key) is None, "a refused update changes nothing"


@pytest.mark.parametrize("body", MALFORMED_TTL_BODIES)
def test_malformed_ttl_body_is_400(api: Client, body: bytes) -> None:
    key = unique("ttl-malformed")
    api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"v", status=201)
    api.call("PUT", "/v1/cache/{key}/ttl", path={"key": key}, body=body, status=400,
             slugs=("bad-request", "invalid-ttl"))
    assert remaining_seconds(api, key) is None


def test_expired_key_is_absent(api: Client) -> None:
    key = unique("expiring")
    path = {"key": key}
    api.call("PUT", "/v1/cache/{key}", path=path, query={"ttl": "0.05"}, body=b"soon gone", status=201)
    # Expiry is wall-clock time by nature: poll, with a deadline, until the key is gone.
    deadline = time.monotonic() + 5
    while api.call("GET", "/v1/cache/{key}", path=path, status=(200, 404)).status == 200:
        assert time.monotonic() < deadline, "the key did not expire within 5 s of a 50 ms TTL"
        time.sleep(0.01)
    api.call("HEAD", "/v1/cache/{key}", path=path, status=404)
    api.call("GET", "/v1/cache/{key}/ttl", path=path, status=404)
    api.call("PUT", "/v1/cache/{key}/ttl", path=path, body=b'{"ttl": 5}', status=404)
    api.call("DELETE", "/v1/cache/{key}", path=path, status=404)
    listing = api.call("GET", "/v1/keys", query={"prefix": key}, status=200).json()
    assert listing == {"keys": [], "cursor": None}
    # An expired key is absent to conditions too.
    api.call("PUT", "/v1/cache/{key}", path=path, body=b"back", headers={"If-None-Match": "*"}, status=201)


# --- Conditional requests ---------------------------------------------------------------


def test_conditional_writes(api: Client) -> None:
    path = {"key": unique("conditional")}

    def put(body: bytes, condition: dict[str, str], status: int, **more: Any) -> Answer:
        return api.call("PUT", "/v1/cache/{key}", path=path, body=body, headers=condition,
                        status=status, **more)

    def delete(condition: dict[str, str], status: int, **more: Any) -> Answer:
        return api.call("DELETE", "/v1/cache/{key}", path=path, headers=condition, status=status, **more)

    failed = ("precondition-failed",)
    put(b"x", {"If-Match": "*"}, 412, slugs=failed)
    api.call("GET", "/v1/cache/{key}", path=path, status=404)

    first = put(b"one", {"If-None-Match": "*"}, 201).headers["ETag"]
    put(b"two", {"If-None-Match": "*"}, 412, slugs=failed)
    put(b"two", {"If-None-Match": first}, 412, slugs=failed)
    put(b"two", {"If-Match": '"ffffffffff"'}, 412, slugs=failed)
    put(b"two", {"If-Match": f"W/{first}"}, 412, slugs=failed)  # If-Match compares strongly
    read = api.call("GET", "/v1/cache/{key}", path=path, status=200)
    assert (read.body, read.headers["ETag"]) == (b"one", first), "a failed condition changes nothing"

    second = put(b"two", {"If-Match": first}, 204).headers["ETag"]
    third = put(b"three", {"If-Match": f'"0", {second}'}, 204).headers["ETag"]
    fourth = put(b"four", {"If-Match": "*"}, 204).headers["ETag"]
    fifth = put(b"five", {"If-None-Match": third}, 204).headers["ETag"]
    assert len({first, second, third, fourth, fifth}) == 5

    for malformed in ({"If-Match": "garbage"}, {"If-None-Match": "five"}, {"If-Match": '"unterminated'}):
        put(b"six", malformed, 400, slugs=("bad-request",))

    delete({"If-Match": first}, 412, slugs=failed)
    assert api.call("GET", "/v1/cache/{key}", path=path, status=200).body == b"five"
    delete({"If-Match": "garbage"}, 400, slugs=("bad-request",))
    delete({"If-Match": fifth}, 204)
    delete({"If-Match": "*"}, 412, slugs=failed)
    api.call("GET", "/v1/cache/{key}", path=path, status=404)


def test_entity_tag_lists_are_read_tag_by_tag(api: Client) -> None:
    """Found by schemathesis: an opaque tag may hold a comma (RFC 9110, section 8.8.3), and the
    server split lists on commas, so `W/"hh,"` was a 400."""
    path = {"key": unique("tag-list")}
    etag = api.call("PUT", "/v1/cache/{key}", path=path, body=b"v", status=201).headers["ETag"]
    listed = f'W/"a,b", "c,",, {etag}'
    etag = api.call("PUT", "/v1/cache/{key}", path=path, body=b"w", headers={"If-Match": listed},
                    status=204).headers["ETag"]
    api.call("GET", "/v1/cache/{key}", path=path, headers={"If-None-Match": f'"x,y", {etag}'}, status=304)
    for malformed in (",", f"*, {etag}", f"{etag} *", '"a" "b"', 'w/"a"'):
        api.call("PUT", "/v1/cache/{key}", path=path, body=b"x", headers={"If-Match": malformed},
                 status=400, slugs=("bad-request",))
    assert api.call("GET", "/v1/cache/{key}", path=path, status=200).body == b"w"


def test_conditional_reads(api: Client) -> None:
    path = {"key": unique("not-modified")}
    tag = api.call("PUT", "/v1/cache/{key}", path=path, body=b"cached", status=201).headers["ETag"]

    def read(method: str, condition: str, status: int, **more: Any) -> Answer:
        return api.call(method, "/v1/cache/{key}", path=path, headers={"If-None-Match": condition},
                        status=status, **more)

    for condition in (tag, f'"0", {tag}', f"W/{tag}", "*"):  # If-None-Match compares weakly
        for method in ("GET", "HEAD"):
            answer = read(method, condition, 304)
            assert answer.headers["ETag"] == tag and answer.body == b""
    for condition in ('"0"', '"ffffffffff", "fffffffffe"'):
        assert read("GET", condition, 200).body == b"cached"
    read("GET", "garbage", 400, slugs=("bad-request",))
    api.call("GET", "/v1/cache/{key}", path={"key": unique("absent")}, headers={"If-None-Match": "*"},
             status=404)


# --- Query parameters -------------------------------------------------------------------


QUERY_CHECKED = [
    ("GET", "/v1/cache/{key}"), ("HEAD", "/v1/cache/{key}"), ("PUT", "/v1/cache/{key}"),
    ("DELETE", "/v1/cache/{key}"), ("GET", "/v1/cache/{key}/ttl"), ("HEAD", "/v1/cache/{key}/ttl"),
    ("PUT", "/v1/cache/{key}/ttl"), ("POST", "/v1/queues/{name}"), ("GET", "/v1/queues/{name}"),
    ("HEAD", "/v1/queues/{name}"), ("DELETE", "/v1/queues/{name}"),
    ("GET", "/v1/queues/{name}/messages"), ("HEAD", "/v1/queues/{name}/messages"),
    ("POST", "/v1/queues/{name}/pop"), ("POST", "/v1/queues/{name}/receive"),
    ("DELETE", "/v1/queues/{name}/leases/{receipt}"), ("PUT", "/v1/queues/{name}/leases/{receipt}"),
    ("POST", "/v1/queues/{name}/ack"), ("GET", "/v1/queues/{name}/policy"), ("HEAD", "/v1/queues/{name}/policy"),
    ("PUT", "/v1/queues/{name}/policy"), ("DELETE", "/v1/queues/{name}/policy"), ("POST", "/v1/pop"), ("GET", "/v1/keys"), ("HEAD", "/v1/keys"),
    ("GET", "/v1/events"), ("HEAD", "/v1/events"), ("GET", "/v1/ws"), ("POST", "/v1/tickets"), ("GET", "/healthz"),
    ("HEAD", "/healthz"), ("GET", "/readyz"), ("HEAD", "/readyz"), ("GET", "/metrics"), ("HEAD", "/metrics"),
]
# The operations on queues; the others work on strings (or on no key).
QUEUE_TEMPLATES = ("/v1/queues/{name}", "/v1/queues/{name}/messages", "/v1/queues/{name}/pop", "/v1/pop",
                   "/v1/queues/{name}/receive", "/v1/queues/{name}/leases/{receipt}", "/v1/queues/{name}/ack",
                   "/v1/queues/{name}/policy")
# A valid use of a parameter next to a misspelt one.
MISSPELT = {"ttl": "ttl=5&tll=5", "wait": "wait=0&wiat=0", "limit": "limit=1&limt=1", "key": "key=a&kye=a"}


def test_every_checked_route_is_listed() -> None:
    """The routes whose query is checked are every non-OPTIONS operation under /v1 and of the
    service paths."""
    checked = {(method, template) for method, template in QUERY_CHECKED}
    documented = {(method, template) for template, method in OPERATIONS
                  if (template.startswith("/v1/") or template in SERVICE_PATHS) and method != "OPTIONS"}
    assert checked == documented


@pytest.mark.parametrize(("method", "template"), QUERY_CHECKED)
def test_unknown_or_repeated_query_parameter_is_400(api: Client, method: str, template: str) -> None:
    key = unique("query")
    is_queue = template in QUEUE_TEMPLATES
    if is_queue:
        push(api, key, b"v")
    else:
        api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"v", status=201)
    body = {"PUT": b'{"ttl": 5}' if template.endswith("/ttl") else b"changed", "POST": b"changed"}.get(method)
    if template.endswith("/policy") or template.endswith("/leases/{receipt}"):
        body = b'{"visibility": 5}' if method == "PUT" else None
    elif template.endswith("/ack"):
        body = b'{"receipts": ["%s"]}' % SAMPLE_PATH_VALUES["receipt"].encode()
    listed = [parameter["name"] for parameter in parameters(template, method) if parameter["in"] == "query"]
    repeatable = {parameter["name"] for parameter in parameters(template, method) if is_repeatable(parameter)}
    # A required parameter is always sent, so that only the parameter under test is wrong.
    required = f"queues={encoded(key)}&" if "queues" in listed else ""
    misspelt = next((MISSPELT[name] for name in listed if name in MISSPELT), "unknown")
    queries = [required + query for query in ("tll=5", "x=1", misspelt, "%zz=1", "a=%zz")]
    queries += [("" if name == "queues" else required) + f"{name}=1&{name}=1" for name in listed
                if name not in repeatable]
    for query in queries:
        answer = api.call(method, template, path={"key": key, "name": key}, query=query, body=body, status=400)
        if template.endswith("/policy"):
            assert api.call("GET", template, path={"name": key}, status=200).json()["visibility"] == 30
        if method != "HEAD":
            assert answer.json()["type"] == "/problems/bad-request", str(answer)
    # Nothing changed.
    if is_queue:
        peek = api.call("GET", "/v1/queues/{name}/messages", path={"name": key}, status=200).json()
        assert (peek["length"], [message.get("text") for message in peek["messages"]]) == (1, ["v"])
    else:
        read = api.call("GET", "/v1/cache/{key}", path={"key": key}, status=200)
        assert read.body == b"v"
    assert remaining_seconds(api, key) is None


# --- Listing ----------------------------------------------------------------------------


def list_all(api: Client, prefix: str, limit: int | None) -> tuple[list[dict[str, Any]], int]:
    rows: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        query = [("prefix", prefix)]
        query += [("limit", str(limit))] if limit else []
        query += [("cursor", cursor)] if cursor else []
        page = api.call("GET", "/v1/keys", query=query, status=200).json()
        pages += 1
        assert limit is None or len(page["keys"]) <= limit
        rows += page["keys"]
        cursor = page["cursor"]
        if cursor is None:
            return rows, pages
        assert pages < 1000, "the listing does not end"


def test_listing_pages_through_every_key_once(api: Client) -> None:
    prefix = unique("list") + "/"
    names = ["b", "a", "a/b", "A", "ab", "é", "z z", "plus+", "%25", "日本", "b" * 40, "0", "~"]
    sizes = {}
    for index, name in enumerate(names):
        key = prefix + name
        query = {"ttl": "100"} if index % 3 == 0 else None
        value = b"x" * index
        api.call("PUT", "/v1/cache/{key}", path={"key": key}, query=query, body=value, status=201)
        sizes[key] = len(value)
    # Decoys just outside the prefix, on both sides.
    for decoy in (prefix[:-1], prefix[:-1] + "0", prefix[:-1] + ".z"):
        api.call("PUT", "/v1/cache/{key}", path={"key": decoy}, body=b"decoy", status=201)

    expected = sorted(sizes, key=lambda key: key.encode())
    for limit in (1, 2, 5, len(names), 1000, None):
        rows, pages = list_all(api, prefix, limit)
        assert [row["key"] for row in rows] == expected, f"limit {limit}"
        if limit:
            assert pages >= -(-len(names) // limit)
        for row in rows:
            assert row["type"] == "string"
            assert row["bytes"] == sizes[row["key"]]
            index = names.index(row["key"][len(prefix):])
            if index % 3 == 0:
                assert row["ttl"] is not None and 90 < row["ttl"] <= 100
                assert_milliseconds(row["ttl"])
            else:
                assert row["ttl"] is None

    first = api.call("GET", "/v1/keys", query={"prefix": prefix, "limit": "2"}, status=200)
    assert first.json()["cursor"] is not None
    head = api.call("HEAD", "/v1/keys", query={"prefix": prefix, "limit": "2"}, status=200)
    assert head.headers["Content-Type"] == first.headers["Content-Type"]
    assert head.headers["Content-Length"] == first.headers["Content-Length"]
    # A page's cursor stays valid after the keys around it change.
    cursor = first.json()["cursor"]
    api.call("DELETE", "/v1/cache/{key}", path={"key": expected[1]}, status=204)
    query = {"prefix": prefix, "limit": "1000", "cursor": cursor}
    rest = api.call("GET", "/v1/keys", query=query, status=200).json()
    assert [row["key"] for row in rest["keys"]] == expected[2:]
    assert rest["cursor"] is None
    api.call("HEAD", "/v1/keys", query={"prefix": prefix, "cursor": cursor}, status=200)


def test_listing_defaults_and_edges(api: Client) -> None:
    prefix = unique("list-default") + "/"
    for index in range(101):
        api.call("PUT", "/v1/cache/{key}", path={"key": f"{prefix}{index:03d}"}, body=b"", status=201)
    page = api.call("GET", "/v1/keys", query={"prefix": prefix}, status=200).json()
    assert len(page["keys"]) == 100 and page["cursor"] is not None, "the default limit is 100"
    everything = api.call("GET", "/v1/keys", query={"prefix": prefix, "limit": "1000"}, status=200).json()
    assert len(everything["keys"]) == 101 and everything["cursor"] is None

    nothing = api.call("GET", "/v1/keys", query={"prefix": unique("nothing")}, status=200).json()
    assert nothing == {"keys": [], "cursor": None}
    # Plus is a space in a query; a literal plus is %2B.
    api.call("PUT", "/v1/cache/{key}", path={"key": prefix + "a b+c"}, body=b"", status=201)
    query = f"prefix={urllib.parse.quote(prefix)}a+b%2Bc"
    spaced = api.call("GET", "/v1/keys", query=query, status=200).json()
    assert [row["key"] for row in spaced["keys"]] == [prefix + "a b+c"]
    assert api.call("GET", "/v1/keys", query={"prefix": "p" * 1024}, status=200).json()["keys"] == []
    api.call("GET", "/v1/keys", status=200)
    api.call("HEAD", "/v1/keys", status=200)


@pytest.mark.parametrize(
    ("query", "slugs"),
    [
        ({"limit": "0"}, ("bad-request",)),
        ({"limit": "1001"}, ("bad-request",)),
        ({"limit": "-1"}, ("bad-request",)),
        ({"limit": "+1"}, ("bad-request",)),
        ({"limit": "1.5"}, ("bad-request",)),
        ({"limit": "ten"}, ("bad-request",)),
        ({"limit": ""}, ("bad-request",)),
        ({"limit": "99999999999999999999999"}, ("bad-request",)),
        ({"prefix": "p" * 1025}, ("bad-request", "invalid-key")),
        ({"prefix": "é" * 513}, ("bad-request", "invalid-key")),
        ({"cursor": "@@"}, ("invalid-cursor",)),
        ({"cursor": ""}, ("invalid-cursor",)),
        ({"cursor": "a+b/c=="}, ("invalid-cursor",)),
        ({"cursor": "_w"}, ("invalid-cursor",)),  # the byte 0xFF: not UTF-8, so no key
        ({"cursor": "AA"}, ("invalid-cursor",)),  # the byte 0x00: a control character
        ({"cursor": "A"}, ("invalid-cursor",)),  # not base64 at all
    ],
)
def test_listing_rejects_bad_parameters(api: Client, query: dict[str, str], slugs: tuple[str, ...]) -> None:
    api.call("GET", "/v1/keys", query=query, status=400, slugs=slugs)
    api.call("HEAD", "/v1/keys", query=query, status=400)


# --- Queues -----------------------------------------------------------------------------


def push(api: Client, name: str, body: bytes, content_type: str | None = None) -> int:
    """Pushes one message; the queue's length afterwards."""
    headers = {"Content-Type": content_type} if content_type else None
    answer = api.call("POST", "/v1/queues/{name}", path={"name": name}, body=body, headers=headers, status=201)
    return answer.json()["length"]


def queue_body(name: str, length: int, consumers: int) -> dict[str, Any]:
    """The state of a queue whose messages are all visible."""
    return {"name": name, "length": length, "visible": length, "inFlight": 0, "delayed": 0, "consumers": consumers}


def queue_state(api: Client, name: str) -> dict[str, Any]:
    return api.call("GET", "/v1/queues/{name}", path={"name": name}, status=200).json()


def peek(api: Client, name: str, limit: int | None = None) -> dict[str, Any]:
    query = {"limit": str(limit)} if limit else None
    return api.call("GET", "/v1/queues/{name}/messages", path={"name": name}, query=query, status=200).json()


def pop(
    api: Client, name: str, wait: str | None = None, status: int | tuple[int, ...] = (200, 204),
    slugs: tuple[str, ...] | None = None,
) -> Answer:
    query = {"wait": wait} if wait is not None else None
    return api.call("POST", "/v1/queues/{name}/pop", path={"name": name}, query=query, status=status,
                    slugs=slugs)


def pop_any(
    api: Client, names: list[str], wait: str | None = None, status: int | tuple[int, ...] = (200, 204),
    slugs: tuple[str, ...] | None = None,
) -> Answer:
    query = [("queues", ",".join(names))] + ([("wait", wait)] if wait is not None else [])
    return api.call("POST", "/v1/pop", query=query, status=status, slugs=slugs)


def assert_message(answer: Answer, body: bytes, content_type: str, queue: str) -> None:
    assert answer.status == 200, str(answer)
    assert answer.body == body, str(answer)
    assert answer.headers["Content-Type"] == content_type, str(answer)
    assert answer.headers["Queue"] == encoded_segment(queue), str(answer)
    assert int(answer.headers["Content-Length"]) == len(body), str(answer)


def await_consumers(api: Client, names: list[str], count: int) -> None:
    """Polls `GET /v1/queues/{name}` until `count` consumers are parked on each queue (the
    sign that a pop waits, or has left), with a deadline; never a fixed sleep."""
    deadline = time.monotonic() + PARK_TIMEOUT
    for name in names:
        while (consumers := queue_state(api, name)["consumers"]) != count:
            assert time.monotonic() < deadline, (
                f"{consumers} consumers on {name!r} after {PARK_TIMEOUT} s, expected {count}")
            time.sleep(0.005)


Background = Callable[..., "Future[Answer]"]


@pytest.fixture
def background() -> Iterator[Background]:
    """Runs `function(client, *arguments)` on another thread, with its own client and so
    its own connection to `server`; the future gives its answer (or its failure)."""
    executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="consumer")
    clients: list[Client] = []

    def run(server: RunningServer, function: Callable[..., Answer], *arguments: Any) -> Future[Answer]:
        def task() -> Answer:
            client = Client(server)
            clients.append(client)
            return function(client, *arguments)

        return executor.submit(task)

    yield run
    executor.shutdown(wait=True)
    for client in clients:
        client.session.close()


def test_queue_lifecycle(api: Client) -> None:
    name = unique("queue")
    path = {"name": name}
    assert queue_state(api, name) == queue_body(name, 0, 0), "absent: length 0"
    assert peek(api, name) == {"name": name, "length": 0, "messages": []}

    assert push(api, name, b"one", "text/plain") == 1
    assert push(api, name, b"\x00\xff two") == 2
    assert push(api, name, b"", "text/csv; header=present") == 3
    state = api.call("GET", "/v1/queues/{name}", path=path, status=200)
    assert state.json() == queue_body(name, 3, 0)
    head = api.call("HEAD", "/v1/queues/{name}", path=path, status=200)
    for header in ("Content-Type", "Content-Length"):
        assert head.headers[header] == state.headers[header], header

    assert_message(pop(api, name), b"one", "text/plain", name)
    assert_message(pop(api, name), b"\x00\xff two", "application/octet-stream", name)
    assert_message(pop(api, name), b"", "text/csv; header=present", name)
    assert pop(api, name, status=204).body == b""
    # The pop that took the last message removed the queue.
    assert queue_state(api, name)["length"] == 0
    api.call("DELETE", "/v1/queues/{name}", path=path, status=404, slugs=("not-found",))

    assert push(api, name, b"doomed") == 1
    assert push(api, name, b"doomed too") == 2
    api.call("DELETE", "/v1/queues/{name}", path=path, status=204)
    assert queue_state(api, name) == queue_body(name, 0, 0)
    api.call("DELETE", "/v1/queues/{name}", path=path, status=404, slugs=("not-found",))
    pop(api, name, status=204)
    api.call("HEAD", "/v1/queues/{name}", path=path, status=200)


def test_peek_shows_text_and_base64_oldest_first(api: Client) -> None:
    name = unique("peek") + "/é q"
    sent = [
        (b"h\xc3\xa9llo", "text/plain; charset=utf-8"),
        (b"\xff\x00\x01", None),
        (b"", "text/plain"),
        (b"\xc3", "application/x-binary"),  # a truncated UTF-8 sequence
        (b"{\"a\": [1, 2]}\n", "application/json"),
    ] + [(f"m{index}".encode(), None) for index in range(7)]
    for index, (body, content_type) in enumerate(sent):
        assert push(api, name, body, content_type) == index + 1

    def shown(message: dict[str, Any]) -> tuple[bytes, str]:
        assert ("text" in message) != ("base64" in message), f"exactly one of text and base64: {message}"
        if "text" in message:
            body = message["text"].encode()
        else:
            body = base64.b64decode(message["base64"], validate=True)
        assert message["bytes"] == len(body)
        return body, message["contentType"]

    expected = [(body, content_type or "application/octet-stream") for body, content_type in sent]
    page = peek(api, name)
    assert (page["name"], page["length"]) == (name, len(sent))
    assert [shown(message) for message in page["messages"]] == expected[:10], "the default limit is 10"
    ids = [int(message["id"]) for message in page["messages"]]
    assert ids == sorted(set(ids)), "ids are distinct, in the order pushed"
    assert all(message["attempts"] == 0 and message["enqueuedAt"] > 0 for message in page["messages"])
    shape = ("contentType", "bytes", "text", "base64")
    assert [{name: value for name, value in message.items() if name in shape} for message in page["messages"][:4]] == [
        {"contentType": "text/plain; charset=utf-8", "bytes": 6, "text": "héllo"},
        {"contentType": "application/octet-stream", "bytes": 3, "base64": "/wAB"},
        {"contentType": "text/plain", "bytes": 0, "text": ""},
        {"contentType": "application/x-binary", "bytes": 1, "base64": "ww=="},
    ]
    assert [shown(message) for message in peek(api, name, 2)["messages"]] == expected[:2]
    assert [shown(message) for message in peek(api, name, 1000)["messages"]] == expected
    assert len(peek(api, name, 1)["messages"]) == 1

    got = api.call("GET", "/v1/queues/{name}/messages", path={"name": name}, query={"limit": "3"},
                   status=200)
    head = api.call("HEAD", "/v1/queues/{name}/messages", path={"name": name}, query={"limit": "3"},
                    status=200)
    assert (head.headers["Content-Type"], head.headers["Content-Length"]) == (
        got.headers["Content-Type"], got.headers["Content-Length"])
    api.call("HEAD", "/v1/queues/{name}/messages", path={"name": unique("absent")}, status=200)
    # A peek removes nothing.
    assert queue_state(api, name)["length"] == len(sent)
    assert_message(pop(api, name), b"h\xc3\xa9llo", "text/plain; charset=utf-8", name)
    api.call("DELETE", "/v1/queues/{name}", path={"name": name}, status=204)


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "+1", "1.5", "ten", "", "99999999999999999999999"])
def test_peek_rejects_bad_limit(api: Client, limit: str) -> None:
    name = unique("peek-limit")
    push(api, name, b"kept")
    path = {"name": name}
    api.call("GET", "/v1/queues/{name}/messages", path=path, query={"limit": limit}, status=400,
             slugs=("bad-request",))
    api.call("HEAD", "/v1/queues/{name}/messages", path=path, query={"limit": limit}, status=400)
    assert queue_state(api, name)["length"] == 1


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("a/b", id="slash"),
        pytest.param("100%", id="percent"),
        pytest.param("with space", id="space"),
        pytest.param("plus+sign", id="plus"),
        pytest.param("comma,name", id="comma"),
        pytest.param("été 日本語 🙂", id="utf8"),
        pytest.param("..", id="dots"),
        pytest.param("?#&=", id="delimiters"),
        pytest.param(":@!$'()*+;=~-._", id="kept-in-header"),
        pytest.param("q" * 1024, id="1024-bytes"),
        pytest.param("ü" * 512, id="1024-bytes-utf8"),
    ],
)
def test_queue_name_is_one_decoded_segment(api: Client, name: str) -> None:
    name = name if len(name.encode()) >= 1024 else unique("qseg") + name
    path = {"name": name}
    assert push(api, name, name.encode(), "text/plain; charset=utf-8") == 1
    assert queue_state(api, name) == queue_body(name, 1, 0)
    assert peek(api, name)["name"] == name
    listing = api.call("GET", "/v1/keys", query={"prefix": name}, status=200).json()
    row = {"key": name, "type": "queue", "ttl": None, "bytes": len(name.encode()), "length": 1}
    assert listing["keys"] == [row]
    answer = pop(api, name, status=200)
    assert_message(answer, name.encode(), "text/plain; charset=utf-8", name)
    assert urllib.parse.unquote(answer.headers["Queue"]) == name
    api.call("DELETE", "/v1/queues/{name}", path=path, status=404)


@pytest.mark.parametrize(
    ("suffix", "header"), [("a b", "a%20b"), ("/é%", "%2F%C3%A9%25"), ("x\u00a0y", "x%C2%A0y")]
)
def test_queue_header_is_the_name_percent_encoded(api: Client, suffix: str, header: str) -> None:
    prefix = unique("header")  # letters, digits and '-': written as they are
    name = prefix + suffix
    push(api, name, b"m")
    assert pop(api, name, status=200).headers["Queue"] == prefix + header
    push(api, name, b"m")
    assert pop_any(api, [unique("empty"), name], status=200).headers["Queue"] == prefix + header


@pytest.mark.parametrize(("segment", "slugs"), INVALID_KEY_SEGMENTS)
def test_invalid_queue_name_is_400(api: Client, segment: str, slugs: tuple[str, ...]) -> None:
    for method, template, suffix in [
        ("POST", "/v1/queues/{name}", ""), ("GET", "/v1/queues/{name}", ""), ("HEAD", "/v1/queues/{name}", ""),
        ("DELETE", "/v1/queues/{name}", ""), ("GET", "/v1/queues/{name}/messages", "/messages"),
        ("HEAD", "/v1/queues/{name}/messages", "/messages"), ("POST", "/v1/queues/{name}/pop", "/pop"),
    ]:
        body = b"x" if template == "/v1/queues/{name}" and method == "POST" else None
        api.call(method, template, raw_target=f"/v1/queues/{segment}{suffix}", body=body, status=400,
                 slugs=slugs)


def test_pop_without_wait_on_an_empty_queue_is_204_at_once(api: Client) -> None:
    names = [unique("empty"), unique("empty")]
    started = time.monotonic()
    for wait in (None, "0", "0.000", ".0"):
        assert pop(api, names[0], wait, status=204).body == b""
        assert pop_any(api, names, wait, status=204).body == b""
    assert time.monotonic() - started < 2, "a pop that may not wait answered late"
    assert queue_state(api, names[0]) == queue_body(names[0], 0, 0)


def test_pop_waits_then_answers_204(api: Client) -> None:
    names = [unique("waiting"), unique("waiting")]
    calls = (lambda: pop(api, names[0], "0.2", status=204), lambda: pop_any(api, names, "0.2", status=204))
    for call in calls:
        started = time.monotonic()
        assert call().body == b""
        elapsed = time.monotonic() - started
        assert 0.2 <= elapsed < 5, f"a pop with wait=0.2 answered after {elapsed:.3f} s"
    await_consumers(api, names, 0)


@pytest.mark.parametrize("wait", [str(MAX_WAIT_SECONDS), "5.", ".5", "007", "0.25", "60.000", "0.0001"])
def test_pop_takes_a_waiting_message_at_once_whatever_the_wait(api: Client, wait: str) -> None:
    names = [unique("ready"), unique("ready")]
    push(api, names[1], b"ready")
    assert_message(pop(api, names[1], wait, status=200), b"ready", "application/octet-stream", names[1])
    push(api, names[1], b"again")
    assert_message(pop_any(api, names, wait, status=200), b"again", "application/octet-stream", names[1])


@pytest.mark.parametrize(
    "wait",
    ["-1", "+1", " 1", "1e3", "0x10", "1,5", "inf", "nan", "abc", "", ".", "1.2.3",
     str(MAX_WAIT_SECONDS + 1), f"{MAX_WAIT_SECONDS}.001", f"{MAX_WAIT_SECONDS}.0001",
     "99999999999999999999999"],
)
def test_pop_rejects_bad_wait(api: Client, wait: str) -> None:
    name = unique("bad-wait")
    push(api, name, b"kept")
    pop(api, name, wait, status=400, slugs=("bad-request",))
    pop_any(api, [name], wait, status=400, slugs=("bad-request",))
    assert queue_state(api, name) == queue_body(name, 1, 0), "a refused pop takes nothing"


def test_parked_pop_gets_a_message_pushed_from_another_connection(api: Client, background: Background) -> None:
    name = unique("parked") + " a b"
    waiting = background(api.server, pop, name, "5", 200)
    await_consumers(api, [name], 1)
    assert queue_state(api, name) == queue_body(name, 0, 1)
    assert push(api, name, b"hello", "text/plain") == 0, "handed to the waiting consumer"
    answer = waiting.result(timeout=REQUEST_TIMEOUT)
    assert_message(answer, b"hello", "text/plain", name)
    assert answer.headers["Queue"].endswith("%20a%20b")
    assert queue_state(api, name) == queue_body(name, 0, 0)

    # The same through the multi-queue pop.
    waiting = background(api.server, pop_any, [name], "5", 200)
    await_consumers(api, [name], 1)
    assert push(api, name, b"\x00\x01") == 0
    assert_message(waiting.result(timeout=REQUEST_TIMEOUT), b"\x00\x01", "application/octet-stream", name)


def test_waiting_consumers_are_served_first_come_first_served(api: Client, background: Background) -> None:
    name = unique("fifo")
    consumers = []
    for index in range(3):
        function, argument = (pop, name) if index != 1 else (pop_any, [unique("other"), name])
        consumers.append(background(api.server, function, argument, "5", 200))
        await_consumers(api, [name], index + 1)
    for index in range(3):
        assert push(api, name, f"message {index}".encode()) == 0
    for index, consumer in enumerate(consumers):
        assert_message(consumer.result(timeout=REQUEST_TIMEOUT), f"message {index}".encode(),
                       "application/octet-stream", name)
    assert queue_state(api, name) == queue_body(name, 0, 0)


def test_multi_queue_pop_takes_the_first_non_empty_queue_in_order(api: Client) -> None:
    a, b, c = unique("first"), unique("second"), unique("third")
    push(api, b, b"b1")
    push(api, b, b"b2")
    push(api, c, b"c1")
    assert_message(pop_any(api, [a, b, c]), b"b1", "application/octet-stream", b)
    assert_message(pop_any(api, [a, b, c]), b"b2", "application/octet-stream", b)
    assert_message(pop_any(api, [a, b, c]), b"c1", "application/octet-stream", c)
    pop_any(api, [a, b, c], status=204)
    # The order given decides, not the order of the pushes or of the names.
    push(api, a, b"a1")
    push(api, c, b"c2")
    assert_message(pop_any(api, [c, b, a]), b"c2", "application/octet-stream", c)
    assert_message(pop_any(api, [c, b, a]), b"a1", "application/octet-stream", a)
    # Up to 64 queues.
    many = [unique("many") for _ in range(64)]
    pop_any(api, many, status=204)
    push(api, many[-1], b"last")
    assert_message(pop_any(api, many), b"last", "application/octet-stream", many[-1])


def test_consumer_parked_on_several_queues_gets_one_message(api: Client, background: Background) -> None:
    a, b = unique("one-of"), unique("one-of")
    waiting = background(api.server, pop_any, [a, b], "5", 200)
    await_consumers(api, [a, b], 1)
    assert push(api, b, b"first") == 0
    assert_message(waiting.result(timeout=REQUEST_TIMEOUT), b"first", "application/octet-stream", b)
    await_consumers(api, [a, b], 0)
    assert push(api, a, b"second") == 1, "the consumer took one message only"
    assert [message["text"] for message in peek(api, a)["messages"]] == ["second"]
    api.call("DELETE", "/v1/queues/{name}", path={"name": a}, status=204)


def test_consumer_that_disconnects_while_waiting_is_dropped(api: Client) -> None:
    name = unique("hang-up")
    connection = api.connect()
    try:
        target = build_target("/v1/queues/{name}/pop", {"name": name}, {"wait": "10"})
        connection.request("POST", target, body=b"")
        await_consumers(api, [name], 1)
    finally:
        connection.close()
    await_consumers(api, [name], 0)
    assert push(api, name, b"kept") == 1, "no message goes to a consumer that left"
    assert_message(pop(api, name), b"kept", "application/octet-stream", name)


@pytest.mark.parametrize("template", ["/v1/queues/{name}/pop", "/v1/pop"])
def test_pops_answer_only_post_and_a_get_takes_nothing(api: Client, template: str) -> None:
    name = unique("not-get")
    push(api, name, b"kept")
    target = build_target(template, {"name": name}, {"queues": name} if template == "/v1/pop" else None)
    for method in ("GET", "HEAD", "PUT", "DELETE", "PATCH"):
        answer = api.send(method, target)
        assert answer.status == 405, str(answer)
        check_problem(answer, "MethodNotAllowed", ("method-not-allowed",))
        assert answer.headers["Allow"] == "POST, OPTIONS"
        assert queue_state(api, name)["length"] == 1, f"{method} took a message"
    options = api.call("OPTIONS", template, path={"name": name}, status=204)
    assert options.headers["Allow"] == "POST, OPTIONS"
    assert_message(pop(api, name), b"kept", "application/octet-stream", name)


@pytest.mark.parametrize(
    ("query", "slugs"),
    [
        pytest.param("", ("bad-request",), id="missing"),
        pytest.param("wait=1", ("bad-request",), id="missing-with-wait"),
        pytest.param("queues=", ("invalid-key", "bad-request"), id="empty"),
        pytest.param("queues=a,,b", ("invalid-key", "bad-request"), id="empty-name"),
        pytest.param("queues=a,", ("invalid-key", "bad-request"), id="trailing-comma"),
        pytest.param("queues=,a", ("invalid-key", "bad-request"), id="leading-comma"),
        pytest.param("queues=%2C", ("invalid-key", "bad-request"), id="encoded-comma"),
        pytest.param("queues=a,b,a", ("bad-request",), id="duplicate"),
        pytest.param("queues=a,%61", ("bad-request",), id="duplicate-encoded"),
        pytest.param("queues=" + ",".join(f"q{index}" for index in range(65)), ("bad-request",),
                     id="65-names"),
        pytest.param("queues=a&queues=b", ("bad-request",), id="repeated"),
        pytest.param("queues=" + "k" * 1025, ("invalid-key",), id="1025-bytes"),
        pytest.param("queues=a,%00", ("invalid-key", "bad-request"), id="nul"),
        pytest.param("queues=a%0Ab", ("invalid-key", "bad-request"), id="newline"),
        pytest.param("queues=%7F", ("invalid-key", "bad-request"), id="delete"),
        pytest.param("queues=%FF", ("invalid-key", "bad-request"), id="not-utf8"),
        pytest.param("queues=%zz", ("bad-request", "invalid-key"), id="bad-escape"),
    ],
)
def test_multi_queue_pop_rejects_bad_queues(api: Client, query: str, slugs: tuple[str, ...]) -> None:
    # Sent as written: requests would re-quote a bad escape such as %zz.
    target = f"/v1/pop?{query}" if query else "/v1/pop"
    api.call("POST", "/v1/pop", raw_target=target, status=400, slugs=slugs)


def test_wrong_type_both_ways(api: Client) -> None:
    string, queue, other = unique("a-string"), unique("a-queue"), unique("a-queue")
    tag = api.call("PUT", "/v1/cache/{key}", path={"key": string}, body=b"text", status=201).headers["ETag"]
    push(api, queue, b"message")
    push(api, other, b"other")
    wrong = ("wrong-type",)

    # Queue operations on a string.
    api.call("POST", "/v1/queues/{name}", path={"name": string}, body=b"m", status=409, slugs=wrong)
    for method in ("GET", "HEAD", "DELETE"):
        api.call(method, "/v1/queues/{name}", path={"name": string}, status=409, slugs=wrong)
    for method in ("GET", "HEAD"):
        api.call(method, "/v1/queues/{name}/messages", path={"name": string}, status=409, slugs=wrong)
    for wait in (None, "5"):
        pop(api, string, wait, status=409, slugs=wrong)
        pop_any(api, [unique("absent"), string], wait, status=409, slugs=wrong)
        # Also when an earlier queue holds a message: that message stays.
        pop_any(api, [other, string], wait, status=409, slugs=wrong)
    read = api.call("GET", "/v1/cache/{key}", path={"key": string}, status=200)
    assert (read.body, read.headers["ETag"]) == (b"text", tag), "the string is unchanged"

    # Value operations on a queue, also with conditions that hold.
    for method in ("GET", "HEAD", "DELETE"):
        api.call(method, "/v1/cache/{key}", path={"key": queue}, status=409, slugs=wrong)
    api.call("GET", "/v1/cache/{key}", path={"key": queue}, headers={"If-None-Match": "*"}, status=409,
             slugs=wrong)
    api.call("PUT", "/v1/cache/{key}", path={"key": queue}, body=b"v", status=409, slugs=wrong)
    api.call("PUT", "/v1/cache/{key}", path={"key": queue}, body=b"v", headers={"If-Match": "*"}, status=409,
             slugs=wrong)
    api.call("PUT", "/v1/cache/{key}", path={"key": queue}, query={"ttl": "5"}, body=b"v", status=409,
             slugs=wrong)
    api.call("DELETE", "/v1/cache/{key}", path={"key": queue}, headers={"If-Match": "*"}, status=409,
             slugs=wrong)
    for name in (queue, other):
        assert queue_state(api, name)["length"] == 1, "the queues are unchanged"

    # Times to live work on both.
    assert remaining_seconds(api, queue) is None
    api.call("HEAD", "/v1/cache/{key}/ttl", path={"key": queue}, status=200)
    api.call("PUT", "/v1/cache/{key}/ttl", path={"key": queue}, body=b'{"ttl": 100}', status=204)
    seconds = remaining_seconds(api, queue)
    assert seconds is not None and 90 < seconds <= 100
    api.call("PUT", "/v1/cache/{key}/ttl", path={"key": queue}, body=b'{"ttl": null}', status=204)
    assert remaining_seconds(api, queue) is None
    assert [message["text"] for message in peek(api, queue)["messages"]] == ["message"]


@pytest.mark.parametrize(
    ("method", "condition"),
    [("PUT", {"If-None-Match": "*"}), ("PUT", {"If-Match": '"ffffffff"'}),
     ("DELETE", {"If-Match": '"ffffffff"'})],
)
def test_conditional_write_on_a_queue_is_409(api: Client, method: str, condition: dict[str, str]) -> None:
    queue = unique("conditional-queue")
    push(api, queue, b"message")
    body = b"v" if method == "PUT" else None
    try:
        api.call(method, "/v1/cache/{key}", path={"key": queue}, headers=condition, body=body, status=409,
                 slugs=("wrong-type",))
    finally:
        assert queue_state(api, queue)["length"] == 1, "the queue is unchanged"


def test_expired_queue_is_absent(api: Client) -> None:
    name = unique("expiring-queue")
    push(api, name, b"soon gone")
    api.call("PUT", "/v1/cache/{key}/ttl", path={"key": name}, body=b'{"ttl": 0.05}', status=204)
    deadline = time.monotonic() + 5
    while queue_state(api, name)["length"] != 0:
        assert time.monotonic() < deadline, "the queue did not expire within 5 s of a 50 ms TTL"
        time.sleep(0.01)
    pop(api, name, status=204)
    api.call("DELETE", "/v1/queues/{name}", path={"name": name}, status=404)
    # A new message starts a new queue, without the old time to live.
    assert push(api, name, b"new") == 1
    assert remaining_seconds(api, name) is None


def test_listing_shows_queues(api: Client) -> None:
    prefix = unique("list-queues") + "/"
    for body in (b"a", b"bb", b"", b"\xff\xfe\xfd"):
        push(api, prefix + "queue", body)
    api.call("PUT", "/v1/cache/{key}", path={"key": prefix + "string"}, body=b"xyz", status=201)
    api.call("PUT", "/v1/cache/{key}/ttl", path={"key": prefix + "queue"}, body=b'{"ttl": 100}', status=204)
    rows = api.call("GET", "/v1/keys", query={"prefix": prefix}, status=200).json()["keys"]
    queue_row, string_row = rows
    ttl = queue_row.pop("ttl")
    assert ttl is not None and 90 < ttl <= 100
    assert queue_row == {"key": prefix + "queue", "type": "queue", "bytes": 6, "length": 4}
    assert string_row == {"key": prefix + "string", "type": "string", "ttl": None, "bytes": 3}
    api.call("HEAD", "/v1/keys", query={"prefix": prefix}, status=200)
    pop(api, prefix + "queue", status=200)
    row = api.call("GET", "/v1/keys", query={"prefix": prefix + "q"}, status=200).json()["keys"][0]
    assert (row["bytes"], row["length"]) == (5, 3)


def test_max_wait_and_shutdown_answer_parked_pops(
    request: pytest.FixtureRequest, background: Background
) -> None:
    """A server with `--max-wait 30`: longer waits are refused; pops parked when it stops get 503."""
    server = start_server(request, PUBLIC, ("--max-wait", "30"))
    client = Client(server)
    request.addfinalizer(client.session.close)
    name, others = unique("shutdown"), [unique("shutdown"), unique("shutdown")]
    for wait in ("30.001", "31", str(MAX_WAIT_SECONDS)):
        pop(client, name, wait, status=400, slugs=("bad-request",))
        pop_any(client, others, wait, status=400, slugs=("bad-request",))
    single = background(server, pop, name, "30", 503)
    several = background(server, pop_any, others, "30", 503)
    await_consumers(client, [name, *others], 1)
    server.process.send_signal(signal.SIGTERM)
    for parked in (single, several):
        answer = parked.result(timeout=REQUEST_TIMEOUT)
        assert answer.json()["type"] == "/problems/service-unavailable", str(answer)
        assert answer.headers["Connection"] == "close", str(answer)
    assert server.process.wait(timeout=STOP_TIMEOUT) == 0


# --- Leases, delays and moves -------------------------------------------------------------


def receive(
    api: Client, name: str, query: Query | None = None, status: int | tuple[int, ...] = 200,
    slugs: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    """Receives on a lease; the answer's JSON (`{}` for a 204)."""
    answer = api.call("POST", "/v1/queues/{name}/receive", path={"name": name}, query=query, status=status,
                      slugs=slugs)
    return answer.json() if answer.status == 200 else {}


def acknowledge(api: Client, name: str, receipt: str, status: int = 204, slugs: tuple[str, ...] | None = None) -> Answer:
    return api.call("DELETE", "/v1/queues/{name}/leases/{receipt}", path={"name": name, "receipt": receipt},
                    status=status, slugs=slugs)


def extend(api: Client, name: str, receipt: str, seconds: float, status: int = 200,
           slugs: tuple[str, ...] | None = None) -> Answer:
    return api.call("PUT", "/v1/queues/{name}/leases/{receipt}", path={"name": name, "receipt": receipt},
                    body=json.dumps({"visibility": seconds}).encode(), status=status, slugs=slugs)


def move(api: Client, source: str, destination: str, wait: str | None = None,
         status: int | tuple[int, ...] = 200, slugs: tuple[str, ...] | None = None) -> Answer:
    query = [("to", destination)] + ([("wait", wait)] if wait is not None else [])
    return api.call("POST", "/v1/queues/{name}/pop", path={"name": source}, query=query, status=status, slugs=slugs)


def counts(api: Client, name: str) -> tuple[int, int, int, int]:
    """A queue's (length, visible, inFlight, delayed)."""
    state = queue_state(api, name)
    return state["length"], state["visible"], state["inFlight"], state["delayed"]


def text_of(message: dict[str, Any]) -> str:
    return message["text"] if "text" in message else base64.b64decode(message["base64"]).decode("latin-1")


def test_a_received_message_stays_until_acknowledged_and_is_then_gone_for_good(api: Client) -> None:
    name = unique("lease")
    pushed = unix_milliseconds()
    push(api, name, b"one", "text/plain")
    push(api, name, b"\xff two")
    before = unix_milliseconds()
    received = receive(api, name, {"visibility": "30", "max": "5"})["messages"]
    after = unix_milliseconds()
    assert [text_of(message) for message in received] == ["one", "\xff two"]
    first, second = received
    assert (first["contentType"], first["bytes"], first["attempts"]) == ("text/plain", 3, 1)
    assert second["base64"] == base64.b64encode(b"\xff two").decode() and "text" not in second
    assert pushed <= first["enqueuedAt"] <= before
    assert before + 30_000 <= first["visibleUntil"] <= after + 30_000
    assert first["id"] != second["id"] and first["receipt"] != second["receipt"]
    # In flight: counted, but no pop, receive or peek sees them.
    assert counts(api, name) == (2, 0, 2, 0)
    assert peek(api, name) == {"name": name, "length": 2, "messages": []}
    pop(api, name, status=204)
    receive(api, name, status=204)

    acknowledge(api, name, first["receipt"])
    assert counts(api, name) == (1, 0, 1, 0)
    acknowledge(api, name, first["receipt"], status=410, slugs=("lease-expired",))
    extend(api, name, first["receipt"], 10, status=410, slugs=("lease-expired",))
    forged = second["receipt"][:-2] + ("AA" if second["receipt"][-2:] != "AA" else "BB")
    outcome = api.call("POST", "/v1/queues/{name}/ack", path={"name": name},
                       body=json.dumps({"receipts": [second["receipt"], forged, first["receipt"],
                                                     second["receipt"]]}).encode(), status=200).json()
    assert outcome == {"acked": [second["receipt"]], "expired": [first["receipt"]], "unknown": [forged]}
    # Acknowledged: gone for good, and the queue with its last message.
    assert counts(api, name) == (0, 0, 0, 0)
    assert api.call("GET", "/v1/keys", query={"prefix": name}, status=200).json()["keys"] == []


def test_a_worker_that_disappears_gets_its_message_back_after_the_visibility(
    api: Client, background: Background
) -> None:
    name = unique("crashed-worker")
    push(api, name, b"work")
    leased = receive(api, name, {"visibility": "0.3"})["messages"][0]
    assert leased["attempts"] == 1
    # The worker vanishes without acknowledging; the next waits, and gets it once the lease ends.
    waiting = background(api.server, receive, name, {"wait": "5", "visibility": "30"})
    again = waiting.result(timeout=REQUEST_TIMEOUT)["messages"][0]
    arrived = unix_milliseconds()
    assert arrived >= leased["visibleUntil"], "redelivered before the lease ended"
    assert (again["id"], again["attempts"], text_of(again)) == (leased["id"], 2, "work")
    assert again["receipt"] != leased["receipt"]
    acknowledge(api, name, leased["receipt"], status=410, slugs=("lease-expired",))
    extend(api, name, leased["receipt"], 0, status=410, slugs=("lease-expired",))
    acknowledge(api, name, again["receipt"])


def test_release_with_zero_and_extend(api: Client) -> None:
    name = unique("release")
    push(api, name, b"a")
    push(api, name, b"b")
    first = receive(api, name, {"visibility": "0.5"})["messages"][0]
    # A heartbeat: the lease now ends a minute from now, well after its first end.
    before = unix_milliseconds()
    extended = extend(api, name, first["receipt"], 60).json()["visibleUntil"]
    assert before + 60_000 <= extended <= unix_milliseconds() + 60_000
    time.sleep(0.6)
    assert counts(api, name) == (2, 1, 1, 0), "an extended lease outlives its first end"
    # Released: visible again at once, at the head, with its attempt counted.
    released = extend(api, name, first["receipt"], 0).json()["visibleUntil"]
    assert released <= unix_milliseconds()
    assert counts(api, name) == (2, 2, 0, 0)
    again = receive(api, name)["messages"][0]
    assert (text_of(again), again["attempts"]) == ("a", 2)
    acknowledge(api, name, first["receipt"], status=410, slugs=("lease-expired",))
    acknowledge(api, name, again["receipt"])


def test_max_receives_moves_a_message_to_the_dead_letter_queue(api: Client, background: Background) -> None:
    name, dead = unique("poison"), unique("poison-dead")
    path = {"name": name}
    assert api.call("GET", "/v1/queues/{name}/policy", path=path, status=200).json() == {
        "visibility": 30, "maxReceives": None, "deadLetter": None}
    policy = {"visibility": 0.25, "maxReceives": 2, "deadLetter": dead}
    assert api.call("PUT", "/v1/queues/{name}/policy", path=path, body=json.dumps(policy).encode(),
                    status=200).json() == policy
    api.call("HEAD", "/v1/queues/{name}/policy", path=path, status=200)
    push(api, name, b"poison")
    first = receive(api, name)["messages"][0]
    assert first["visibleUntil"] - unix_milliseconds() <= 250, "the policy's visibility"
    second = background(api.server, receive, name, {"wait": "5"}).result(timeout=REQUEST_TIMEOUT)["messages"][0]
    assert second["attempts"] == 2
    # Its second lease ends unacknowledged: to the tail of the dead-letter queue, attempts kept.
    waiting_dead = background(api.server, receive, dead, {"wait": "5", "visibility": "30"})
    dead_letter = waiting_dead.result(timeout=REQUEST_TIMEOUT)["messages"][0]
    assert (dead_letter["id"], text_of(dead_letter), dead_letter["attempts"]) == (first["id"], "poison", 3)
    assert counts(api, name) == (0, 0, 0, 0)
    # The policy outlives its empty queue, until reset.
    assert api.call("GET", "/v1/queues/{name}/policy", path=path, status=200).json() == policy
    api.call("DELETE", "/v1/queues/{name}/policy", path=path, status=204)
    assert api.call("GET", "/v1/queues/{name}/policy", path=path, status=200).json()["maxReceives"] is None
    acknowledge(api, dead, dead_letter["receipt"])


def test_a_delayed_message_appears_when_due(api: Client, background: Background) -> None:
    name = unique("delayed")
    # Timed from before the push, which the server stamps in whole milliseconds: a message may
    # appear up to 1 ms before the delay has passed on the client's finer clock.
    pushed = time.monotonic()
    api.call("POST", "/v1/queues/{name}", path={"name": name}, query={"delay": "0.5"}, body=b"later", status=201)
    assert counts(api, name) == (1, 0, 0, 1)
    pop(api, name, status=204)
    receive(api, name, status=204)
    waiting = background(api.server, receive, name, {"wait": "5"})
    message = waiting.result(timeout=REQUEST_TIMEOUT)["messages"][0]
    elapsed = time.monotonic() - pushed
    assert 0.5 - 0.001 <= elapsed < 0.5 + 0.25, f"a message delayed 0.5 s appeared after {elapsed:.4f} s"
    assert unix_milliseconds() - message["enqueuedAt"] >= 500
    assert text_of(message) == "later" and message["attempts"] == 1
    acknowledge(api, name, message["receipt"])


def test_delay_precision_over_many_messages(api: Client) -> None:
    """Each delayed message is visible no later than a few milliseconds after its moment: a
    receive in a loop sees it appear, measured against its `enqueuedAt` and delay."""
    name = unique("delay-precision")
    delays = [0.05 * index for index in range(1, 11)]
    for delay in delays:
        api.call("POST", "/v1/queues/{name}", path={"name": name}, query={"delay": f"{delay:.2f}"},
                 body=f"{delay:.2f}".encode(), status=201)
    lateness: list[int] = []
    for _ in delays:
        message = receive(api, name, {"wait": "5", "visibility": "30"})["messages"][0]
        due = message["enqueuedAt"] + round(float(message["text"]) * 1000)
        lateness.append(unix_milliseconds() - due)
        acknowledge(api, name, message["receipt"])
    assert all(late >= 0 for late in lateness), f"a message appeared early: {lateness}"
    assert sorted(lateness)[len(lateness) // 2] <= 20, f"median lateness {lateness} ms"


def test_waiting_consumers_of_every_kind_are_served_first_come_first_served(
    api: Client, background: Background
) -> None:
    name, destination = unique("fifo-kinds"), unique("fifo-kinds-moved")

    receipts: list[str] = []

    def leased(client: Client) -> Answer:
        got = receive(client, name, {"wait": "5"})["messages"][0]
        receipts.append(got["receipt"])
        return Answer("POST", "", 200, CaseInsensitiveDict(), text_of(got).encode())

    starts = [lambda: background(api.server, pop, name, "5", 200), lambda: background(api.server, leased),
              lambda: background(api.server, move, name, destination, "5"), lambda: background(api.server, leased),
              lambda: background(api.server, pop, name, "5", 200)]
    consumers = []
    for index, start in enumerate(starts):
        consumers.append(start())
        await_consumers(api, [name], index + 1)
    for index in range(len(starts)):
        push(api, name, f"m{index}".encode())
    assert [consumer.result(timeout=REQUEST_TIMEOUT).body for consumer in consumers] == [
        f"m{index}".encode() for index in range(len(starts))]
    # The received messages stay, in flight; the moved one is in its destination.
    assert counts(api, name) == (2, 0, 2, 0)
    assert [message["text"] for message in peek(api, destination)["messages"]] == ["m2"]
    for receipt in receipts:
        acknowledge(api, name, receipt)


def test_moves_under_concurrency_keep_each_message_exactly_once(api: Client) -> None:
    source, destination = unique("move-src"), unique("move-dst")
    total = 300
    for index in range(total):
        push(api, source, f"{index}".encode())
    moved: list[bytes] = []

    def mover() -> None:
        client = Client(api.server)
        try:
            while (answer := move(client, source, destination, status=(200, 204))).status == 200:
                moved.append(answer.body)
        finally:
            client.session.close()

    with ThreadPoolExecutor(max_workers=8) as executor:
        for future in [executor.submit(mover) for _ in range(8)]:
            future.result(timeout=60)
    assert sorted(moved, key=int) == [f"{index}".encode() for index in range(total)], "each moved once"
    assert counts(api, source) == (0, 0, 0, 0)
    landed = peek(api, destination, 1000)
    assert sorted((message["text"] for message in landed["messages"]), key=int) == [f"{i}" for i in range(total)]
    assert landed["length"] == total


def test_a_waiting_move_takes_a_pushed_message_to_its_destination(api: Client, background: Background) -> None:
    source, destination = unique("move-wait"), unique("move-wait-dst")
    waiting = background(api.server, move, source, destination, "5")
    await_consumers(api, [source], 1)
    assert push(api, source, b"carried", "text/plain") == 0
    assert_message(waiting.result(timeout=REQUEST_TIMEOUT), b"carried", "text/plain", source)
    assert counts(api, source) == (0, 0, 0, 0)
    assert [message["text"] for message in peek(api, destination)["messages"]] == ["carried"]
    move(api, unique("move-empty"), destination, status=204)


def test_bad_lease_input_is_a_problem_and_changes_nothing(api: Client) -> None:
    name, string = unique("bad-lease"), unique("bad-lease-string")
    push(api, name, b"kept")
    api.call("PUT", "/v1/cache/{key}", path={"key": string}, body=b"v", status=201)
    for query in ({"max": "0"}, {"max": "101"}, {"max": "-1"}, {"max": "x"}, {"visibility": "0"},
                  {"visibility": "43200.001"}, {"visibility": "-1"}, {"visibility": "abc"}, {"wait": "61"}):
        receive(api, name, query, status=400, slugs=("bad-request",))
    for delay in ("2592000.001", "-1", "x"):
        api.call("POST", "/v1/queues/{name}", path={"name": name}, query={"delay": delay}, body=b"no",
                 status=400, slugs=("bad-request",))
    move(api, name, name, status=400, slugs=("bad-request",))
    move(api, name, string, status=409, slugs=("wrong-type",))
    receive(api, string, status=409, slugs=("wrong-type",))
    for malformed in ("short", "*" * 44, "A" * 45):
        acknowledge(api, name, malformed, status=400, slugs=("invalid-receipt",))
        extend(api, name, malformed, 5, status=400, slugs=("invalid-receipt",))
    # In the form of a receipt, but none this server gave out: unknown.
    acknowledge(api, name, "A" * 44, status=404, slugs=("not-found",))
    extend(api, name, "A" * 44, 5, status=404, slugs=("not-found",))
    assert counts(api, name) == (1, 1, 0, 0), "refused requests take nothing"
    leased = receive(api, name, {"visibility": "30"})["messages"][0]
    # A receipt given out for another queue is unknown here, whatever that queue holds.
    other = unique("bad-lease-other")
    acknowledge(api, other, leased["receipt"], status=404, slugs=("not-found",))
    extend(api, other, leased["receipt"], 0, status=404, slugs=("not-found",))
    acknowledge(api, string, leased["receipt"], status=409, slugs=("wrong-type",))
    for body in (b"", b"{}", b'{"visibility": -1}', b'{"visibility": 43200.5}', b'{"visibility": "5"}',
                 b'{"visibility": 5, "x": 1}', b"[5]", b"\xff"):
        api.call("PUT", "/v1/queues/{name}/leases/{receipt}", path={"name": name, "receipt": leased["receipt"]},
                 body=body, status=400, slugs=("bad-request",))
    for body in (b"", b"{}", b'{"receipts": []}', b'{"receipts": "x"}', b'{"receipts": [1]}',
                 b'{"receipts": ["x"], "y": 1}', json.dumps({"receipts": ["x"] * 1001}).encode()):
        api.call("POST", "/v1/queues/{name}/ack", path={"name": name}, body=body, status=400,
                 slugs=("bad-request", "invalid-receipt"))
    batch = json.dumps({"receipts": [leased["receipt"], "malformed"]}).encode()
    api.call("POST", "/v1/queues/{name}/ack", path={"name": name}, body=batch, status=400,
             slugs=("invalid-receipt",))
    assert counts(api, name) == (1, 0, 1, 0), "a refused acknowledgement acknowledges nothing"
    for body in (b"", b"[]", b'{"visibility": 0}', b'{"visibility": 43201}', b'{"maxReceives": 3}',
                 b'{"deadLetter": "d"}', b'{"maxReceives": 0, "deadLetter": "d"}',
                 b'{"maxReceives": 1001, "deadLetter": "d"}', b'{"maxReceives": 2.5, "deadLetter": "d"}',
                 json.dumps({"maxReceives": 2, "deadLetter": name}).encode(), b'{"visibility": 5, "x": 1}',
                 b'{"deadLetter": ""}'):
        api.call("PUT", "/v1/queues/{name}/policy", path={"name": name}, body=body, status=400,
                 slugs=("bad-request", "invalid-key"))
    api.call("PUT", "/v1/queues/{name}/policy", path={"name": string}, body=b"{}", status=409, slugs=("wrong-type",))
    api.call("PUT", "/v1/queues/{name}/policy", path={"name": name},
             body=json.dumps({"maxReceives": 2, "deadLetter": string}).encode(), status=409, slugs=("wrong-type",))
    api.call("GET", "/v1/queues/{name}/policy", path={"name": string}, status=409, slugs=("wrong-type",))
    assert api.call("GET", "/v1/queues/{name}/policy", path={"name": name}, status=200).json()["visibility"] == 30
    acknowledge(api, name, leased["receipt"])


def test_a_receive_whose_client_left_leases_nothing(api: Client) -> None:
    name = unique("receive-hang-up")
    connection = api.connect()
    try:
        target = build_target("/v1/queues/{name}/receive", {"name": name}, {"wait": "10"})
        connection.request("POST", target, body=b"")
        await_consumers(api, [name], 1)
    finally:
        connection.close()
    await_consumers(api, [name], 0)
    push(api, name, b"kept")
    assert counts(api, name) == (1, 1, 0, 0), "no lease for a consumer that left"
    received = receive(api, name)["messages"][0]
    assert (text_of(received), received["attempts"]) == ("kept", 1)
    acknowledge(api, name, received["receipt"])


def test_lease_metrics_count_states_redeliveries_and_dead_letters(request: pytest.FixtureRequest) -> None:
    api = server_of_its_own(request)
    name, dead = "metered", "metered-dead"
    api.call("PUT", "/v1/queues/{name}/policy", path={"name": name},
             body=json.dumps({"visibility": 30, "maxReceives": 2, "deadLetter": dead}).encode(), status=200)
    push(api, name, b"a")
    push(api, name, b"b")
    api.call("POST", "/v1/queues/{name}", path={"name": name}, query={"delay": "60"}, body=b"c", status=201)
    first = receive(api, name)["messages"][0]
    samples = prometheus_samples(api.call("GET", "/metrics", status=200).body.decode())
    assert [metric(samples, "keygate_queue_messages", state=state) for state in ("visible", "in_flight", "delayed")] \
        == [1, 1, 1]
    assert metric(samples, "keygate_keys", type="queue") == 1
    extend(api, name, first["receipt"], 0)
    second = receive(api, name)["messages"][0]
    extend(api, name, second["receipt"], 0)
    samples = prometheus_samples(api.call("GET", "/metrics", status=200).body.decode())
    assert metric(samples, "keygate_redeliveries_total") == 1
    assert metric(samples, "keygate_dead_lettered_total") == 1
    assert metric(samples, "keygate_queue_messages", state="visible") == 2
    assert metric(samples, "keygate_keys", type="queue") == 2, "the queue and its dead-letter queue"


def test_websocket_and_rest_leases_are_one(api: Client) -> None:
    """A receipt given out over REST acknowledges over the WebSocket protocol's operations
    too: the same operation behind both (`test_websocket.py` tests the protocol itself)."""
    name = unique("lease-both")
    push(api, name, b"x")
    leased = receive(api, name)["messages"][0]
    api.call("POST", "/v1/queues/{name}/ack", path={"name": name},
             body=json.dumps({"receipts": [leased["receipt"]]}).encode(), status=200)
    assert counts(api, name) == (0, 0, 0, 0)


# --- Events -----------------------------------------------------------------------------


RETRY_BLOCK = "retry: 3000"
HEARTBEAT_BLOCK = ":heartbeat"
EVENT_TYPES = tuple(SPEC["components"]["schemas"]["KeyspaceEventType"]["enum"])
EVENT_LINES = re.compile(
    r"id: (?P<token>(?P<id>[0-9]+)(?:~[0-9]+(?:-[0-9]+)?(?:,[0-9]+(?:-[0-9]+)?)*)?)\nevent: (?P<type>[a-z]+)"
    r"\ndata: (?P<data>[^\n]*)")


@dataclass
class StreamEvent:
    """One event of a stream: its `id` and `event` lines and its `data`, parsed. `id` is the
    number the id starts with; `token`, the whole id, which on a NATS cluster may also name
    the expirations told ahead of its event stream (`1042~77-80,95`)."""

    id: int
    type: str
    data: dict[str, Any]
    token: str = ""

    @property
    def key(self) -> str:
        return self.data["key"]


def parse_event(block: str) -> StreamEvent:
    """An event block: exactly the lines `id`, `event` and `data`, the data valid against
    `GapEvent` for a gap and `KeyspaceEvent` otherwise, the lines agreeing with it."""
    match = EVENT_LINES.fullmatch(block)
    assert match, f"not an event block (id, event, data): {block!r}"
    event = StreamEvent(int(match["id"]), match["type"], json.loads(match["data"]), match["token"])
    schema = "GapEvent" if event.type == "gap" else "KeyspaceEvent"
    errors = schema_errors(f"/components/schemas/{schema}", event.data)
    assert not errors, f"the data does not match {schema}: {errors}: {block!r}"
    if event.type == "gap":
        assert event.data["from"] <= event.data["to"] == event.id, f"a gap's id is its last lost id: {block!r}"
    else:
        data_id = event.data["id"]
        assert (str(data_id), event.data["type"]) == (event.token, event.type), f"lines disagree: {block!r}"
        assert isinstance(data_id, int) == (event.token == str(event.id)), f"a string id only to name more: {block!r}"
    return event


class EventStream:
    """A request to `/v1/events` on a socket of its own: the answer's status and headers,
    then its chunked body, decoded and split into blocks (the lines before a blank line).

    The body never ends on its own, so every read has a deadline; use it as a context
    manager so that the stream is closed. `receive_buffer` shrinks the socket's receive
    buffer, for a client that reads slowly.
    """

    def __init__(
        self, server: RunningServer, target: str, headers: dict[str, str] | None = None,
        method: str = "GET", receive_buffer: int | None = None,
    ) -> None:
        self.method, self.target = method, target
        family, kind, protocol, _, address = socket.getaddrinfo(
            server.host, server.port, type=socket.SOCK_STREAM)[0]
        self.socket = socket.socket(family, kind, protocol)
        self.received = b""  # read from the socket, not yet decoded
        self.body = b""  # decoded from the chunks, not yet split into blocks
        self.blocks: list[str] = []  # every block read, for failure messages
        self.ended = False  # the chunked terminator came
        try:
            if receive_buffer:
                self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
            self.socket.settimeout(REQUEST_TIMEOUT)
            self.socket.connect(address)
            lines = [f"{method} {target} HTTP/1.1", f"Host: {server.host}:{server.port}"]
            lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
            self.socket.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            self.answer = self.read_head()
        except BaseException:
            self.socket.close()
            raise

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.socket.close()

    def receive(self, deadline: float) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        self.socket.settimeout(remaining)
        data = self.socket.recv(65536)
        assert data, f"the connection closed without the chunked terminator after {self.blocks}"
        self.received += data

    def read_head(self) -> Answer:
        """The status and headers; for an answer that is not a stream, its whole body."""
        deadline = time.monotonic() + REQUEST_TIMEOUT
        while b"\r\n\r\n" not in self.received:
            self.receive(deadline)
        head, self.received = self.received.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        for line in header_lines:
            name, _, value = line.partition(":")
            assert name not in headers, f"the header {name} is repeated: {head!r}"
            headers[name] = value.strip()
        answer = Answer(self.method, self.target, int(status_line.split(" ")[1]), headers, b"")
        if headers.get("Transfer-Encoding") != "chunked":
            length = int(headers.get("Content-Length", "0")) if self.method != "HEAD" else 0
            while len(self.received) < length:
                self.receive(deadline)
            answer.body, self.received = self.received[:length], self.received[length:]
            self.ended = True
        return answer

    def decode(self) -> None:
        """Moves the complete chunks received into `body`; the last one, empty, ends it."""
        while not self.ended and b"\r\n" in self.received:
            size_line, rest = self.received.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                return
            assert rest[size:size + 2] == b"\r\n", f"a chunk does not end with CRLF: {self.received[:200]!r}"
            self.body += rest[:size]
            self.received = rest[size + 2:]
            self.ended = size == 0

    def next_block(self, timeout: float = EVENT_TIMEOUT) -> str | None:
        """The next block, or `None` once the stream has ended after its last block."""
        deadline = time.monotonic() + timeout
        while b"\n\n" not in self.body:
            self.decode()
            if b"\n\n" in self.body:
                break
            if self.ended:
                assert self.body == b"", f"the stream ended inside a block: {self.body!r}"
                return None
            try:
                self.receive(deadline)
            except TimeoutError:
                pytest.fail(f"no block within {timeout} s on {self.target}; so far {self.blocks}")
        # Chunks may split a character; blocks do not.
        raw, self.body = self.body.split(b"\n\n", 1)
        block = raw.decode("utf-8")
        assert "\r" not in block, f"lines end with a line feed only: {block!r}"
        self.blocks.append(block)
        return block

    def next_event(self, timeout: float = EVENT_TIMEOUT) -> StreamEvent:
        """The next event (heartbeats skipped), checked against the document."""
        deadline = time.monotonic() + timeout
        while (block := self.next_block(max(deadline - time.monotonic(), 0.001))) == HEARTBEAT_BLOCK:
            pass
        assert block is not None, f"the stream ended; it had {self.blocks}"
        return parse_event(block)

    def expect(self, *expected: tuple[int, str, str]) -> list[StreamEvent]:
        """Reads as many events as expected, each `(id, type, key)`, and compares them.

        On a NATS cluster an expiry is told at its deadline, ahead of its copy in the event
        stream: its id is the number of the event before it, then `~` and the expiry's record,
        and the copy, which takes the next number, is not told. It is compared here under the
        copy's number."""
        events = [self.next_event() for _ in expected]
        seen = [(event.id + 1 if event.type == "expired" and "~" in event.token else event.id, event.type,
                 event.key) for event in events]
        assert seen == list(expected), self.blocks
        return events


def open_events(
    server: RunningServer, query: Query | None = None, headers: dict[str, str] | None = None,
    receive_buffer: int | None = None,
) -> EventStream:
    """Opens `GET /v1/events` and checks it against the document: `200`, the stream's
    headers, and its first block, the reconnection delay; the stream is open after it."""
    target = build_target("/v1/events", {}, query)
    stream = EventStream(server, target, headers, receive_buffer=receive_buffer)
    try:
        answer = stream.answer
        assert answer.status == 200, str(answer)
        check_operation_answer("/v1/events", "GET", answer)
        expected = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache",
                    "X-Accel-Buffering": "no", "Transfer-Encoding": "chunked"}
        assert {name: answer.headers.get(name) for name in expected} == expected, str(answer)
        assert "Content-Length" not in answer.headers, str(answer)
        sent = {name for name, _ in urllib.parse.parse_qsl(urllib.parse.urlsplit(target).query)}
        assert sent <= query_parameter_names("/v1/events", "GET"), f"undocumented parameters {sent}"
        assert stream.next_block() == RETRY_BLOCK, "the stream starts with the reconnection delay"
    except BaseException:
        stream.close()
        raise
    EXERCISED.add(("/v1/events", "GET"))
    return stream


def server_of_its_own(request: pytest.FixtureRequest, *arguments: str) -> Client:
    """A client of a new server, for a test that expects exact event ids (they start at 1)."""
    client = Client(start_server(request, PUBLIC, arguments))
    request.addfinalizer(client.session.close)
    return client


def unix_milliseconds() -> int:
    return math.floor(time.time() * 1000)


def put_value(
    api: Client, key: str, query: Query | None = None, status: int | tuple[int, ...] = (201, 204)
) -> None:
    api.call("PUT", "/v1/cache/{key}", path={"key": key}, query=query, body=b"v", status=status)


def put_ttl(api: Client, key: str, ttl: str, status: int = 204) -> None:
    api.call("PUT", "/v1/cache/{key}/ttl", path={"key": key}, body=f'{{"ttl": {ttl}}}'.encode(), status=status)


def refuse_and_read(api: Client, string: str, queue: str) -> None:
    """Refused operations on a string and a queue, and reads of both: none is a change."""
    path = {"key": string}
    api.call("PUT", "/v1/cache/{key}", path=path, headers={"If-None-Match": "*"}, body=b"x", status=412)
    api.call("PUT", "/v1/cache/{key}", path=path, headers={"If-Match": '"ffff"'}, body=b"x", status=412)
    api.call("PUT", "/v1/cache/{key}", path=path, query={"ttl": "0"}, body=b"x", status=400)
    api.call("PUT", "/v1/cache/{key}", path=path, query="ttl=1&x=1", body=b"x", status=400)
    api.call("DELETE", "/v1/cache/{key}", path=path, headers={"If-Match": '"ffff"'}, status=412)
    api.call("DELETE", "/v1/cache/{key}", path={"key": unique("absent")}, status=404)
    put_ttl(api, unique("absent"), "5", status=404)
    put_ttl(api, string, "0", status=400)
    api.call("PUT", "/v1/cache/{key}/ttl", path=path, body=b'{"ttl": 5', status=400)
    api.call("POST", "/v1/queues/{name}", path={"name": string}, body=b"m", status=409)
    pop(api, string, status=409)
    pop_any(api, [queue, string], status=409)
    pop(api, unique("empty"), status=204)
    pop(api, unique("empty"), "0.01", status=204)
    api.call("DELETE", "/v1/queues/{name}", path={"name": unique("absent")}, status=404)
    api.call("DELETE", "/v1/queues/{name}", path={"name": string}, status=409)
    api.call("PUT", "/v1/cache/{key}", path={"key": queue}, body=b"x", status=409)
    api.call("DELETE", "/v1/cache/{key}", path={"key": queue}, status=409)
    api.call("GET", "/v1/cache/{key}", path=path, status=200)
    api.call("HEAD", "/v1/cache/{key}", path=path, status=200)
    api.call("GET", "/v1/cache/{key}/ttl", path=path, status=200)
    api.call("GET", "/v1/keys", status=200)
    peek(api, queue)
    queue_state(api, queue)
    assert api.send("POST", "/v1/events").status == 405


def test_every_change_emits_one_event_of_its_type(
    request: pytest.FixtureRequest, background: Background
) -> None:
    api = server_of_its_own(request)
    # Keys with characters JSON escapes or that are not ASCII, as the data must carry them.
    string, queue, other = 'say "hi" \\ é/ü', "jobs 🙂", "other"
    expected: list[tuple[int, str, str]] = []
    brackets: list[tuple[int, int]] = []  # when each event's operation was sent and answered

    def change(events: list[tuple[str, str]], operation: Callable[[], Any]) -> None:
        before = unix_milliseconds()
        operation()
        after = unix_milliseconds()
        for event_type, key in events:
            expected.append((len(expected) + 1, event_type, key))
            brackets.append((before, after))

    with open_events(api.server) as stream:
        change([("set", string)], lambda: put_value(api, string, status=201))
        change([("set", string)], lambda: put_value(api, string, {"ttl": "100"}, status=204))
        change([("expire", string)], lambda: put_ttl(api, string, "50"))
        change([("expire", string)], lambda: put_ttl(api, string, "60.5"))
        change([("persist", string)], lambda: put_ttl(api, string, "null"))
        change([], lambda: put_ttl(api, string, "null"))  # no time to live to remove
        change([("expire", string)], lambda: put_ttl(api, string, "100"))
        change([("set", string)], lambda: put_value(api, string))  # persistent again, a set only
        change([], lambda: put_ttl(api, string, "null"))
        change([("del", string)],
               lambda: api.call("DELETE", "/v1/cache/{key}", path={"key": string}, status=204))
        change([("push", queue)], lambda: push(api, queue, b"one"))
        change([("push", queue)], lambda: push(api, queue, b"two"))
        change([("expire", queue)], lambda: put_ttl(api, queue, "100"))
        change([("pop", queue)], lambda: pop(api, queue, status=200))
        change([("pop", queue), ("del", queue)], lambda: pop(api, queue, status=200))  # the last message
        change([("push", queue)], lambda: push(api, queue, b"three"))
        change([("pop", queue), ("del", queue)], lambda: pop_any(api, [other, queue], status=200))
        change([("push", queue)], lambda: push(api, queue, b"four"))
        change([("del", queue)],
               lambda: api.call("DELETE", "/v1/queues/{name}", path={"name": queue}, status=204))
        # Leases: received, released, received for the last time allowed, dead-lettered,
        # received from the dead-letter queue and acknowledged; a move.
        receipts: list[str] = []
        dead = "dead 🙂"
        policy = json.dumps({"visibility": 30, "maxReceives": 2, "deadLetter": dead}).encode()
        change([("policy", queue)], lambda: api.call("PUT", "/v1/queues/{name}/policy", path={"name": queue},
                                                     body=policy, status=200))
        change([("push", queue)], lambda: push(api, queue, b"leased"))
        change([("lease", queue)], lambda: receipts.append(receive(api, queue)["messages"][0]["receipt"]))
        change([("release", queue)], lambda: extend(api, queue, receipts[-1], 0))
        change([("lease", queue)], lambda: receipts.append(receive(api, queue)["messages"][0]["receipt"]))
        change([("deadletter", queue), ("del", queue), ("push", dead)], lambda: extend(api, queue, receipts[-1], 0))
        change([("lease", dead)], lambda: receipts.append(receive(api, dead)["messages"][0]["receipt"]))
        change([("ack", dead), ("del", dead)], lambda: acknowledge(api, dead, receipts[-1]))
        change([("push", queue)], lambda: push(api, queue, b"moved"))
        change([("pop", queue), ("del", queue), ("push", dead)], lambda: move(api, queue, dead))
        change([("pop", dead), ("del", dead)], lambda: pop(api, dead, status=200))
        change([("policy", queue)], lambda: api.call("DELETE", "/v1/queues/{name}/policy", path={"name": queue},
                                                     status=204))
        # A push handed straight to a parked consumer: pushed, then popped.
        waiting = background(api.server, pop, other, "5", 200)
        await_consumers(api, [other], 1)
        change([("push", other), ("pop", other)], lambda: push(api, other, b"handed"))
        assert_message(waiting.result(timeout=REQUEST_TIMEOUT), b"handed", "application/octet-stream", other)

        # Refused operations and reads emit nothing.
        change([("set", other)], lambda: put_value(api, other, status=201))
        change([("push", queue)], lambda: push(api, queue, b"kept"))
        change([], lambda: refuse_and_read(api, other, queue))
        # Last, as the expirer emits it when it is due.
        change([("set", string)], lambda: put_value(api, string, {"ttl": "0.05"}, status=201))
        expected.append((len(expected) + 1, "expired", string))
        events = stream.expect(*expected)
        brackets.append((brackets[-1][0] + 50, unix_milliseconds()))
    seen = {event.type for event in events}
    # `evicted` needs a memory limit: the memory tests below check it.
    emitted = set(EVENT_TYPES) - {"evicted"}
    assert seen == emitted, f"every type is emitted: {sorted(emitted - seen)} missing"
    for event, (before, after) in zip(events, brackets):
        assert before <= event.data["time"] <= after, f"{event} is not timed by the clock of its change"


def test_events_filtered_by_key_and_type(request: pytest.FixtureRequest) -> None:
    api = server_of_its_own(request)
    filters: dict[str, Query] = {
        "users": {"key": "user:*"},
        "one-char-or-job": [("key", "user:?"), ("key", "job[0-9]")],
        "sets-and-dels": {"type": "set,del"},
        "user-expiry": [("key", "user:*"), ("type", "expire,del")],
        "queues": {"type": "push,pop"},
    }
    streams: dict[str, EventStream] = {}
    try:
        for name, query in filters.items():
            streams[name] = open_events(api.server, query)
        put_value(api, "user:1")  # 1
        put_value(api, "user:42")  # 2
        push(api, "job7", b"m")  # 3
        push(api, "jobs", b"m")  # 4
        put_value(api, "other")  # 5
        put_ttl(api, "user:42", "100")  # 6
        pop(api, "job7", status=200)  # 7 pop, 8 del
        api.call("DELETE", "/v1/cache/{key}", path={"key": "other"}, status=204)  # 9
        put_value(api, "user:9")  # 10
        api.call("DELETE", "/v1/cache/{key}", path={"key": "user:9"}, status=204)  # 11, seen by every stream
        streams["users"].expect(
            (1, "set", "user:1"), (2, "set", "user:42"), (6, "expire", "user:42"), (10, "set", "user:9"),
            (11, "del", "user:9"))
        streams["one-char-or-job"].expect(
            (1, "set", "user:1"), (3, "push", "job7"), (7, "pop", "job7"), (8, "del", "job7"),
            (10, "set", "user:9"), (11, "del", "user:9"))
        streams["sets-and-dels"].expect(
            (1, "set", "user:1"), (2, "set", "user:42"), (5, "set", "other"), (8, "del", "job7"),
            (9, "del", "other"), (10, "set", "user:9"), (11, "del", "user:9"))
        streams["user-expiry"].expect((6, "expire", "user:42"), (11, "del", "user:9"))
        push(api, "user:9", b"m")  # 12, the last event of the queue stream
        streams["queues"].expect(
            (3, "push", "job7"), (4, "push", "jobs"), (7, "pop", "job7"), (12, "push", "user:9"))
    finally:
        for stream in streams.values():
            stream.close()


GLOB_KEYS = ["café", "cafe", "cafés", "a*b", "axb", "a\\b", "hello", "hallo", "hillo", "日本", "]"]


@pytest.fixture(scope="module")
def glob_api(request: pytest.FixtureRequest) -> Client:
    """A server of its own whose events are a `set` of each of `GLOB_KEYS`, then of `sentinel`."""
    api = server_of_its_own(request)
    for key in [*GLOB_KEYS, "sentinel"]:
        put_value(api, key)
    return api


@pytest.mark.parametrize(
    ("pattern", "matching"),
    [
        pytest.param("*", GLOB_KEYS, id="star"),
        pytest.param("caf?", ["café", "cafe"], id="question-mark-is-one-scalar"),
        pytest.param("??", ["日本"], id="two-scalars-of-three-bytes"),
        pytest.param("caf[é]", ["café"], id="set"),
        pytest.param("caf[^e]", ["café"], id="negated-set"),
        pytest.param("caf[a-f]", ["cafe"], id="range"),
        pytest.param("caf[^a-f]*", ["café", "cafés"], id="negated-range"),
        pytest.param("h[ae]llo", ["hello", "hallo"], id="set-of-two"),
        pytest.param("h?llo", ["hello", "hallo", "hillo"], id="question-mark"),
        pytest.param("a*b", ["a*b", "axb", "a\\b"], id="star-inside"),
        pytest.param("a\\*b", ["a*b"], id="escaped-star"),
        pytest.param("a[\\*]b", ["a*b"], id="escaped-in-set"),
        pytest.param("a\\\\b", ["a\\b"], id="escaped-backslash"),
        pytest.param("[\\]]", ["]"], id="escaped-bracket-in-set"),
        pytest.param("?", ["]"], id="one-scalar"),
        pytest.param("caf", [], id="whole-key"),
        pytest.param("CAFE", [], id="case-sensitive"),
    ],
)
def test_key_filter_is_a_redis_glob_over_unicode_scalars(
    glob_api: Client, pattern: str, matching: list[str]
) -> None:
    # Replayed from the history; the second pattern names the last event, so it ends the list.
    query = [("key", pattern), ("key", "sentinel"), ("last_event_id", "0")]
    with open_events(glob_api.server, query) as stream:
        stream.expect(*[(GLOB_KEYS.index(key) + 1, "set", key) for key in matching],
                      (len(GLOB_KEYS) + 1, "set", "sentinel"))


@pytest.mark.parametrize(
    ("query", "headers", "slugs"),
    [
        pytest.param("x=1", {}, ("bad-request",), id="unknown-parameter"),
        pytest.param("keys=a", {}, ("bad-request",), id="misspelt-parameter"),
        pytest.param("type=set&type=del", {}, ("bad-request",), id="repeated-type"),
        pytest.param("last_event_id=1&last_event_id=2", {}, ("bad-request",), id="repeated-id"),
        pytest.param("type=bogus", {}, ("bad-request",), id="unknown-type"),
        pytest.param("type=gap", {}, ("bad-request",), id="gap-is-no-filter"),
        pytest.param("type=SET", {}, ("bad-request",), id="type-case"),
        pytest.param("type=", {}, ("bad-request",), id="empty-type"),
        pytest.param("type=set,", {}, ("bad-request",), id="trailing-comma"),
        pytest.param("type=,set", {}, ("bad-request",), id="leading-comma"),
        pytest.param("type=set,,del", {}, ("bad-request",), id="empty-item"),
        pytest.param("type=set+del", {}, ("bad-request",), id="space-separated"),
        pytest.param("key=%5Babc", {}, ("invalid-pattern",), id="unterminated-set"),
        pytest.param("key=a%5B%5E", {}, ("invalid-pattern",), id="unterminated-negated-set"),
        pytest.param("key=abc%5C", {}, ("invalid-pattern",), id="trailing-backslash"),
        pytest.param("key=ok*&key=%5B", {}, ("invalid-pattern",), id="one-bad-pattern-of-two"),
        pytest.param("key=%zz", {}, ("bad-request",), id="bad-escape"),
        pytest.param("key=%FF", {}, ("bad-request",), id="not-utf8"),
        pytest.param("last_event_id=abc", {}, ("bad-request",), id="id-not-a-number"),
        pytest.param("last_event_id=-1", {}, ("bad-request",), id="negative-id"),
        pytest.param("last_event_id=%2B1", {}, ("bad-request",), id="signed-id"),
        pytest.param("last_event_id=1.5", {}, ("bad-request",), id="fractional-id"),
        pytest.param("last_event_id=1e3", {}, ("bad-request",), id="exponent-id"),
        pytest.param("last_event_id=", {}, ("bad-request",), id="empty-id"),
        pytest.param("last_event_id=18446744073709551616", {}, ("bad-request",), id="id-over-64-bits"),
        pytest.param("", {"Last-Event-ID": "abc"}, ("bad-request",), id="header-not-a-number"),
        pytest.param("", {"Last-Event-ID": "-1"}, ("bad-request",), id="header-negative"),
        pytest.param("", {"Last-Event-ID": "0x10"}, ("bad-request",), id="header-hexadecimal"),
        pytest.param("last_event_id=4~", {}, ("bad-request",), id="no-records-after-tilde"),
        pytest.param("last_event_id=~4", {}, ("bad-request",), id="no-id-before-tilde"),
        pytest.param("", {"Last-Event-ID": "4~9-7-5"}, ("bad-request",), id="header-range-of-three"),
        pytest.param("", {"Last-Event-ID": "4~7,"}, ("bad-request",), id="header-trailing-comma"),
        pytest.param("", {"Last-Event-ID": "4~5~6"}, ("bad-request",), id="header-two-tildes"),
        pytest.param("", {"Last-Event-ID": "4~" + ",".join(str(3 * n) for n in range(129))}, ("bad-request",),
                     id="header-too-many-ranges"),
    ],
)
def test_bad_event_stream_requests_are_400(
    api: Client, query: str, headers: dict[str, str], slugs: tuple[str, ...]
) -> None:
    # Sent as written: requests would re-quote a bad escape such as %zz.
    target = f"/v1/events?{query}" if query else "/v1/events"
    for method in ("GET", "HEAD"):
        api.call(method, "/v1/events", raw_target=target, headers=headers, status=400, slugs=slugs)


def test_resuming_replays_exactly_the_missed_events(request: pytest.FixtureRequest) -> None:
    api = server_of_its_own(request)
    with open_events(api.server) as stream:
        put_value(api, "a")
        put_value(api, "b")
        stream.expect((1, "set", "a"), (2, "set", "b"))
    # Missed while disconnected.
    put_value(api, "c")  # 3
    api.call("DELETE", "/v1/cache/{key}", path={"key": "a"}, status=204)  # 4
    push(api, "q", b"m")  # 5

    with open_events(api.server, headers={"Last-Event-ID": "2"}) as stream:
        stream.expect((3, "set", "c"), (4, "del", "a"), (5, "push", "q"))
        put_value(api, "d")  # live, with no gap and nothing twice
        stream.expect((6, "set", "d"))
    with open_events(api.server, {"last_event_id": "4"}) as stream:
        stream.expect((5, "push", "q"), (6, "set", "d"))
        put_value(api, "e")
        stream.expect((7, "set", "e"))
    # The header wins over the query.
    with open_events(api.server, {"last_event_id": "1"}, headers={"Last-Event-ID": "5"}) as stream:
        stream.expect((6, "set", "d"), (7, "set", "e"))
        put_value(api, "f")
        stream.expect((8, "set", "f"))
    # Only the matching events are replayed; 0 replays from the first.
    with open_events(api.server, [("key", "a"), ("key", "[cf]"), ("last_event_id", "0")]) as stream:
        stream.expect((1, "set", "a"), (3, "set", "c"), (4, "del", "a"), (8, "set", "f"))
        put_value(api, "a")
        stream.expect((9, "set", "a"))
    with open_events(api.server, {"type": "del,push", "last_event_id": "3"}) as stream:
        stream.expect((4, "del", "a"), (5, "push", "q"))
        pop(api, "q", status=200)
        stream.expect((11, "del", "q"))
    # Without an id, only new events; an id past the newest resumes from now.
    from_now = [({}, None), ({"Last-Event-ID": "1000"}, None), ({}, {"last_event_id": "1000"}),
                ({"Last-Event-ID": "18446744073709551615"}, None)]
    for index, (headers, query) in enumerate(from_now):
        with open_events(api.server, query, headers=headers) as stream:
            put_value(api, "g")
            stream.expect((12 + index, "set", "g"))
    # Leading zeros are allowed.
    with open_events(api.server, headers={"Last-Event-ID": "0013"}) as stream:
        stream.expect((14, "set", "g"), (15, "set", "g"))
    # An id that names expirations told ahead (a cluster's) resumes after its number; none of
    # those is an event here.
    with open_events(api.server, headers={"Last-Event-ID": "13~9,4-2"}) as stream:
        stream.expect((14, "set", "g"), (15, "set", "g"))


def test_resuming_while_keys_change_misses_nothing(
    request: pytest.FixtureRequest, background: Background
) -> None:
    api = server_of_its_own(request)
    total = 200

    def produce(client: Client) -> Answer:
        for index in range(total):
            put_value(client, f"busy-{index}", status=201)
        return Answer("PUT", "", 201, CaseInsensitiveDict(), b"")

    with open_events(api.server) as live:
        producing = background(api.server, produce)
        # Resume from an id well behind, while the writes go on.
        while live.next_event().id < 40:
            pass
        with open_events(api.server, headers={"Last-Event-ID": "20"}) as resumed:
            ids = [resumed.next_event().id for _ in range(21, total + 1)]
        assert ids == list(range(21, total + 1)), "replayed then live, each event once and in order"
        producing.result(timeout=REQUEST_TIMEOUT)
        assert [live.next_event().id for _ in range(41, total + 1)] == list(range(41, total + 1))


def test_resuming_after_events_left_the_history_starts_with_a_gap(request: pytest.FixtureRequest) -> None:
    api = server_of_its_own(request, "--event-history", "5")
    for index in range(1, 13):
        put_value(api, f"k{index}")  # ids 1 to 12; the history keeps the last 5, 8 to 12

    def gap(stream: EventStream, first: int, last: int) -> int:
        """Reads the gap from `first` to `last`, or to `last - 1`: the history may still hold the
        event before the last it keeps while the notifier has not looked at it (on a NATS cluster
        events come back from the event stream after their writes are answered, so the
        subscriber can be there first). Returns where the gap ends."""
        event = stream.next_event()
        assert event.type == "gap" and event.id in (last - 1, last), event
        assert event.data == {"type": "gap", "from": first, "to": event.id}
        return event.id

    with open_events(api.server, headers={"Last-Event-ID": "3"}) as stream:
        end = gap(stream, 4, 7)
        stream.expect(*[(index, "set", f"k{index}") for index in range(end + 1, 13)])
        put_value(api, "live")  # 13; the history keeps 9 to 13
        stream.expect((13, "set", "live"))
    with open_events(api.server, {"last_event_id": "0"}) as stream:
        end = gap(stream, 1, 8)
        stream.expect(*[(index, "set", f"k{index}") for index in range(end + 1, 13)], (13, "set", "live"))
    # Resuming after the gap's id: nothing more is lost.
    with open_events(api.server, headers={"Last-Event-ID": "8"}) as stream:
        stream.expect(*[(index, "set", f"k{index}") for index in range(9, 13)], (13, "set", "live"))
        put_value(api, "live")  # 14; the history keeps 10 to 14
        stream.expect((14, "set", "live"))
    # A filter does not hide a gap.
    with open_events(api.server, [("key", "k1?"), ("last_event_id", "2")]) as stream:
        end = gap(stream, 3, 9)
        put_value(api, "k13")
        kept = [(index, "set", f"k{index}") for index in range(max(end + 1, 10), 13)]
        stream.expect(*kept, (15, "set", "k13"))


def put_many(server: RunningServer, key: str, count: int) -> None:
    """Writes `key` `count` times as fast as one connection allows: the requests go back to
    back (HTTP/1.1 pipelining) from another thread while this one reads the answers."""
    target = build_target("/v1/cache/{key}", {"key": key}, None)
    one = f"PUT {target} HTTP/1.1\r\nHost: {server.host}:{server.port}\r\nContent-Length: 0\r\n\r\n"
    with socket.create_connection((server.host, server.port), timeout=REQUEST_TIMEOUT) as connection:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pipeline") as executor:
            sending = executor.submit(connection.sendall, one.encode() * count)
            received, answers = b"", 0
            while answers < count:
                while b"\r\n\r\n" not in received:
                    data = connection.recv(65536)
                    assert data, f"the connection closed after {answers} answers"
                    received += data
                head, received = received.split(b"\r\n\r\n", 1)
                assert head.split(b" ")[1] in (b"201", b"204"), head
                assert not re.search(rb"(?i)\r\ncontent-length: *[1-9]", head), "these answers have no body"
                answers += 1
            sending.result(timeout=REQUEST_TIMEOUT)


def test_subscriber_that_falls_behind_gets_a_gap_and_its_stream_ends(request: pytest.FixtureRequest) -> None:
    history = 5
    api = server_of_its_own(request, "--event-history", str(history))
    # Each event's data escapes every quote: over 2 KiB per event.
    key = '"' * 1024
    newest = last = 0  # the newest event's id, the last one the stream sent
    gap: StreamEvent | None = None
    with open_events(api.server, receive_buffer=4096) as slow:
        # Writes as fast as possible while the stream is not read, until the history has moved
        # past it; the buffers' sizes are the system's, so more writes each round.
        for count in (300, 3000, 20000):
            put_many(api.server, key, count)
            newest += count
            while gap is None and last < newest:
                event = slow.next_event()
                if event.type == "gap":
                    gap = event
                else:
                    assert event.id == last + 1, "no event is missing before the gap"
                    last = event.id
            if gap is not None:
                break
        else:
            pytest.fail(f"the stream kept up with {newest} events of over 2 KiB")
        assert gap.data["from"] == last + 1, "the gap starts after the last event sent"
        assert gap.data["to"] <= newest - history, "the history still held the events after the gap"
        assert slow.next_block() is None, "the stream ends after the gap"
    # Resuming after the gap: the events still in the history.
    with open_events(api.server, headers={"Last-Event-ID": str(gap.id)}) as stream:
        if gap.id < newest - history:
            second = stream.next_event()
            assert second.data == {"type": "gap", "from": gap.id + 1, "to": newest - history}
        stream.expect(*[(newest - history + index, "set", key) for index in range(1, history + 1)])


def test_idle_stream_gets_heartbeats(request: pytest.FixtureRequest) -> None:
    api = server_of_its_own(request, "--heartbeat", "1")
    with open_events(api.server) as stream:
        # Real time is the subject: a heartbeat comes every second while the stream is idle.
        assert stream.next_block(timeout=2.5) == HEARTBEAT_BLOCK
        first = time.monotonic()
        assert stream.next_block(timeout=2.5) == HEARTBEAT_BLOCK
        interval = time.monotonic() - first
        assert 0.5 < interval < 2, f"heartbeats {interval:.3f} s apart with --heartbeat 1"
        put_value(api, "k")
        stream.expect((1, "set", "k"))


def test_expired_event_comes_at_the_deadline(request: pytest.FixtureRequest) -> None:
    api = server_of_its_own(request)
    with open_events(api.server) as stream:
        sent = time.monotonic()
        put_value(api, "short", {"ttl": "0.5"}, status=201)
        answered = time.monotonic()
        (stored,) = stream.expect((1, "set", "short"))
        # Real time is the subject: the expirer removes the key at its deadline, no later.
        (expired,) = stream.expect((2, "expired", "short"))
        arrived = time.monotonic()
        assert 0.45 <= arrived - answered and arrived - sent <= 0.8, (
            f"expired {arrived - sent:.3f} s after the PUT of a 0.5 s ttl")
        assert 500 <= expired.data["time"] - stored.data["time"] < 800
        api.call("GET", "/v1/cache/{key}", path={"key": "short"}, status=404)
        put_value(api, "after")
        stream.expect((3, "set", "after"))


def test_event_stream_head_options_and_other_methods(api: Client) -> None:
    with open_events(api.server) as stream:
        streamed = stream.answer.headers
    filtered = {"key": "a*", "type": "set", "last_event_id": "1"}
    for query, headers in ((None, {}), (filtered, {"Last-Event-ID": "2"})):
        head = api.call("HEAD", "/v1/events", query=query, headers=headers, status=200)
        for name in ("Content-Type", "Cache-Control", "X-Accel-Buffering"):
            assert head.headers[name] == streamed[name], name
        assert head.body == b""
    options = api.call("OPTIONS", "/v1/events", status=204)
    assert options.headers["Allow"] == "GET, HEAD, OPTIONS"
    # A request after a HEAD on the same connection gets its own answer, or none when the HEAD's
    # answer closes the connection: never the HEAD's leftovers in place of its answer.
    with socket.create_connection((api.server.host, api.server.port), timeout=REQUEST_TIMEOUT) as connection:
        connection.sendall(b"HEAD /v1/events HTTP/1.1\r\nHost: k\r\n\r\nGET /healthz HTTP/1.1\r\nHost: k\r\n\r\n")
        received = b""
        while chunk := connection.recv(65536):
            received += chunk
            if received.endswith(b'"status":"ok"}'):
                break
        head, _, rest = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), received
        if b"\r\nconnection: close" in head.lower():
            assert b"HTTP/1.1" not in rest, f"an answer after Connection: close: {received!r}"
        else:
            assert rest.startswith(b"HTTP/1.1 200"), received
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        answer = api.send(method, "/v1/events", body=b"{}" if method in ("POST", "PATCH") else None)
        assert answer.status == 405, str(answer)
        check_problem(answer, "MethodNotAllowed", ("method-not-allowed",))
        assert answer.headers["Allow"] == "GET, HEAD, OPTIONS"


def test_streams_end_when_the_server_stops(request: pytest.FixtureRequest) -> None:
    api = server_of_its_own(request)
    streams: list[EventStream] = []
    try:
        streams.append(open_events(api.server))
        streams.append(open_events(api.server, {"key": "k*", "last_event_id": "0"}))
        put_value(api, "k")
        for stream in streams:
            stream.expect((1, "set", "k"))
        api.server.process.send_signal(signal.SIGTERM)
        for stream in streams:
            assert stream.next_block(timeout=STOP_TIMEOUT) is None, "the stream ends: the chunked terminator"
    finally:
        for stream in streams:
            stream.close()
    assert api.server.process.wait(timeout=STOP_TIMEOUT) == 0


# --- WebSocket handshake ----------------------------------------------------------------


def handshake_headers(**overrides: str | None) -> dict[str, str]:
    """The headers of a valid handshake, with `overrides` (None removes one)."""
    headers = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
               "Sec-WebSocket-Key": RFC_6455_KEY}
    for name, value in overrides.items():
        name = name.replace("_", "-")
        headers.pop(name, None)
        if value is not None:
            headers[name] = value
    return headers


def test_websocket_handshake_switches_protocols(server: RunningServer) -> None:
    """The 101 is read off a bare socket: HTTP clients do not hand over upgraded connections."""
    with socket.create_connection((server.host, server.port), timeout=REQUEST_TIMEOUT) as connection:
        lines = "".join(f"{name}: {value}\r\n" for name, value in handshake_headers().items())
        connection.sendall(f"GET /v1/ws HTTP/1.1\r\nHost: {server.host}\r\n{lines}\r\n".encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = connection.recv(4096)
            assert chunk, f"closed before the end of the head: {head!r}"
            head += chunk
        status_line, *header_lines = head.split(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        headers = CaseInsensitiveDict(line.split(": ", 1) for line in header_lines)
        answer = Answer("GET", "/v1/ws", int(status_line.split()[1]), headers, b"")
        assert answer.status == 101, str(answer)
        check_operation_answer("/v1/ws", "GET", answer)
        assert headers["Sec-WebSocket-Accept"] == RFC_6455_ACCEPT
        assert headers["Connection"].lower() == "upgrade"
        # The socket now speaks WebSocket: a close frame (masked, code 1000) is echoed.
        connection.sendall(bytes([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xE8 ^ 2]))
        echoed = b""
        while len(echoed) < 4:
            chunk = connection.recv(4096)
            assert chunk, f"closed before the close frame was echoed: {echoed!r}"
            echoed += chunk
        assert echoed[:4] == bytes([0x88, 0x02, 0x03, 0xE8])
    EXERCISED.add(("/v1/ws", "GET"))
    SUCCEEDED.add(("/v1/ws", "GET"))


def test_a_plain_get_of_the_websocket_path_is_426(api: Client) -> None:
    answer = api.call("GET", "/v1/ws", status=426, slugs=("upgrade-required",))
    assert answer.headers["Upgrade"] == "websocket"
    answer = api.call("GET", "/v1/ws", headers=handshake_headers(Upgrade="h2c"), status=426,
                      slugs=("upgrade-required",))
    assert answer.headers["Upgrade"] == "websocket"


def test_another_websocket_version_is_426_naming_13(api: Client) -> None:
    for version in ("8", "14", "", "13, 8"):
        answer = api.call("GET", "/v1/ws", headers=handshake_headers(Sec_WebSocket_Version=version),
                          status=426, slugs=("upgrade-required",))
        assert answer.headers["Sec-WebSocket-Version"] == "13", str(answer)


@pytest.mark.parametrize("key", [None, "", "short", "dGhlIHNhbXBsZSBub25jZQ", "!!!!!!!!!!!!!!!!!!!!!!=="])
def test_a_malformed_websocket_key_is_400(api: Client, key: str | None) -> None:
    api.call("GET", "/v1/ws", headers=handshake_headers(Sec_WebSocket_Key=key), status=400,
             slugs=("bad-request",))


# --- Body limit -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "template"),
    [("PUT", "/v1/cache/{key}"), ("PUT", "/v1/cache/{key}/ttl"), ("POST", "/v1/queues/{name}"),
     ("POST", "/v1/queues/{name}/pop"), ("POST", "/v1/pop")],
)
def test_declared_body_over_the_limit_is_413(api: Client, method: str, template: str) -> None:
    key = unique("large")
    is_pop = template.endswith("pop")
    if template.endswith("/ttl"):
        api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"v", status=201)
    if is_pop:
        push(api, key, b"kept")
    query = {"queues": key} if template == "/v1/pop" else None
    target = build_target(template, {"key": key, "name": key}, query)
    answer = api.send_declared_body(method, target, MAX_BODY_BYTES + 1)
    assert answer.status == 413, str(answer)
    check_operation_answer(template, method, answer)
    assert answer.json()["type"] == "/problems/content-too-large"
    EXERCISED.add((template, method))
    if template.endswith("/ttl"):
        assert remaining_seconds(api, key) is None
    elif template == "/v1/cache/{key}":
        api.call("GET", "/v1/cache/{key}", path={"key": key}, status=404)
    else:
        # Nothing pushed, nothing taken.
        assert queue_state(api, key)["length"] == (1 if is_pop else 0)


def test_body_at_the_limit_is_stored(api: Client) -> None:
    key = unique("at-limit")
    value = bytes(range(256)) * (MAX_BODY_BYTES // 256)
    api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=value, status=201)
    assert api.call("GET", "/v1/cache/{key}", path={"key": key}, status=200).body == value
    api.call("DELETE", "/v1/cache/{key}", path={"key": key}, status=204)


# --- Service ----------------------------------------------------------------------------


def test_health(api: Client) -> None:
    health = api.call("GET", "/healthz", status=200).json()
    assert health["status"] == "ok"
    persistence = health["persistence"]
    if ENGINE == "nats":
        # The cluster keeps the data: the gateway persists nothing itself.
        assert persistence == {"enabled": False}
        assert api.call("HEAD", "/healthz", status=200).headers["Content-Type"] == "application/json"
        return
    assert persistence["enabled"] is True
    assert persistence["fsync"] == "everysec"
    assert persistence["directory"] == str(api.server.data_dir)
    assert persistence["error"] is None
    assert persistence["logBytes"] > 0
    head = api.call("HEAD", "/healthz", status=200)
    assert head.headers["Content-Type"] == "application/json"


def test_openapi_document_is_served(api: Client) -> None:
    answer = api.call("GET", "/openapi.yaml", status=200)
    assert answer.headers["Content-Type"] == "application/yaml"
    assert answer.body == SPEC_FILE.read_bytes()
    head = api.call("HEAD", "/openapi.yaml", status=200)
    assert int(head.headers["Content-Length"]) == len(answer.body)
    # This route ignores the query.
    assert api.call("GET", "/openapi.yaml", query={"x": "1"}, status=200).body == answer.body


def test_readiness(api: Client) -> None:
    assert api.call("GET", "/readyz", status=200).json() == {"status": "ready"}
    assert api.call("HEAD", "/readyz", status=200).headers["Content-Type"] == "application/json"


def prometheus_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The samples of a Prometheus text exposition, by name and labels; fails on a line
    that is not one, or a family without both HELP and TYPE."""
    sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
    label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="([^"\\]*)"(?:,|$)')
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    helped: set[str] = set()
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split(" ")[2])
        elif line.startswith("# TYPE "):
            name, kind = line.split(" ")[2:4]
            assert kind in ("counter", "gauge", "histogram"), line
            typed.add(name)
        else:
            match = sample.match(line)
            assert match, f"not a Prometheus sample: {line!r}"
            labels = frozenset(label.findall(match.group(2) or ""))
            samples[(match.group(1), labels)] = float(match.group(3))
    assert helped == typed, f"families without HELP or TYPE: {helped ^ typed}"
    return samples


def metric(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_parse_and_move_with_requests(api: Client) -> None:
    key = unique("metrics")
    before = prometheus_samples(api.call("GET", "/metrics", status=200).body.decode())
    api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"12345", status=201)
    for _ in range(3):
        api.call("GET", "/v1/cache/{key}", path={"key": key}, status=200)
    api.call("DELETE", "/v1/cache/{key}", path={"key": key}, status=204)
    api.call("GET", "/v1/cache/{key}", path={"key": key}, status=404)
    answer = api.call("GET", "/metrics", status=200)
    assert answer.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    after = prometheus_samples(answer.body.decode())

    def moved(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    requests_total = "keygate_http_requests_total"
    cache = "/v1/cache/{key}"
    assert moved(requests_total, route=cache, method="GET", status="200") == 3
    assert moved(requests_total, route=cache, method="PUT", status="201") == 1
    assert moved(requests_total, route=cache, method="DELETE", status="204") == 1
    assert moved(requests_total, route=cache, method="GET", status="404") == 1
    assert moved(requests_total, route="/metrics", method="GET", status="200") == 1
    assert moved("keygate_http_request_duration_seconds_count", route=cache) == 6
    assert moved("keygate_received_bytes_total", transport="http") == 5
    assert moved("keygate_events_published_total") == 2
    assert metric(after, "keygate_open_connections") >= 1
    head = api.call("HEAD", "/metrics", status=200)
    assert head.headers["Content-Type"] == answer.headers["Content-Type"]


def test_metrics_can_be_turned_off(request: pytest.FixtureRequest) -> None:
    quiet = Client(start_server(request, PUBLIC, ("--no-metrics",)))
    quiet.call("GET", "/metrics", status=404, slugs=("not-found",))
    quiet.call("HEAD", "/metrics", status=404)
    quiet.call("GET", "/healthz", status=200)


ALLOWED_ORIGIN = "https://app.example.com"
OTHER_ORIGIN = "https://evil.example.com"


@pytest.fixture(scope="module")
def cors_api(request: pytest.FixtureRequest) -> Iterator[Client]:
    """A server that lets pages of ALLOWED_ORIGIN call it."""
    client = Client(start_server(request, PUBLIC, ("--cors-origin", ALLOWED_ORIGIN, "--cors-max-age", "120")))
    yield client
    client.session.close()


def cors_headers(answer: Answer) -> dict[str, str]:
    return {name.lower(): value for name, value in answer.headers.items()
            if name.lower().startswith("access-control-")}


def test_cors_preflight_from_an_allowed_and_another_origin(cors_api: Client) -> None:
    preflight = {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "content-type, if-match"}
    granted = cors_api.call("OPTIONS", "/v1/cache/{key}", headers=preflight, status=204)
    assert cors_headers(granted) == {
        "access-control-allow-origin": ALLOWED_ORIGIN,
        "access-control-allow-methods": "GET, HEAD, PUT, DELETE, OPTIONS",
        "access-control-allow-headers": "Authorization, Content-Type, If-Match, If-None-Match, Last-Event-ID",
        "access-control-max-age": "120",
        "access-control-expose-headers": "Allow, Content-Type, ETag, Location, Queue, Retry-After",
    }
    assert granted.headers["Vary"] == "Origin"
    refused = cors_api.call("OPTIONS", "/v1/cache/{key}", headers=preflight | {"Origin": OTHER_ORIGIN},
                            status=204)
    assert cors_headers(refused) == {}


def test_cors_real_requests_from_an_allowed_and_another_origin(cors_api: Client) -> None:
    key = unique("cors")
    written = cors_api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"v",
                            headers={"Origin": ALLOWED_ORIGIN}, status=201)
    assert written.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "ETag" in written.headers["Access-Control-Expose-Headers"]
    assert written.headers["Vary"] == "Origin"
    read = cors_api.call("GET", "/v1/cache/{key}", path={"key": key}, headers={"Origin": OTHER_ORIGIN}, status=200)
    assert read.body == b"v"
    assert cors_headers(read) == {}
    assert read.headers["Vary"] == "Origin"
    push(cors_api, key + "-queue", b"job")
    popped = cors_api.call("POST", "/v1/queues/{name}/pop", path={"name": key + "-queue"},
                           headers={"Origin": ALLOWED_ORIGIN}, status=200)
    assert "Queue" in popped.headers["Access-Control-Expose-Headers"]


def test_cors_event_stream_as_an_event_source_asks(cors_api: Client) -> None:
    headers = {"Origin": ALLOWED_ORIGIN, "Accept": "text/event-stream", "Cache-Control": "no-cache"}
    answer = cors_api.call("GET", "/v1/events", headers=headers, status=200)
    assert answer.headers["Content-Type"] == "text/event-stream"
    assert answer.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    other = cors_api.call("GET", "/v1/events", headers=headers | {"Origin": OTHER_ORIGIN}, status=200)
    assert cors_headers(other) == {}


def test_websocket_from_another_origin_is_403(api: Client, cors_api: Client) -> None:
    for client in (api, cors_api):
        client.call("GET", "/v1/ws", headers=handshake_headers(Origin=OTHER_ORIGIN), status=403,
                    slugs=("forbidden",))


def test_access_log_only_with_the_flag_and_never_a_value(
    request: pytest.FixtureRequest, server: RunningServer, api: Client
) -> None:
    logged = start_server(request, PUBLIC, ("--access-log",))
    client = Client(logged)
    key = unique("logged")
    secret, message = "s3cret-value-" + uuid.uuid4().hex, "s3cret-message-" + uuid.uuid4().hex
    client.call("PUT", "/v1/cache/{key}", path={"key": key}, body=secret.encode(), status=201)
    client.call("GET", "/v1/cache/{key}", path={"key": key}, status=200)
    push(client, key + "-q", message.encode())
    client.call("POST", "/v1/queues/{name}/pop", path={"name": key + "-q"}, status=200)
    client.call("GET", "/v1/cache/{key}", path={"key": "missing-" + key}, status=404)
    expected = [("PUT", f"/v1/cache/{key}", "201"), ("GET", f"/v1/cache/{key}", "200"),
                ("POST", f"/v1/queues/{key}-q", "201"), ("POST", f"/v1/queues/{key}-q/pop", "200"),
                ("GET", f"/v1/cache/missing-{key}", "404")]
    deadline = time.monotonic() + EVENT_TIMEOUT
    while True:
        lines = [line for line in logged.log if "keygate.access" in line]
        fields = [dict(re.findall(r"(\w+)=(\S+)", line)) for line in lines]
        seen = [(entry.get("method"), entry.get("path"), entry.get("status")) for entry in fields]
        if all(item in seen for item in expected) or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert all(item in seen for item in expected), f"missing access-log lines: {lines}"
    for entry in fields:
        assert {"method", "path", "status", "bytes", "duration_ms", "client"} <= set(entry), str(entry)
        assert entry["client"] == "127.0.0.1"
        assert re.fullmatch(r"\d+\.\d{3}", entry["duration_ms"]), str(entry)
    assert not [line for line in logged.log if secret in line or message in line]
    # The session's server runs without the flag.
    api.call("GET", "/healthz", status=200)
    assert not [line for line in server.log if "keygate.access" in line]


# --- Static files -----------------------------------------------------------------------


def test_static_index(api: Client) -> None:
    index = (PUBLIC / "index.html").read_bytes()
    for template, target in (("/", "/"), ("/{file}", "/index.html")):
        answer = api.call("GET", template, raw_target=target, status=200)
        assert answer.body == index
        assert answer.headers["Content-Type"] == "text/html; charset=utf-8"
        head = api.call("HEAD", template, raw_target=target, status=200)
        assert head.headers["Content-Type"] == "text/html; charset=utf-8"
        assert int(head.headers["Content-Length"]) == len(index)
    assert api.call("GET", "/", query={"x": "1"}, status=200).body == index


@pytest.mark.parametrize(
    "target",
    [
        "/missing.txt", "/index.html/", "/index.html/x", "/../openapi.yaml", "/../Package.swift",
        "/%2e%2e/Package.swift", "/%2E%2E/openapi.yaml", "/..%2fPackage.swift", "/%2e%2e%2fPackage.swift",
        "/.%2e/.%2e/etc/passwd", "/./index.html", "/%2e/index.html", "//index.html", "/a%2Fb",
        "/index.html%00", "/healthz/", "/openapi.yaml/", "/v2/cache/x",
    ],
)
def test_static_paths_never_leave_the_folder(api: Client, target: str) -> None:
    api.call("GET", "/{file}", raw_target=target, status=404, slugs=("not-found",))
    api.call("HEAD", "/{file}", raw_target=target, status=404)


@pytest.mark.parametrize("target", ["/%zz", "/%FF.html"])
def test_static_path_with_bad_encoding_is_400(api: Client, target: str) -> None:
    api.call("GET", "/{file}", raw_target=target, status=400, slugs=("bad-request",))
    api.call("HEAD", "/{file}", raw_target=target, status=400)


@pytest.fixture(scope="module")
def folder_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A second server whose served folder has sub-folders and a link leading out of it."""
    public = tmp_path_factory.mktemp("public")
    (public / "index.html").write_text("<!doctype html><title>root</title>")
    (public / "docs").mkdir()
    (public / "docs" / "index.html").write_text("<!doctype html><title>docs</title>")
    (public / "docs" / "site.css").write_text("body { margin: 0 }")
    (public / "docs" / "data.bin").write_bytes(b"\x00\x01")
    (public / "empty").mkdir()
    (public / "with space.txt").write_text("spaced")
    (public / "été.txt").write_text("summer")
    (public / "outside").symlink_to(REPO)
    (public / "secret.swift").symlink_to(REPO / "Package.swift")
    client = Client(start_server(request, public))
    yield client
    client.session.close()


def test_static_folders(folder_api: Client) -> None:
    redirect = folder_api.call("GET", "/{file}", raw_target="/docs", status=301)
    assert redirect.headers["Location"] == "/docs/"
    assert folder_api.call("HEAD", "/{file}", raw_target="/docs", status=301).headers["Location"] == "/docs/"
    docs = folder_api.call("GET", "/{file}", raw_target="/docs/", status=200)
    assert docs.body == b"<!doctype html><title>docs</title>"
    assert docs.headers["Content-Type"] == "text/html; charset=utf-8"
    css = folder_api.call("GET", "/{file}", path={"file": "docs/site.css"}, status=200)
    assert css.headers["Content-Type"] == "text/css; charset=utf-8"
    data = folder_api.call("GET", "/{file}", path={"file": "docs/data.bin"}, status=200)
    assert (data.headers["Content-Type"], data.body) == ("application/octet-stream", b"\x00\x01")
    folder_api.call("GET", "/{file}", raw_target="/empty/", status=404)
    folder_api.call("GET", "/{file}", raw_target="/docs/../docs/site.css", status=404)
    escapes = ("/outside/Package.swift", "/outside/", "/outside", "/secret.swift", "/docs/%2e%2e/secret.swift")
    for target in escapes:
        folder_api.call("GET", "/{file}", raw_target=target, status=404, slugs=("not-found",))
    assert folder_api.call("GET", "/", status=200).body == b"<!doctype html><title>root</title>"


@pytest.mark.parametrize(("name", "contents"), [("with space.txt", b"spaced"), ("été.txt", b"summer")])
def test_static_file_names_needing_encoding(folder_api: Client, name: str, contents: bytes) -> None:
    assert folder_api.call("GET", "/{file}", path={"file": name}, status=200).body == contents


# --- Methods and unknown paths ----------------------------------------------------------


@pytest.mark.parametrize("template", list(SPEC["paths"]))
def test_options_lists_the_documented_methods(api: Client, template: str) -> None:
    answer = api.call("OPTIONS", template, status=204)
    assert "Allow" in answer.headers
    check_allow(template, answer)


@pytest.mark.parametrize("template", [template for template in SPEC["paths"] if "{key}" in template or "{name}" in template])
def test_options_of_an_invalid_key_is_400(api: Client, template: str) -> None:
    """Found by schemathesis: OPTIONS answered 204 for a key that every other method refuses."""
    for invalid in ("\x01", "\x85", "k" * 1025):
        answer = api.call("OPTIONS", template, path={"key": invalid, "name": invalid}, status=400,
                          slugs=("invalid-key",))
        assert "Allow" not in answer.headers, str(answer)


# Heads past the server's limits (8 KiB by default) but within twice them, which the connection's
# memory holds: the server answers a problem.
HEADS_OVER_THE_LIMITS = [
    ("POST", "/v1/pop", "/v1/pop?queues=" + ",".join(f"q{index}-" + "x" * 1000 for index in range(10)), {},
     "URITooLong", "uri-too-long"),
    ("GET", "/v1/cache/{key}", "/v1/cache/k", {"If-None-Match": ", ".join(['"tag"'] * 1500)},
     "RequestHeaderFieldsTooLarge", "header-fields-too-large"),
]


@pytest.mark.parametrize(
    ("method", "template", "target", "headers", "response", "slug"), HEADS_OVER_THE_LIMITS,
    ids=["long target", "large header fields"],
)
def test_a_request_head_over_the_limits_is_a_problem(
    api: Client, method: str, template: str, target: str, headers: dict[str, str], response: str, slug: str,
) -> None:
    answer = api.send(method, target, headers=headers)
    check_problem(answer, response, (slug,))
    assert str(answer.status) in OPERATIONS[(template, method)]["responses"]
    assert answer.headers["Connection"] == "close", str(answer)


@pytest.mark.parametrize(
    ("method", "template", "target", "headers", "status"),
    [
        ("POST", "/v1/pop", "/v1/pop?queues=" + ",".join(f"q{index}-" + "x" * 1000 for index in range(20)), {},
         414),
        ("GET", "/v1/cache/{key}", "/v1/cache/k", {"If-None-Match": ", ".join(['"tag"'] * 4000)}, 431),
    ],
    ids=["target too long for the connection", "header fields too large for the connection"],
)
def test_a_request_head_too_large_for_the_connection_is_answered_by_libmicrohttpd(
    api: Client, method: str, template: str, target: str, headers: dict[str, str], status: int,
) -> None:
    """The two answers that are not problems: a head past twice the limit does not fit the
    connection's memory, and libmicrohttpd sends its own page before the server sees the
    request, as openapi.yaml says in words."""
    answer = api.send(method, target, headers=headers, raw=True)
    assert answer.status == status, str(answer)
    assert "Content-Type" not in answer.headers and answer.headers["Connection"] == "close", str(answer)
    assert answer.body.startswith(b"<html>"), str(answer)


@pytest.mark.parametrize("template", list(SPEC["paths"]))
def test_unlisted_methods_are_405(api: Client, template: str) -> None:
    target = build_target(template, {}, None)
    allowed = documented_methods(template)
    for method in PROBED_METHODS:
        if method in allowed:
            continue
        answer = api.send(method, target, body=b"{}" if method in ("POST", "PATCH") else None)
        assert answer.status == 405, str(answer)
        check_problem(answer, "MethodNotAllowed", ("method-not-allowed",))
        check_allow(template, answer)
    METHOD_CHECKED_PATHS.add(template)


@pytest.mark.parametrize(
    "target",
    ["/v1", "/v1/", "/v1/nope", "/v1/cache", "/v1/cache/a/b", "/v1/cache/k/ttl/x", "/v1/cache/k/TTL",
     "/v1/keys/", "/v1/keys/x", "/v1/healthz", "/v1/cache//ttl/x", "/v1/queues", "/v1/queues/a/b",
     "/v1/queues/a/", "/v1/queues/a/pop/x", "/v1/queues/a/POP", "/v1/queues/a/messages/x",
     "/v1/queues/a/ttl", "/v1/pop/", "/v1/pop/x", "/v1/POP", "/v1/events/", "/v1/events/x", "/v1/EVENTS",
     "/v1/event", "/v1/cache/k/events", "/v1/ws/", "/v1/ws/x", "/v1/WS", "/v1/websocket"],
)
def test_unknown_v1_paths_are_404(api: Client, target: str) -> None:
    for method in ("GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"):
        answer = api.send(method, target, raw=True)
        assert answer.status == 404, str(answer)
        check_problem(answer, "NotFound", ("not-found",))


# --- Limits as flags and variables ------------------------------------------------------------


def test_the_per_address_limit_is_read_from_its_variable(request: pytest.FixtureRequest) -> None:
    """KEYGATE_MAX_CONNECTIONS_PER_IP reaches the server: with 1, a second connection from the
    same address gets the 503 problem with Retry-After, while the first is served. The second
    is made once the first is served: of two made together, either may be the one served, as
    the worker threads take them in parallel."""
    server = start_server(request, PUBLIC, ("--memory-only",), environment={"KEYGATE_MAX_CONNECTIONS_PER_IP": "1"})
    first = socket.create_connection((server.host, server.port), timeout=5)
    second = None
    try:
        head = f"GET /healthz HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode()
        first.sendall(head)
        assert first.recv(4096).startswith(b"HTTP/1.1 200 ")
        second = socket.create_connection((server.host, server.port), timeout=5)
        second.sendall(head)
        refused = b""
        while chunk := second.recv(4096):
            refused += chunk
        status, _, rest = refused.partition(b"\r\n")
        assert status == b"HTTP/1.1 503 Service Unavailable", refused
        assert b"\r\nRetry-After: 1\r\n" in rest and b'"type":"/problems/service-unavailable"' in rest, refused
    finally:
        first.close()
        if second is not None:
            second.close()


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (("--read-timeout", "0"), "--read-timeout"),
        (("--max-connections-per-ip", "0"), "--max-connections-per-ip"),
        (("--max-key-bytes", "1025"), "--max-key-bytes"),
        (("--max-header-bytes", "2048", "--max-url-bytes", "4096"), "--max-url-bytes"),
        (("--max-waiting-per-queue", "-1"), "--max-waiting-per-queue"),
    ],
    ids=["read timeout 0", "per-address limit 0", "key past the engine's", "target past the head",
         "negative waiting"],
)
def test_a_limit_out_of_range_stops_the_start_naming_the_flag(arguments: tuple[str, ...], named: str) -> None:
    started = subprocess.run(
        [str(BINARY), "--memory-only", "--port", "0", *arguments],
        capture_output=True, text=True, timeout=STOP_TIMEOUT, check=False)
    assert started.returncode != 0, started
    assert named in started.stderr, started.stderr


# --- Access control ---------------------------------------------------------------------

# The secured server's tokens: every action on every key, and admin; one that may only push
# to queues no test uses (it holds no read, write, pop or subscribe scope at all); one that
# may read and subscribe to keys starting `acl-public-`.
ACCESS_SCOPES = {
    "root": ["*:*", "admin"],
    "outsider": ["push:elsewhere:*"],
    "reader": ["read:acl-public-*", "subscribe:acl-public-*"],
}
# A token no file holds.
UNKNOWN_TOKEN = "not-a-token-of-this-server-0123456789abcdefgh"


@dataclass
class Secured:
    """A server started with --auth-tokens, its tokens by name, and a client."""

    server: RunningServer
    tokens: dict[str, str]
    api: Client

    def as_(self, name: str) -> dict[str, str]:
        return bearer(self.tokens[name])


@pytest.fixture(scope="module")
def secured(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Secured:
    file = tmp_path_factory.mktemp("tokens") / "tokens.json"
    tokens = write_token_file(file, ACCESS_SCOPES)
    server = start_server(request, PUBLIC, ("--auth-tokens", str(file), "--ticket-lifetime", "2"))
    return Secured(server, tokens, Client(server))


@dataclass
class AccessCase:
    """How to call one secured operation on a key that holds a string or a queue."""

    path: dict[str, str]
    query: str | None = None
    body: bytes | None = None
    headers: dict[str, str] | None = None
    # What the key must hold before the call: a string value, a queue, a queue whose one message
    # is leased (its receipt replaces RECEIPT in the path and the body), or nothing in particular.
    holds: str = "string"
    # The answers of a caller in scope.
    statuses: tuple[int, ...] = (200,)


def access_cases(key: str) -> dict[tuple[str, str], AccessCase]:
    """A call of every secured operation of the document, on `key`."""
    on_key, on_queue, on_lease = {"key": key}, {"name": key}, {"name": key, "receipt": "RECEIPT"}
    return {
        ("GET", "/v1/cache/{key}"): AccessCase(on_key),
        ("HEAD", "/v1/cache/{key}"): AccessCase(on_key),
        ("PUT", "/v1/cache/{key}"): AccessCase(on_key, body=b"changed", statuses=(204,)),
        ("DELETE", "/v1/cache/{key}"): AccessCase(on_key, statuses=(204,)),
        ("GET", "/v1/cache/{key}/ttl"): AccessCase(on_key),
        ("HEAD", "/v1/cache/{key}/ttl"): AccessCase(on_key),
        ("PUT", "/v1/cache/{key}/ttl"): AccessCase(on_key, body=b'{"ttl": 30}', statuses=(204,)),
        ("POST", "/v1/queues/{name}"): AccessCase(on_queue, body=b"more", holds="queue", statuses=(201,)),
        ("GET", "/v1/queues/{name}"): AccessCase(on_queue, holds="queue"),
        ("HEAD", "/v1/queues/{name}"): AccessCase(on_queue, holds="queue"),
        ("DELETE", "/v1/queues/{name}"): AccessCase(on_queue, holds="queue", statuses=(204,)),
        ("GET", "/v1/queues/{name}/messages"): AccessCase(on_queue, holds="queue"),
        ("HEAD", "/v1/queues/{name}/messages"): AccessCase(on_queue, holds="queue"),
        ("POST", "/v1/queues/{name}/pop"): AccessCase(on_queue, holds="queue"),
        ("POST", "/v1/queues/{name}/receive"): AccessCase(on_queue, holds="queue"),
        ("DELETE", "/v1/queues/{name}/leases/{receipt}"): AccessCase(
            on_lease, holds="leased", statuses=(204,)),
        ("PUT", "/v1/queues/{name}/leases/{receipt}"): AccessCase(
            on_lease, body=b'{"visibility": 60}', holds="leased"),
        ("POST", "/v1/queues/{name}/ack"): AccessCase(on_queue, body=b'{"receipts": ["RECEIPT"]}', holds="leased"),
        ("GET", "/v1/queues/{name}/policy"): AccessCase(on_queue, holds="queue"),
        ("HEAD", "/v1/queues/{name}/policy"): AccessCase(on_queue, holds="queue"),
        ("PUT", "/v1/queues/{name}/policy"): AccessCase(on_queue, body=b'{"visibility": 10}', holds="queue"),
        ("DELETE", "/v1/queues/{name}/policy"): AccessCase(on_queue, holds="queue", statuses=(204,)),
        ("POST", "/v1/pop"): AccessCase({}, query=f"queues={encoded(key)}", holds="queue"),
        ("GET", "/v1/keys"): AccessCase({}, query=f"prefix={encoded(key)}"),
        ("HEAD", "/v1/keys"): AccessCase({}, query=f"prefix={encoded(key)}"),
        ("GET", "/v1/events"): AccessCase({}, query="type=set"),
        ("HEAD", "/v1/events"): AccessCase({}, query="type=set"),
        ("GET", "/v1/ws"): AccessCase({}, headers={
            "Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": RFC_6455_KEY}, statuses=(101,)),
        ("POST", "/v1/tickets"): AccessCase({}, statuses=(201,), holds="nothing"),
        ("GET", "/metrics"): AccessCase({}, holds="nothing"),
        ("HEAD", "/metrics"): AccessCase({}, holds="nothing"),
    }


# Secured operations that no scope restricts: any known token may ask for a ticket, and open
# a WebSocket, whose messages are then checked one by one (test_access.py).
UNSCOPED_OPERATIONS = {("POST", "/v1/tickets"), ("GET", "/v1/ws")}
SECURED_OPERATIONS = sorted(
    (method, template) for template, method in OPERATIONS
    if method != "OPTIONS" and {"bearer": []} in OPERATIONS[(template, method)].get("security", SPEC["security"]))


def test_every_secured_operation_has_an_access_case() -> None:
    """The matrix below covers every operation the document secures, and only those."""
    assert set(SECURED_OPERATIONS) == set(access_cases("k"))
    open_operations = {(method, template) for template, method in OPERATIONS} - set(SECURED_OPERATIONS)
    assert all(method == "OPTIONS" or not template.startswith("/v1/") for method, template in open_operations)


def status_of_head(server: RunningServer, method: str, target: str, headers: dict[str, str]) -> int:
    """The status of an answer whose body never ends (an event stream, a WebSocket): its head
    only, over a raw socket closed at once."""
    with socket.create_connection((server.host, server.port), timeout=REQUEST_TIMEOUT) as connection:
        head = f"{method} {target} HTTP/1.1\r\nHost: {server.host}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        connection.sendall(head.encode())
        status_line = b""
        while not status_line.endswith(b"\r\n"):
            chunk = connection.recv(1)
            assert chunk, f"the connection closed before a status line: {status_line!r}"
            status_line += chunk
        return int(status_line.split()[1])


def prepare(secured: Secured, key: str, holds: str) -> str | None:
    """Makes `key` hold what a case needs: the value `v`, or a queue of one message `m`, leased
    for a "leased" case; the lease's receipt."""
    root = secured.as_("root")
    if holds == "string":
        secured.api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"v", headers=root, status=201)
    elif holds in ("queue", "leased"):
        secured.api.call("POST", "/v1/queues/{name}", path={"name": key}, body=b"m", headers=root, status=201)
    if holds == "leased":
        received = secured.api.call("POST", "/v1/queues/{name}/receive", path={"name": key}, headers=root, status=200)
        return received.json()["messages"][0]["receipt"]
    return None


def state_of(secured: Secured, key: str) -> tuple[Any, ...]:
    """What a refused call must not change: the key's value, tag, TTL and queue."""
    root = secured.as_("root")
    value = secured.api.send("GET", f"/v1/cache/{encoded_segment(key)}", headers=root)
    ttl = secured.api.send("GET", f"/v1/cache/{encoded_segment(key)}/ttl", headers=root)
    queue = secured.api.send("GET", f"/v1/queues/{encoded_segment(key)}/messages", headers=root)
    return (value.status, value.body, value.headers.get("ETag"), ttl.status, ttl.body, queue.status, queue.body)


@pytest.mark.parametrize(("method", "template"), SECURED_OPERATIONS)
def test_every_secured_operation_refuses_what_it_must(secured: Secured, method: str, template: str) -> None:
    """No token: 401. A token the file does not hold: 401 with `invalid_token`. A token outside
    its scopes: 403 (but where no scope applies). None of them changes anything; a token in
    scope gets the normal answer."""
    key = unique("acl")
    case = access_cases(key)[(method, template)]
    receipt = prepare(secured, key, case.holds)
    if receipt:
        case.path = {name: value.replace("RECEIPT", receipt) for name, value in case.path.items()}
        case.body = case.body.replace(b"RECEIPT", receipt.encode()) if case.body else None
    before = state_of(secured, key)
    base = dict(case.headers or {})
    is_endless = template in ("/v1/events", "/v1/ws") and method == "GET"

    def call(headers: dict[str, str], status: int | tuple[int, ...], slugs: tuple[str, ...] | None = None) -> Answer | None:
        if is_endless:
            target = build_target(template, case.path, case.query)
            answered = status_of_head(secured.server, method, target, {**base, **headers})
            expected = (status,) if isinstance(status, int) else status
            assert answered in expected, f"{method} {target}: {answered}, expected {expected}"
            return None
        return secured.api.call(method, template, path=case.path, query=case.query, body=case.body,
                                headers={**base, **headers}, status=status, slugs=slugs)

    missing = call({}, 401, ("unauthorized",))
    if missing is not None:
        assert missing.headers["WWW-Authenticate"] == 'Bearer realm="keygate"', str(missing)
    unknown = call(bearer(UNKNOWN_TOKEN), 401, ("unauthorized",))
    if unknown is not None:
        assert unknown.headers["WWW-Authenticate"] == 'Bearer realm="keygate", error="invalid_token"'
    if (method, template) in UNSCOPED_OPERATIONS:
        call(secured.as_("outsider"), case.statuses)
    else:
        call(secured.as_("outsider"), 403, ("forbidden",))
    assert state_of(secured, key) == before, "a refused call changed something"
    call(secured.as_("root"), case.statuses)


def test_a_forbidden_answer_names_the_action_and_the_key(secured: Secured) -> None:
    key = unique("acl-named")
    prepare(secured, key, "string")
    answer = secured.api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"x",
                              headers=secured.as_("reader"), status=403, slugs=("forbidden",))
    assert f"may not write '{key}'" in answer.json()["detail"], str(answer)
    pop = secured.api.call("POST", "/v1/pop", query=f"queues=acl-public-q,{encoded(key)}",
                           headers=secured.as_("reader"), status=403, slugs=("forbidden",))
    assert "may not pop 'acl-public-q'" in pop.json()["detail"], str(pop)


def test_a_move_needs_pop_on_its_source_and_push_on_its_destination(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    file = tmp_path / "tokens.json"
    tokens = write_token_file(file, {"root": ["*:*"], "worker": ["pop:jobs", "push:jobs-done", "read:*"]})
    client = Client(start_server(request, PUBLIC, ("--auth-tokens", str(file))))
    root, worker = bearer(tokens["root"]), bearer(tokens["worker"])
    client.call("POST", "/v1/queues/{name}", path={"name": "jobs"}, body=b"j", headers=root, status=201)
    refused = client.call("POST", "/v1/queues/{name}/pop", path={"name": "jobs"}, query={"to": "elsewhere"},
                          headers=worker, status=403, slugs=("forbidden",))
    assert "may not push 'elsewhere'" in refused.json()["detail"], str(refused)
    assert client.call("GET", "/v1/queues/{name}", path={"name": "jobs"}, headers=root).json()["length"] == 1
    moved = client.call("POST", "/v1/queues/{name}/pop", path={"name": "jobs"}, query={"to": "jobs-done"},
                        headers=worker, status=200)
    assert moved.body == b"j" and moved.headers["Queue"] == "jobs"
    assert client.call("GET", "/v1/queues/{name}", path={"name": "jobs-done"}, headers=root).json()["length"] == 1


def test_a_dead_letter_policy_needs_push_on_its_dead_letter_queue(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    file = tmp_path / "tokens.json"
    tokens = write_token_file(file, {"owner": ["write:jobs", "read:*", "push:jobs-dead"]})
    client = Client(start_server(request, PUBLIC, ("--auth-tokens", str(file))))
    owner = bearer(tokens["owner"])
    refused = client.call("PUT", "/v1/queues/{name}/policy", path={"name": "jobs"},
                          body=b'{"maxReceives": 2, "deadLetter": "elsewhere"}', headers=owner, status=403,
                          slugs=("forbidden",))
    assert "may not push 'elsewhere'" in refused.json()["detail"], str(refused)
    assert client.call("GET", "/v1/queues/{name}/policy", path={"name": "jobs"}, headers=owner).json() == {
        "visibility": 30, "maxReceives": None, "deadLetter": None}
    client.call("PUT", "/v1/queues/{name}/policy", path={"name": "jobs"},
                body=b'{"maxReceives": 2, "deadLetter": "jobs-dead"}', headers=owner, status=200)


def test_a_pop_over_several_queues_needs_pop_on_each(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    file = tmp_path / "tokens.json"
    tokens = write_token_file(file, {"root": ["*:*"], "worker": ["pop:jobs-*"]})
    client = Client(start_server(request, PUBLIC, ("--auth-tokens", str(file))))
    root, worker = bearer(tokens["root"]), bearer(tokens["worker"])
    client.call("POST", "/v1/queues/{name}", path={"name": "other"}, body=b"o", headers=root, status=201)
    client.call("POST", "/v1/pop", query="queues=jobs-a,other", headers=worker, status=403, slugs=("forbidden",))
    assert client.call("GET", "/v1/queues/{name}", path={"name": "other"}, headers=root).json()["length"] == 1
    client.call("POST", "/v1/queues/{name}", path={"name": "jobs-b"}, body=b"j", headers=root, status=201)
    popped = client.call("POST", "/v1/pop", query="queues=jobs-a,jobs-b", headers=worker, status=200)
    assert popped.body == b"j" and popped.headers["Queue"] == "jobs-b"


def test_a_listing_holds_only_the_keys_the_token_may_read(secured: Secured) -> None:
    prefix = unique("acl-")
    root, reader = secured.as_("root"), secured.as_("reader")
    public = [f"acl-public-{prefix}-{index}" for index in range(3)]
    private = [f"{prefix}-private-{index}" for index in range(3)]
    for key in public + private:
        secured.api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=b"v", headers=root, status=201)
    everything = secured.api.call("GET", "/v1/keys", query={"prefix": "acl-"}, headers=root).json()["keys"]
    assert {row["key"] for row in everything} >= set(public + private)
    listed: list[str] = []
    cursor: str | None = None
    while True:
        query = {"prefix": "acl-", "limit": "2"} | ({"cursor": cursor} if cursor else {})
        page = secured.api.call("GET", "/v1/keys", query=query, headers=reader, status=200).json()
        assert len(page["keys"]) <= 2
        listed += [row["key"] for row in page["keys"]]
        cursor = page["cursor"]
        if cursor is None:
            break
    assert all(key.startswith("acl-public-") for key in listed), listed
    assert set(public) <= set(listed)


def test_events_are_those_the_token_may_subscribe_to_replay_included(secured: Secured) -> None:
    root = secured.as_("root")
    prefix = unique("ev")
    first = secured.api.call("PUT", "/v1/cache/{key}", path={"key": f"acl-public-{prefix}"}, body=b"1",
                             headers=root, status=201)
    assert first.headers["ETag"]
    secured.api.call("PUT", "/v1/cache/{key}", path={"key": f"{prefix}-private"}, body=b"2", headers=root)
    # Replayed from the start of the history, then live.
    stream = open_events(secured.server, "last_event_id=0&type=set", secured.as_("reader"))
    try:
        secured.api.call("PUT", "/v1/cache/{key}", path={"key": f"{prefix}-private-2"}, body=b"3", headers=root)
        secured.api.call("PUT", "/v1/cache/{key}", path={"key": f"acl-public-{prefix}-2"}, body=b"4",
                         headers=root)
        seen: list[str] = []
        while f"acl-public-{prefix}-2" not in seen:
            seen.append(stream.next_event().key)
        assert all(key.startswith("acl-public-") for key in seen), seen
        assert f"acl-public-{prefix}" in seen, seen
    finally:
        stream.close()
    secured.api.call("GET", "/v1/events", query="type=set", headers=secured.as_("outsider"), status=403,
                     slugs=("forbidden",))


def test_tickets_open_a_stream_once(secured: Secured) -> None:
    ticket = secured.api.call("POST", "/v1/tickets", headers=secured.as_("reader"), status=201).json()
    assert ticket["expiresIn"] == 2
    open_events(secured.server, f"ticket={ticket['ticket']}&type=set").close()
    # Used: refused, as is an unknown one.
    for used in (ticket["ticket"], "x" * 43):
        assert status_of_head(secured.server, "GET", f"/v1/events?ticket={used}", {}) == 401
    # Expired after --ticket-lifetime.
    late = secured.api.call("POST", "/v1/tickets", headers=secured.as_("reader"), status=201).json()["ticket"]
    time.sleep(2.2)
    assert status_of_head(secured.server, "GET", f"/v1/events?ticket={late}", {}) == 401
    fresh = secured.api.call("POST", "/v1/tickets", headers=secured.as_("reader"), status=201).json()["ticket"]
    handshake = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": RFC_6455_KEY}
    assert status_of_head(secured.server, "GET", f"/v1/ws?ticket={fresh}", handshake) == 101
    assert status_of_head(secured.server, "GET", f"/v1/ws?ticket={fresh}", handshake) == 401


def test_tickets_are_not_found_without_access_control(api: Client) -> None:
    api.call("POST", "/v1/tickets", status=404, slugs=("not-found",))
    api.call("OPTIONS", "/v1/tickets", status=204)


def test_auth_failures_are_counted_and_the_access_log_names_the_token(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    file = tmp_path / "tokens.json"
    tokens = write_token_file(file, {"admin": ["*:*", "admin"], "reader": ["read:*"]})
    server = start_server(request, PUBLIC, ("--auth-tokens", str(file), "--access-log"))
    client = Client(server)
    client.call("GET", "/v1/cache/{key}", path={"key": "k"}, status=401)
    client.call("GET", "/v1/cache/{key}", path={"key": "k"}, headers=bearer(UNKNOWN_TOKEN), status=401)
    client.call("PUT", "/v1/cache/{key}", path={"key": "k"}, body=b"v", headers=bearer(tokens["reader"]), status=403)
    client.call("GET", "/metrics", headers=bearer(tokens["reader"]), status=403)
    assert status_of_head(server, "GET", "/v1/events?ticket=" + "y" * 43, {}) == 401
    ticket = client.call("POST", "/v1/tickets", headers=bearer(tokens["admin"]), status=201).json()["ticket"]
    assert status_of_head(server, "GET", "/v1/events?ticket=" + ticket, {}) == 200
    metrics = client.call("GET", "/metrics", headers=bearer(tokens["admin"]), status=200).body.decode()
    counted = dict(re.findall(r'keygate_auth_failures_total\{reason="(\w+)"\} (\d+)', metrics))
    assert counted == {"missing": "1", "invalid": "1", "forbidden": "2", "ticket": "1"}, metrics
    deadline = time.monotonic() + EVENT_TIMEOUT
    while not any("path=/metrics" in line and "status=200" in line for line in server.log) or not any(
        "path=/v1/events" in line and "status=200" in line for line in server.log
    ):
        assert time.monotonic() < deadline, "no access-log line for /metrics"
        time.sleep(0.02)
    lines = [line for line in server.log if "keygate.access" in line]
    assert any("token=admin" in line and "path=/metrics" in line for line in lines), lines
    assert any("token=reader" in line for line in lines), lines
    secrets = [*tokens.values(), ticket]
    assert not [line for line in server.log if any(secret in line for secret in secrets)]


# --- Memory limit and eviction ----------------------------------------------------------

# The values the memory tests write: 100 bytes, so that a key costs some 190 bytes by the
# engine's count, and 120 KiB hold some 600 of them.
MEMORY_VALUE = b"x" * 100
MEMORY_LIMIT = 120 * 1024
EVICTING_POLICIES = ("allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu", "volatile-ttl",
                     "allkeys-random", "allkeys-tinylfu")


def memory_server(request: pytest.FixtureRequest, policy: str | None, *more: str) -> Client:
    """A client of a new memory-only server limited to MEMORY_LIMIT bytes (none for `None`)."""
    arguments = ["--memory-only", *more]
    if policy is not None:
        arguments += ["--max-memory", "120KiB", "--eviction-policy", policy]
    return server_of_its_own(request, *arguments)


def memory_health(api: Client) -> dict[str, Any]:
    return api.call("GET", "/healthz", status=200).json()["memory"]


def held_keys(api: Client, prefix: str = "") -> set[str]:
    keys, _ = list_all(api, prefix, 1000)
    return {entry["key"] for entry in keys}


def read_events(stream: EventStream, count: int) -> list[StreamEvent]:
    """The next `count` events of `stream`."""
    return [stream.next_event() for _ in range(count)]


@builtin_only
@pytest.mark.parametrize("policy", EVICTING_POLICIES)
def test_filling_past_the_limit_evicts_by_the_policy(request: pytest.FixtureRequest, policy: str) -> None:
    api = memory_server(request, policy)
    # TinyLFU's sketch counts from the start: 512 words of 8 bytes for 120 KiB.
    sketch = 4096 if policy == "allkeys-tinylfu" else 0
    assert memory_health(api) == {"used": sketch, "limit": MEMORY_LIMIT, "policy": policy, "evicted": 0}
    with open_events(api.server, {"type": "evicted"}) as stream:
        # A queue, persistent keys, hot keys with a TTL, then a stream of keys with a TTL
        # whose deadlines come in the order they are written.
        push(api, "memory-jobs", b"a job")
        persistent = [f"persistent-{index}" for index in range(10)]
        for key in persistent:
            api.call("PUT", "/v1/cache/{key}", path={"key": key}, body=MEMORY_VALUE, status=201)
        hot = [f"hot-{index}" for index in range(5)]
        for key in hot:
            api.call("PUT", "/v1/cache/{key}", path={"key": key}, query={"ttl": "100000"},
                     body=MEMORY_VALUE, status=201)
        written = persistent + hot
        for index in range(1500):
            key = f"stream-{index:05d}"
            if policy != "allkeys-tinylfu" or index % 10 == 0:
                for hot_key in hot:
                    # A random policy may take a hot key too.
                    api.call("GET", "/v1/cache/{key}", path={"key": hot_key},
                             status=(200, 404) if policy == "allkeys-random" else 200)
            answer = api.call("PUT", "/v1/cache/{key}", path={"key": key},
                              query={"ttl": str(1000 + index)}, body=MEMORY_VALUE, status=201)
            assert answer.status == 201
            written.append(key)
            if index % 100 == 0:
                memory = memory_health(api)
                # Never over the limit by more than one value's size (it is never over at all).
                assert memory["used"] <= MEMORY_LIMIT + len(MEMORY_VALUE), memory
        memory = memory_health(api)
        assert memory["used"] <= MEMORY_LIMIT and memory["evicted"] > 500, memory
        held = held_keys(api)
        gone = set(written) - held
        # An `evicted` event for exactly the keys gone, once each.
        events = read_events(stream, memory["evicted"])
        assert all(event.type == "evicted" for event in events)
        assert [event.key for event in events if event.key in held] == []
        assert {event.key for event in events} == gone
        assert len(events) == len(gone)
    assert "memory-jobs" in held
    assert queue_state(api, "memory-jobs")["length"] == 1
    if policy.startswith("volatile-"):
        assert set(persistent) <= held
    if policy in ("allkeys-lru", "volatile-lru", "allkeys-lfu", "volatile-lfu", "allkeys-tinylfu"):
        assert set(hot) <= held, f"{policy} evicted hot keys: {set(hot) - held}"
    if policy == "volatile-ttl":
        # The nearest deadline first: hot keys (far deadlines) stay, the stream goes in order.
        stream_keys = [event.key for event in events]
        assert stream_keys == sorted(stream_keys)
        assert set(hot) <= held


@builtin_only
@pytest.mark.parametrize("policy", ("noeviction", "volatile-lru", "volatile-lfu", "volatile-ttl"))
def test_a_write_with_nothing_to_evict_is_507_and_changes_nothing(
    request: pytest.FixtureRequest, policy: str
) -> None:
    api = memory_server(request, policy)
    push(api, "memory-work", b"m")
    index = 0
    while True:
        answer = api.call("PUT", "/v1/cache/{key}", path={"key": f"full-{index}"}, body=MEMORY_VALUE,
                          status=(201, 507))
        if answer.status == 507:
            break
        index += 1
        assert index < 5000, "the limit was never reached"
    problem = answer.json()
    assert problem["type"] == "/problems/memory-full" and problem["title"] == "Insufficient Storage"
    memory = memory_health(api)
    assert str(MEMORY_LIMIT) in problem["detail"] and str(memory["used"]) in problem["detail"], problem
    assert memory["evicted"] == 0 and memory["used"] <= MEMORY_LIMIT
    # Nothing changed: the key is absent, the usage and the last event are the same.
    api.call("GET", "/v1/cache/{key}", path={"key": f"full-{index}"}, status=404)
    api.call("PUT", "/v1/cache/{key}", path={"key": f"full-{index}"}, body=MEMORY_VALUE, status=507,
             slugs=("memory-full",))
    api.call("POST", "/v1/queues/{name}", path={"name": "memory-work"}, body=MEMORY_VALUE * 10, status=507,
             slugs=("memory-full",))
    assert memory_health(api) == memory
    # Reads, deletes and pops go on, and free room.
    api.call("GET", "/v1/cache/{key}", path={"key": "full-0"}, status=200)
    api.call("DELETE", "/v1/cache/{key}", path={"key": "full-0"}, status=204)
    api.call("POST", "/v1/queues/{name}/pop", path={"name": "memory-work"}, status=200)
    assert memory_health(api)["used"] < memory["used"]
    api.call("PUT", "/v1/cache/{key}", path={"key": f"full-{index}"}, body=MEMORY_VALUE, status=201)


@builtin_only
def test_leased_and_delayed_messages_count_as_memory_and_consumers_go_on_when_full(
    request: pytest.FixtureRequest,
) -> None:
    api = memory_server(request, "noeviction")
    name = "memory-leased"
    push(api, name, MEMORY_VALUE)
    visible = memory_health(api)["used"]
    lease = receive(api, name, {"visibility": "60"})["messages"][0]
    # A leased message is still held, with its lease's bookkeeping.
    leased = memory_health(api)["used"]
    assert leased > visible
    api.call("POST", "/v1/queues/{name}", path={"name": name}, query={"delay": "60"}, body=MEMORY_VALUE,
             status=201)
    assert memory_health(api)["used"] > leased
    index = 0
    while True:
        answer = api.call("POST", "/v1/queues/{name}", path={"name": name}, body=MEMORY_VALUE, status=(201, 507))
        if answer.status == 507:
            break
        index += 1
        assert index < 5000, "the limit was never reached"
    assert answer.json()["type"] == "/problems/memory-full"
    api.call("POST", "/v1/queues/{name}", path={"name": name}, query={"delay": "60"}, body=MEMORY_VALUE,
             status=507, slugs=("memory-full",))
    memory = memory_health(api)
    assert memory["used"] <= MEMORY_LIMIT and memory["evicted"] == 0
    # Consumers go on when full: a receive, an acknowledgement, which frees room.
    second = receive(api, name, {"visibility": "60"})["messages"][0]
    acknowledge(api, name, lease["receipt"])
    acknowledge(api, name, second["receipt"])
    assert memory_health(api)["used"] < memory["used"]
    push(api, name, MEMORY_VALUE)


@builtin_only
@pytest.mark.parametrize("policy", EVICTING_POLICIES)
def test_queues_survive_every_policy_and_a_push_with_only_queues_left_is_507(
    request: pytest.FixtureRequest, policy: str
) -> None:
    api = memory_server(request, policy)
    for index in range(3):
        push(api, f"memory-queue-{index}", b"first")
        put_ttl(api, f"memory-queue-{index}", "100000")
    for index in range(800):
        api.call("PUT", "/v1/cache/{key}", path={"key": f"filler-{index}"}, query={"ttl": "100000"},
                 body=MEMORY_VALUE, status=201)
    assert memory_health(api)["evicted"] > 0
    for index in range(3):
        assert queue_state(api, f"memory-queue-{index}")["length"] == 1
    # Only queues: once the strings are all evicted, a push is refused. (A message costs less
    # than a filler key, so that a push is refused only once no filler is left.)
    index = 0
    while True:
        answer = api.call("POST", "/v1/queues/{name}", path={"name": "memory-queue-0"},
                          body=MEMORY_VALUE, status=(201, 507))
        if answer.status == 507:
            break
        index += 1
        assert index < 5000
    check_problem(answer, "MemoryFull", ("memory-full",))
    assert held_keys(api, "filler-") == set()
    assert queue_state(api, "memory-queue-0")["length"] == index + 1


@builtin_only
def test_memory_figures_in_metrics_and_healthz_move_as_keys_come_and_go(request: pytest.FixtureRequest) -> None:
    unlimited = memory_server(request, None)
    start = memory_health(unlimited)
    assert start["limit"] is None and start["policy"] == "allkeys-tinylfu" and start["evicted"] == 0
    for index in range(100):
        put_value(unlimited, f"figure-{index}")
    grown = memory_health(unlimited)
    assert grown["used"] > start["used"] + 100 * 64
    samples = prometheus_samples(unlimited.call("GET", "/metrics", status=200).body.decode())
    assert metric(samples, "keygate_memory_used_bytes") == grown["used"]
    assert metric(samples, "keygate_memory_limit_bytes") == 0
    assert metric(samples, "keygate_evicted_keys_total") == 0
    for index in range(100):
        unlimited.call("DELETE", "/v1/cache/{key}", path={"key": f"figure-{index}"}, status=204)
    assert memory_health(unlimited)["used"] == start["used"]

    limited = memory_server(request, "allkeys-lru")
    for index in range(1000):
        limited.call("PUT", "/v1/cache/{key}", path={"key": f"figure-{index}"}, body=MEMORY_VALUE, status=201)
    memory = memory_health(limited)
    samples = prometheus_samples(limited.call("GET", "/metrics", status=200).body.decode())
    assert metric(samples, "keygate_memory_limit_bytes") == MEMORY_LIMIT
    assert metric(samples, "keygate_memory_used_bytes") == memory["used"] <= MEMORY_LIMIT
    assert metric(samples, "keygate_evicted_keys_total") == memory["evicted"] > 0
    assert len(held_keys(limited, "figure-")) == 1000 - memory["evicted"]


@builtin_only
def test_restart_with_a_lower_limit_evicts_while_loading(request: pytest.FixtureRequest) -> None:
    if not supports_persistence():
        pytest.skip("the binary has no persistence")
    first = start_server(request, PUBLIC)
    api = Client(first)
    request.addfinalizer(api.session.close)
    for index in range(1000):
        api.call("PUT", "/v1/cache/{key}", path={"key": f"restart-{index:04d}"}, body=MEMORY_VALUE, status=201)
    push(api, "restart-queue", b"kept")
    used = memory_health(api)["used"]
    assert used > MEMORY_LIMIT
    with open_events(first) as stream:
        put_value(api, "restart-last")
        last_id = stream.next_event().id
    first.stop()

    second = Client(start_server(request, PUBLIC, ("--max-memory", "120KiB", "--eviction-policy", "allkeys-lru"),
                                 data_dir=first.data_dir))
    request.addfinalizer(second.session.close)
    second.server.wait_for_log(r"evicted_over_limit=[1-9]")
    memory = memory_health(second)
    assert memory["used"] <= MEMORY_LIMIT and memory["evicted"] > 0, memory
    held = held_keys(second)
    assert "restart-queue" in held
    # The evictions are events after the last one before the restart.
    with open_events(second.server, headers={"Last-Event-ID": str(last_id)}) as stream:
        events = read_events(stream, memory["evicted"])
    assert all(event.type == "evicted" for event in events)
    assert {event.key for event in events}.isdisjoint(held)
    assert len(held) + len(events) == 1002
    second.server.stop()

    # The evictions were logged: without a limit, the evicted keys stay gone.
    third = Client(start_server(request, PUBLIC, data_dir=first.data_dir))
    request.addfinalizer(third.session.close)
    assert held_keys(third) == held


# --- Coverage: keep this last -----------------------------------------------------------


def test_every_documented_operation_was_exercised(request: pytest.FixtureRequest) -> None:
    """Fails when openapi.yaml lists an operation, or a path, that no test above exercised, or
    an operation the server never answered with a success."""
    here = [item for item in request.session.items if getattr(item, "module", None) is request.module]
    selected = {item.originalname for item in here}
    defined = {name for name, value in vars(request.module).items()
               if name.startswith("test_") and callable(value)}
    if selected != defined:
        pytest.skip("only part of the contract test was selected; coverage is checked on a full run")
    assert here[-1].originalname == request.node.originalname, "the coverage check runs last"
    missing = sorted(set(OPERATIONS) - EXERCISED, key=str)
    assert not missing, f"operations in openapi.yaml that no test exercised: {missing}"
    # Every operation of the document exists on the server: each was answered with a
    # documented success at least once (an error alone could come from a route that is not
    # there, such as the 404 of a file path).
    never_succeeded = sorted(set(OPERATIONS) - SUCCEEDED, key=str)
    assert not never_succeeded, f"operations in openapi.yaml never answered with a success: {never_succeeded}"
    assert METHOD_CHECKED_PATHS == set(SPEC["paths"]), (
        f"paths whose unlisted methods were not checked: {sorted(set(SPEC['paths']) - METHOD_CHECKED_PATHS)}")

