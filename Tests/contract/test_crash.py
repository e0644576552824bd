"""The crash test of issue 7: what a server acknowledged survives `kill -9`.

Each round starts the real server with `--fsync always` on a fresh data directory, runs
several clients at once (threads, each with its own keep-alive connection) for a random
0.5 to 2 s, kills the server with SIGKILL at that moment, while the clients are sending, and
restarts it on the same directory with the default flags. The first server runs on a
simulated disk that loses what was not synced: a preloaded library (`UNSYNCED_WRITES_LOST`,
compiled at the start of the session) holds every write(2) to a regular file in the process
until the file is synced, so the kill loses what a power cut would, and an answer given before
its record was synced shows as a lost write. Even rounds also pass
`--compaction-min-bytes 16384`, so that the log is compacted into a snapshot dozens of times
a second and the kill may land in the middle of a compaction. Every request is journaled before
it is sent, with the time it was sent and, if an answer came, the time and the answer: a
write with no answer is *in flight*, and may or may not have happened.

What the clients do:

- each client writes keys of its own (`c<n>-k<i>`: rewritten several times, without a TTL,
  with a long one of 600 s or a short one of 1 to 3 s; deleted; given a new TTL through
  `/ttl` or made persistent), so that the order of the writes to a key is the client's;
- all clients write and delete a few shared keys (`shared-k<i>`, no TTL), where only the
  acknowledgment times order the writes;
- each client pushes to a queue of its own (`c<n>-q`) and pops from it, and all push to and
  pop from one shared queue (`shared-q`). A message names its producer and its number;
- before the clients start, 12 keys `exp-<i>` are written with deadlines spread from 0.4 s
  before the kill to 0.5 s after the restart, so that some expire while the server runs, some
  while it is down (0.2 to 0.5 s) and some after.

What must hold after the restart (see `check_own_key`, `check_shared_key`, `check_queue`):

- a key of one client holds the state after its last acknowledged write, or after the write in
  flight when the server died (there is at most one, the client's last request). A deleted key
  stays deleted. A TTL counts from the write that set it: the remaining TTL lies between the
  deadline's earliest (write sent + TTL) and latest (answer received + TTL) bound, less the
  time of the read, so a long TTL continues (never restarts, never vanishes) and a short one
  whose deadline has passed is gone;
- a shared key holds the value of a write that no acknowledged write is known to follow (one
  sent after its answer came), acknowledged or in flight; absent only if such a write is a
  delete, or no write was acknowledged;
- a queue holds exactly its acknowledged pushes that no acknowledged pop took, each producer's
  in the order pushed, plus at most the producer's push in flight, last; each message at most
  once in all queues and pops together. The only acknowledged pushes that may be missing are
  at the head of their producer's run, at most one for each pop in flight on that queue (such
  a pop took a message whose answer never came back). Messages pushed by different clients
  keep the order of their acknowledgments: one acknowledged before another was sent comes
  first;
- no other key exists;
- the restarted server announces, with one `expired` event each (read from its history with
  `last_event_id=0` before any other read), every key whose deadline surely came after the kill
  and before the events were read; and no key that cannot have expired since the kill.

Assertion messages name each lost, duplicated or unexpected key and message, with the round's
seed. `CRASH_ROUNDS` (default 10) sets the number of rounds, `CRASH_SEED` the first seed, and
`CRASH_SERVER_ARGUMENTS` (default `--fsync always`) the first server's flags: with
`--memory-only`, `--fsync no` or `--fsync everysec` the rounds must fail (the last two lose
the writes of the last second on the lossy disk).

The queue-worker crash test of issue 18 (`test_every_message_is_acknowledged_at_least_once_across_kill_9`):
producers push `CRASH_LEASE_MESSAGES` (600) messages, each until a push of it is acknowledged;
workers receive them on 2 s leases, die now and then with a batch in hand (their leases left to
end), and acknowledge the rest; the server, on the lossy disk under `--fsync always`, is killed
with SIGKILL `CRASH_LEASE_KILLS` (4) times meanwhile and restarted on its directory, then once
more after everything was acknowledged. Every message must have been acknowledged at least once
and none left; an acknowledged message never comes back; a message comes back only once its
lease would have ended (on the server's clock), with attempts that only grow. It prints how many
messages were delivered more than once, and why.

Also here: a TTL across a clean stop (SIGTERM) and a restart before and after its deadline,
the `expired` event of a key whose deadline passes after a restart, a torn last write on the
log (cut off at start-up, nothing acknowledged lost), `/healthz` of a memory-only server, and
the lock that keeps a second server off a data directory in use.

    python3 -m pytest -q Tests/contract/test_crash.py
"""

from __future__ import annotations

import enum
import http.client
import json
import os
import random
import shlex
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from keygate_server import BINARY, REPO, SPEC_FILE, STARTUP_TIMEOUT, RunningServer, start_server, supports_persistence

PUBLIC = REPO / "public"

ROUNDS = int(os.environ.get("CRASH_ROUNDS", "10"))
FIRST_SEED = int(os.environ.get("CRASH_SEED", str(int(time.time()) % 1_000_000)))
SERVER_ARGUMENTS = tuple(shlex.split(os.environ.get("CRASH_SERVER_ARGUMENTS", "--fsync always")))

# Even rounds compact the log whenever it passes this many bytes (and twice the live data), so
# that the kill may land during a compaction; odd rounds keep the default (64 MiB: never here).
SMALL_COMPACTION_BYTES = 16384
CLIENTS = 8
KEYS_PER_CLIENT = 6
SHARED_KEYS = 3
SHARED_QUEUE = "shared-q"
RUN_SECONDS = (0.5, 2.0)
# A pause between the kill and the restart, so that some short deadlines pass while the
# server is down.
DOWN_SECONDS = (0.2, 0.5)
# Keys written once, before the clients start, whose deadlines are spread from shortly before
# the kill to shortly after the restart: some expire while the server runs, some while it is
# down (the restarted server must drop them at start-up, with an `expired` event), some after.
EXPIRING_KEYS = 12
LONG_TTL = 600.0
SHORT_TTL = (1.0, 3.0)
REQUEST_TIMEOUT = 10.0
READY_TIMEOUT = 30.0
# What the server's millisecond rounding (TTLs are kept rounded up) and the two clocks
# (the server's wall clock, the test's monotonic one) may add to a deadline, in seconds.
CLOCK_SLACK = 0.01
# How late the expirer of a busy debug build may announce a deadline, in seconds.
EXPIRER_SLACK = 0.5
CONTENT_TYPE = "text/plain"
# Written after the restart to mark the end of the events published so far.
MARKER_KEY = "crash-marker"


class Kind(enum.Enum):
    """What a journaled request does."""

    PUT = "PUT"
    DELETE = "DELETE"
    TTL = "TTL"
    PUSH = "push"
    POP = "pop"


# The answers each kind of request may get while the server runs; any other fails the round.
EXPECTED_STATUSES: dict[Kind, set[int]] = {
    Kind.PUT: {201, 204}, Kind.DELETE: {204, 404}, Kind.TTL: {204, 404},
    Kind.PUSH: {201}, Kind.POP: {200, 204},
}


@dataclass
class Operation:
    """One request of the run: journaled before it is sent, completed when its answer comes."""

    client: int
    kind: Kind
    # The key, or the queue's name.
    target: str
    # The value (PUT) or message (push); None for the others.
    payload: bytes | None = None
    # The TTL set by a PUT or a TTL change, in seconds; None for none (persistent).
    ttl: float | None = None
    sent: float = 0.0
    answered: float | None = None
    status: int | None = None
    body: bytes = b""

    @property
    def in_flight(self) -> bool:
        """Sent, and no answer came before the server died."""
        return self.status is None

    @property
    def acknowledged(self) -> bool:
        """Answered with a 2xx: the server says it happened (or, for a 204 pop, that it found
        nothing)."""
        return self.status is not None and 200 <= self.status < 300

    def describe(self, start: float) -> str:
        """The request for a person: what, where, when (seconds into the run) and its answer."""
        what = self.kind.value
        if self.payload is not None:
            what += f" {self.payload.decode()!r}"
        if self.kind in (Kind.PUT, Kind.TTL):
            what += f" ttl={self.ttl}"
        answer = "no answer (in flight)" if self.in_flight else f"answered {self.status}"
        if self.kind is Kind.POP and self.status == 200:
            answer += f" {self.body.decode(errors='replace')!r}"
        return f"{what} on {self.target!r} sent at +{self.sent - start:.3f} s, {answer}"


@dataclass(frozen=True)
class KeyState:
    """What a key may hold: absent, or a value with a deadline known to lie in [earliest,
    latest] (monotonic seconds), or none."""

    value: bytes | None
    earliest: float | None = None
    latest: float | None = None
    # The write that made this state, for messages.
    cause: str = "no write"

    @property
    def is_absent(self) -> bool:
        return self.value is None


ABSENT = KeyState(None)


@dataclass
class Observation:
    """A key read back after the restart: its GET, then its TTL, each with the times around it."""

    status: int
    value: bytes
    content_type: str | None
    read: tuple[float, float]
    ttl_status: int
    ttl: float | None
    ttl_read: tuple[float, float]

    def describe(self) -> str:
        if self.status == 404:
            return "absent"
        ttl = f"ttl {self.ttl}" if self.ttl_status == 200 else f"ttl read {self.ttl_status}"
        return f"{self.value.decode(errors='replace')!r} ({ttl})"


class Connection:
    """One keep-alive HTTP/1.1 connection to the server; `http.client` never retries, so
    a request is sent at most once."""

    def __init__(self, server: RunningServer) -> None:
        self.http = http.client.HTTPConnection(server.host, server.port, timeout=REQUEST_TIMEOUT)

    def send(
        self, method: str, target: str, body: bytes | None = None, content_type: str | None = None
    ) -> tuple[int, bytes, http.client.HTTPMessage]:
        """Sends one request and reads its whole answer: status, body and headers."""
        headers = {"Content-Type": content_type} if content_type else {}
        self.http.request(method, target, body=body, headers=headers)
        response = self.http.getresponse()
        return response.status, response.read(), response.headers

    def json(self, method: str, target: str, body: bytes | None = None) -> tuple[int, Any]:
        """Sends one request and parses its answer as JSON (None for an empty body)."""
        status, content, _ = self.send(method, target, body, "application/json" if body else None)
        return status, json.loads(content) if content else None

    def close(self) -> None:
        self.http.close()


def quoted(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def own_key(client: int, index: int) -> str:
    return f"c{client}-k{index}"


def own_queue(client: int) -> str:
    return f"c{client}-q"


def shared_key(index: int) -> str:
    return f"shared-k{index}"


# --- The run -----------------------------------------------------------------------------


class Journal:
    """Every request of one round, per client in the order sent."""

    def __init__(self, clients: int) -> None:
        self.by_client: list[list[Operation]] = [[] for _ in range(clients)]
        self.start = 0.0
        # When the kill returned: no request reached the server after it.
        self.killed = 0.0
        # The compactions the server had done just before the kill.
        self.compactions: int | None = None
        # How long the server stays down after the kill.
        self.down = 0.0
        # When the restarted server was started.
        self.restarted = 0.0

    @property
    def operations(self) -> list[Operation]:
        return [operation for operations in self.by_client for operation in operations]


def choose_operation(client: int, rng: random.Random, sequence: list[int]) -> Operation:
    """A random request of `client`; `sequence` numbers its values and messages."""
    sequence[0] += 1
    number = sequence[0]
    roll = rng.random()
    if roll < 0.30:
        ttl_roll = rng.random()
        ttl = None if ttl_roll < 0.4 else LONG_TTL if ttl_roll < 0.7 else round(rng.uniform(*SHORT_TTL), 3)
        key = own_key(client, rng.randrange(KEYS_PER_CLIENT))
        return Operation(client, Kind.PUT, key, f"{key}-v{number}".encode(), ttl)
    if roll < 0.35:
        return Operation(client, Kind.DELETE, own_key(client, rng.randrange(KEYS_PER_CLIENT)))
    if roll < 0.42:
        ttl_roll = rng.random()
        ttl = LONG_TTL if ttl_roll < 0.5 else None if ttl_roll < 0.75 else round(rng.uniform(*SHORT_TTL), 3)
        return Operation(client, Kind.TTL, own_key(client, rng.randrange(KEYS_PER_CLIENT)), None, ttl)
    if roll < 0.50:
        key = shared_key(rng.randrange(SHARED_KEYS))
        return Operation(client, Kind.PUT, key, f"{key}-c{client}-v{number}".encode())
    if roll < 0.52:
        return Operation(client, Kind.DELETE, shared_key(rng.randrange(SHARED_KEYS)))
    if roll < 0.72:
        return Operation(client, Kind.PUSH, own_queue(client), f"m:c{client}:{number}".encode())
    if roll < 0.82:
        return Operation(client, Kind.PUSH, SHARED_QUEUE, f"m:c{client}:{number}".encode())
    if roll < 0.92:
        return Operation(client, Kind.POP, own_queue(client))
    return Operation(client, Kind.POP, SHARED_QUEUE)


def perform(connection: Connection, operation: Operation) -> tuple[int, bytes]:
    """Sends the request an operation stands for; returns its status and body."""
    if operation.kind is Kind.PUT:
        query = "" if operation.ttl is None else f"?ttl={operation.ttl}"
        status, body, _ = connection.send(
            "PUT", f"/v1/cache/{quoted(operation.target)}{query}", operation.payload, CONTENT_TYPE
        )
    elif operation.kind is Kind.DELETE:
        status, body, _ = connection.send("DELETE", f"/v1/cache/{quoted(operation.target)}")
    elif operation.kind is Kind.TTL:
        status, body, _ = connection.send(
            "PUT", f"/v1/cache/{quoted(operation.target)}/ttl",
            json.dumps({"ttl": operation.ttl}).encode(), "application/json",
        )
    elif operation.kind is Kind.PUSH:
        status, body, _ = connection.send(
            "POST", f"/v1/queues/{quoted(operation.target)}", operation.payload, CONTENT_TYPE
        )
    else:
        status, body, _ = connection.send("POST", f"/v1/queues/{quoted(operation.target)}/pop")
    return status, body


def run_client(
    server: RunningServer, client: int, seed: int, journal: list[Operation], stop: threading.Event
) -> None:
    """Sends random requests, one at a time, until `stop` is set or the server goes away.

    Each is journaled before it is sent; one whose answer does not come stays in flight, and
    is the client's last."""
    rng = random.Random(seed)
    sequence = [0]
    connection = Connection(server)
    try:
        while not stop.is_set():
            operation = choose_operation(client, rng, sequence)
            journal.append(operation)
            operation.sent = time.monotonic()
            try:
                operation.status, operation.body = perform(connection, operation)
            except (OSError, http.client.HTTPException):
                operation.status = None
                return
            operation.answered = time.monotonic()
    finally:
        connection.close()


def write_expiring_keys(server: RunningServer, journal: Journal, kill: float) -> None:
    """Writes EXPIRING_KEYS keys `exp-<i>` one after the other, with deadlines spread evenly
    from 0.4 s before `kill` to 0.5 s after the end of the pause that follows it."""
    connection = Connection(server)
    try:
        for index in range(EXPIRING_KEYS):
            deadline = kill - 0.4 + index * (journal.down + 0.9) / (EXPIRING_KEYS - 1)
            operation = Operation(CLIENTS, Kind.PUT, f"exp-{index}", f"exp-{index}-v".encode())
            journal.by_client[CLIENTS].append(operation)
            operation.sent = time.monotonic()
            operation.ttl = round(max(0.05, deadline - operation.sent), 3)
            operation.status, operation.body = perform(connection, operation)
            operation.answered = time.monotonic()
    finally:
        connection.close()


def run_and_kill(server: RunningServer, seed: int) -> Journal:
    """Runs CLIENTS clients for a random time in RUN_SECONDS, then SIGKILLs the server while
    they send, and waits for every client to stop."""
    rng = random.Random(seed)
    # The expiring keys' writer is one more client, numbered CLIENTS.
    journal = Journal(CLIENTS + 1)
    run_seconds = rng.uniform(*RUN_SECONDS)
    journal.down = rng.uniform(*DOWN_SECONDS)
    stop = threading.Event()
    threads = [
        threading.Thread(
            target=run_client, args=(server, client, rng.getrandbits(32), journal.by_client[client], stop),
            name=f"crash-client-{client}", daemon=True,
        )
        for client in range(CLIENTS)
    ]
    journal.start = time.monotonic()
    write_expiring_keys(server, journal, journal.start + run_seconds)
    for thread in threads:
        thread.start()
    time.sleep(max(0.0, journal.start + run_seconds - time.monotonic()))
    persistence = health(server).get("persistence", {})
    journal.compactions = persistence.get("compactions")
    server.kill()
    journal.killed = time.monotonic()
    stop.set()
    for thread in threads:
        thread.join(timeout=REQUEST_TIMEOUT + 5)
        assert not thread.is_alive(), f"{thread.name} did not stop after the kill"
    return journal


# --- Reading the restarted server ---------------------------------------------------------


def await_ready(server: RunningServer) -> float:
    """Polls /readyz until it answers 200; returns the monotonic time it did."""
    deadline = time.monotonic() + READY_TIMEOUT
    while True:
        connection = Connection(server)
        try:
            status, _, _ = connection.send("GET", "/readyz")
            if status == 200:
                return time.monotonic()
        except (OSError, http.client.HTTPException):
            pass
        finally:
            connection.close()
        if time.monotonic() > deadline:
            pytest.fail(f"/readyz did not answer 200 within {READY_TIMEOUT} s of the restart:\n{''.join(server.log[-30:])}")
        time.sleep(0.01)


def observe(connection: Connection, key: str) -> Observation:
    """Reads a key's value, then its TTL."""
    started = time.monotonic()
    status, value, headers = connection.send("GET", f"/v1/cache/{quoted(key)}")
    read = (started, time.monotonic())
    started = time.monotonic()
    ttl_status, ttl_body = connection.json("GET", f"/v1/cache/{quoted(key)}/ttl")
    ttl_read = (started, time.monotonic())
    assert status in (200, 404), f"GET {key} answered {status}: {value[:200]!r}"
    assert ttl_status in (200, 404), f"GET {key}/ttl answered {ttl_status}: {ttl_body}"
    ttl = ttl_body["ttl"] if ttl_status == 200 else None
    return Observation(status, value, headers.get("Content-Type"), read, ttl_status, ttl, ttl_read)


def read_queue(connection: Connection, name: str) -> list[bytes]:
    """A queue's messages, oldest first: a peek when they fit in one, else every pop."""
    status, peeked = connection.json("GET", f"/v1/queues/{quoted(name)}/messages?limit=1000")
    assert status == 200, f"peek of {name} answered {status}: {peeked}"
    if peeked["length"] <= 1000:
        for message in peeked["messages"]:
            assert message["contentType"] == CONTENT_TYPE, f"queue {name}: message {message} lost its Content-Type"
        return [message["text"].encode() for message in peeked["messages"]]
    messages: list[bytes] = []
    while True:
        status, body, _ = connection.send("POST", f"/v1/queues/{quoted(name)}/pop")
        if status == 204:
            return messages
        assert status == 200, f"pop of {name} answered {status}: {body[:200]!r}"
        messages.append(body)


class EventStream:
    """`GET /v1/events` on a raw socket: the chunked body decoded, split into events."""

    def __init__(self, server: RunningServer, query: str) -> None:
        self.socket = socket.create_connection((server.host, server.port), timeout=REQUEST_TIMEOUT)
        self.socket.sendall(f"GET /v1/events?{query} HTTP/1.1\r\nHost: {server.host}\r\n\r\n".encode())
        self.raw = b""
        while b"\r\n\r\n" not in self.raw:
            self.receive()
        head, self.raw = self.raw.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 200") and b"chunked" in head.lower(), head
        self.text = b""

    def receive(self) -> None:
        chunk = self.socket.recv(65536)
        assert chunk, "the event stream ended"
        self.raw += chunk

    def next_event(self, timeout: float) -> dict[str, Any]:
        """The next event's data, as JSON (comments, `retry` and ids skipped)."""
        self.socket.settimeout(timeout)
        while True:
            while b"\n\n" in self.text:
                block, self.text = self.text.split(b"\n\n", 1)
                for line in block.split(b"\n"):
                    if line.startswith(b"data: "):
                        return dict(json.loads(line[len(b"data: "):]))
            # Chunked coding: a hex size line, that many bytes, CRLF.
            while b"\r\n" not in self.raw:
                self.receive()
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            assert size > 0, "the event stream ended"
            while len(rest) < size + 2:
                self.receive()
                rest = self.raw.split(b"\r\n", 1)[1]
            self.text += rest[:size]
            self.raw = rest[size + 2:]

    def close(self) -> None:
        self.socket.close()


def expired_since_start(server: RunningServer) -> tuple[Counter[str], float]:
    """The `expired` events the server has published since it started (its history, from
    `last_event_id=0`): how many for each key, and the time by which the list is complete.

    A marker write ends the list: its `set` event comes after every earlier event."""
    stream = EventStream(server, "last_event_id=0")
    try:
        connection = Connection(server)
        try:
            complete = time.monotonic()
            put_value(connection, MARKER_KEY, b"marker")
        finally:
            connection.close()
        expired: Counter[str] = Counter()
        while True:
            event = stream.next_event(timeout=REQUEST_TIMEOUT)
            if event["type"] == "set" and event["key"] == MARKER_KEY:
                return expired, complete
            if event["type"] == "expired":
                expired[event["key"]] += 1
    finally:
        stream.close()


def list_keys(connection: Connection) -> set[str]:
    """Every key the server holds, through /v1/keys page by page."""
    keys: set[str] = set()
    cursor: str | None = None
    while True:
        query = "limit=1000" + (f"&cursor={cursor}" if cursor else "")
        status, page = connection.json("GET", f"/v1/keys?{query}")
        assert status == 200, f"/v1/keys answered {status}: {page}"
        keys.update(row["key"] for row in page["keys"])
        cursor = page["cursor"]
        if cursor is None:
            return keys


# --- What may be found --------------------------------------------------------------------


def deadline_window(operation: Operation, killed: float) -> tuple[float | None, float | None]:
    """The earliest and latest deadline the server may have given `operation`'s TTL: it starts
    the TTL when it reads the request, between its sending and its answer (or the kill)."""
    if operation.ttl is None:
        return None, None
    latest = operation.answered if operation.answered is not None else killed
    return operation.sent + operation.ttl, latest + operation.ttl


def apply(state: KeyState, operation: Operation, killed: float, start: float) -> KeyState:
    """The state of a key after `operation`, given its answer (an operation in flight is taken
    to have succeeded)."""
    cause = operation.describe(start)
    if operation.kind is Kind.PUT:
        earliest, latest = deadline_window(operation, killed)
        return KeyState(operation.payload, earliest, latest, cause)
    if operation.kind is Kind.DELETE:
        return KeyState(None, cause=cause)
    assert operation.kind is Kind.TTL
    if operation.status == 404:
        # The key was absent, or past its deadline, when the change arrived.
        return KeyState(None, cause=cause)
    if state.is_absent:
        if operation.in_flight:
            return state
        raise AssertionError(f"{cause}, yet the key was deleted by {state.cause}")
    earliest, latest = deadline_window(operation, killed)
    return KeyState(state.value, earliest, latest, cause)


def matches(state: KeyState, seen: Observation) -> bool:
    """Whether what was read back is what `state` holds at the time of the reads."""
    if state.is_absent:
        return seen.status == 404
    if state.earliest is None:
        return seen.status == 200 and seen.value == state.value and seen.ttl_status == 200 and seen.ttl is None
    assert state.latest is not None
    may_be_gone = state.earliest - CLOCK_SLACK <= seen.read[1]
    must_be_gone = state.latest + CLOCK_SLACK < seen.read[0]
    if seen.status == 404:
        return may_be_gone
    if must_be_gone or seen.value != state.value:
        return False
    if seen.ttl_status == 404:
        # Expired between the two reads.
        return state.earliest - CLOCK_SLACK <= seen.ttl_read[1]
    if seen.ttl is None:
        return False
    # The remaining TTL, read at some moment of [ttl_read]: from the earliest deadline less
    # the end of the read to the latest less its start.
    lowest = state.earliest - seen.ttl_read[1] - CLOCK_SLACK
    highest = state.latest - seen.ttl_read[0] + CLOCK_SLACK
    return seen.ttl > 0 and lowest <= seen.ttl <= highest


def describe_state(state: KeyState, now: float) -> str:
    if state.is_absent:
        return f"absent (after {state.cause})"
    assert state.value is not None
    if state.earliest is None:
        return f"{state.value.decode()!r} without TTL (after {state.cause})"
    assert state.latest is not None
    # Whether it may have expired at the read is only worth saying for a short TTL.
    expiring = ", or absent once that passed" if state.earliest - now < 60 else ""
    return (
        f"{state.value.decode()!r} with {state.earliest - now:.3f} to {state.latest - now:.3f} s left"
        f"{expiring} (after {state.cause})"
    )


def own_key_states(operations: list[Operation], journal: Journal) -> list[KeyState]:
    """What a key written by one client may hold: the state after its acknowledged writes, or
    after those and its write in flight."""
    state = ABSENT
    for operation in operations:
        if operation.in_flight:
            break
        state = apply(state, operation, journal.killed, journal.start)
    allowed = [state]
    if operations and operations[-1].in_flight:
        allowed.append(apply(state, operations[-1], journal.killed, journal.start))
    return allowed


def check_own_key(key: str, operations: list[Operation], seen: Observation, journal: Journal) -> str | None:
    """A key written by one client: the state after its acknowledged writes, or after those
    and its write in flight. Returns what is wrong, or None."""
    allowed = own_key_states(operations, journal)
    if any(matches(candidate, seen) for candidate in allowed):
        return None
    now = seen.read[0]
    return (
        f"key {key!r}: found {seen.describe()}, expected "
        + " or ".join(describe_state(candidate, now) for candidate in allowed)
    )


def check_shared_key(key: str, operations: list[Operation], seen: Observation, journal: Journal) -> str | None:
    """A key written by several clients: the state made by a write no acknowledged write is
    known to follow. Returns what is wrong, or None."""
    acknowledged = [operation for operation in operations if operation.acknowledged]
    candidates: list[tuple[float, KeyState]] = []
    if not acknowledged:
        candidates.append((float("-inf"), ABSENT))
    for operation in operations:
        if operation.acknowledged or operation.in_flight:
            answered = operation.answered if operation.answered is not None else float("inf")
            state = KeyState(operation.payload, cause=operation.describe(journal.start))
            candidates.append((answered, state))
    allowed = [
        state for answered, state in candidates
        if not any(other.sent > answered for other in acknowledged)
    ]
    if any(matches(state, seen) for state in allowed):
        return None
    return (
        f"shared key {key!r}: found {seen.describe()}, expected "
        + " or ".join(describe_state(state, seen.read[0]) for state in allowed)
    )


def text(payload: bytes | None) -> str:
    """A value or message for a message: its text, quoted."""
    return repr(payload.decode(errors="replace")) if payload is not None else "nothing"


def listed(operations: list[Operation], journal: Journal, most: int = 10) -> str:
    """The first `most` operations described, and how many more there are."""
    text = "; ".join(operation.describe(journal.start) for operation in operations[:most])
    return text + (f"; and {len(operations) - most} more" if len(operations) > most else "")


def check_queue(
    name: str, pushes: list[Operation], pops: list[Operation], found: list[bytes], journal: Journal
) -> list[str]:
    """A queue: its acknowledged pushes no acknowledged pop took, in order, plus at most its
    pushes in flight; missing only at the head, one for each pop in flight. Returns what is
    wrong."""
    problems: list[str] = []
    pushed = {operation.payload: operation for operation in pushes}
    popped = {operation.body for operation in pops if operation.status == 200}
    pops_in_flight = sum(operation.in_flight for operation in pops)
    where = f"queue {name!r}"
    for message, count in Counter(found).items():
        if count > 1:
            problems.append(f"{where}: {text(message)} is there {count} times")
    for message in found:
        if message not in pushed:
            problems.append(f"{where}: holds {text(message)}, never pushed to it")
        elif message in popped:
            taker = next(operation for operation in pops if operation.body == message and operation.status == 200)
            problems.append(f"{where}: holds {text(message)}, taken by {taker.describe(journal.start)}")
    present = set(found)
    # Each producer's messages, in the order it pushed them.
    producers: dict[int, list[Operation]] = {}
    for operation in pushes:
        producers.setdefault(operation.client, []).append(operation)
    lost: list[Operation] = []
    for client, sequence in sorted(producers.items()):
        index_of = {operation.payload: index for index, operation in enumerate(sequence)}
        in_found_order = [index_of[message] for message in found if message in index_of]
        for before, after in zip(in_found_order, in_found_order[1:]):
            if after <= before:
                problems.append(
                    f"{where}: client {client}'s {text(sequence[after].payload)} comes after its "
                    f"{text(sequence[before].payload)}, pushed later"
                )
                break
        positions = sorted(in_found_order)
        first = positions[0] if positions else len(sequence)
        for index, operation in enumerate(sequence):
            if operation.payload in present:
                continue
            if operation.payload in popped:
                if positions and first < index < positions[-1]:
                    # Pops take the head: this one was taken from between messages still there.
                    problems.append(
                        f"{where}: {text(operation.payload)} was popped from between messages still queued"
                        f" ({operation.describe(journal.start)})"
                    )
                continue
            if not operation.acknowledged:
                continue
            if index > first:
                # Pops take the head: a message after one still there cannot have been taken.
                problems.append(
                    f"{where}: lost {operation.describe(journal.start)} (later messages of client {client} are there)"
                )
            else:
                lost.append(operation)
    if len(lost) > pops_in_flight:
        problems.append(
            f"{where}: {len(lost)} acknowledged pushes neither there nor taken by an acknowledged pop, "
            f"but only {pops_in_flight} pops were in flight: " + listed(lost, journal)
        )
    # A message acknowledged before another was sent was pushed first, so it comes first.
    latest_sent: Operation | None = None
    for message in found:
        operation = pushed.get(message)
        if operation is None:
            continue
        if latest_sent is not None and operation.answered is not None and operation.answered < latest_sent.sent:
            problems.append(
                f"{where}: {text(message)} (acknowledged at +{operation.answered - journal.start:.3f} s) comes after "
                f"{text(latest_sent.payload)} (sent at +{latest_sent.sent - journal.start:.3f} s, later)"
            )
        if latest_sent is None or operation.sent > latest_sent.sent:
            latest_sent = operation
    return problems


def must_expire_after_restart(allowed: list[KeyState], complete: float, journal: Journal) -> bool:
    """Whether every state a key may hold has a deadline after the kill and either before the
    restart (start-up drops the key) or well before `complete` (the expirer has had time)."""
    return bool(allowed) and all(
        state.earliest is not None and state.latest is not None
        and state.earliest > journal.killed + CLOCK_SLACK
        and (state.latest + CLOCK_SLACK < journal.restarted or state.latest + EXPIRER_SLACK < complete)
        for state in allowed
    )


def check_expired_events(
    key: str, allowed: list[KeyState], expired: Counter[str], complete: float, journal: Journal
) -> str | None:
    """The restarted server announces the expiry of a key whose deadline came after the kill
    (the first server cannot have removed it) and before the list of events was complete, once;
    and of no key that cannot have had such a deadline. Returns what is wrong, or None."""

    def may_expire_after_restart(state: KeyState) -> bool:
        if state.earliest is None or state.latest is None:
            return False
        if state.latest + CLOCK_SLACK >= journal.killed:
            return state.earliest - CLOCK_SLACK <= complete
        # Removed by the first server at its deadline; the removal is durable only once a
        # change logged after it is synced, which an answer to a write sent well after the
        # deadline proves. Before that, the restarted server may drop the key (and say so) again.
        return not any(
            operation.acknowledged and operation.sent > state.latest + EXPIRER_SLACK for operation in journal.operations
        )

    count = expired[key]
    if count > 1:
        return f"key {key!r}: {count} expired events after the restart"
    if count == 0 and must_expire_after_restart(allowed, complete, journal):
        return (
            f"key {key!r}: no expired event after the restart, though its deadline passed while the server was down "
            f"or since: " + " or ".join(describe_state(state, complete) for state in allowed)
        )
    if count == 1 and not any(may_expire_after_restart(state) for state in allowed):
        return (
            f"key {key!r}: an expired event after the restart, though it cannot have expired since the kill: "
            + " or ".join(describe_state(state, complete) for state in allowed)
        )
    return None


def check_run(journal: Journal, restarted: RunningServer) -> tuple[list[str], dict[str, int], int]:
    """Everything the restarted server holds against the journal: the problems, and counts of
    the run's requests for the report."""
    operations = journal.operations
    problems = [
        f"unexpected answer while running: {operation.describe(journal.start)}"
        for operation in operations
        if operation.status is not None and operation.status not in EXPECTED_STATUSES[operation.kind]
    ]
    counts = Counter(
        f"{operation.kind.value} "
        + ("in flight" if operation.in_flight else "acknowledged" if operation.acknowledged else f"{operation.status}")
        for operation in operations
    )
    # A message handed to two acknowledged pops was delivered twice.
    deliveries = Counter(operation.body for operation in operations if operation.kind is Kind.POP and operation.status == 200)
    problems += [f"{text(message)} was popped {count} times" for message, count in deliveries.items() if count > 1]
    # Before any read, which could expire a key on its own.
    expired, complete = expired_since_start(restarted)
    connection = Connection(restarted)
    try:
        by_key: dict[str, list[Operation]] = {}
        by_queue: dict[str, tuple[list[Operation], list[Operation]]] = {
            own_queue(client): ([], []) for client in range(CLIENTS)
        }
        by_queue[SHARED_QUEUE] = ([], [])
        for operation in operations:
            if operation.kind is Kind.PUSH:
                by_queue[operation.target][0].append(operation)
            elif operation.kind is Kind.POP:
                by_queue[operation.target][1].append(operation)
            else:
                by_key.setdefault(operation.target, []).append(operation)
        # Per client, in the order sent: `operations` is grouped by client.
        for key, key_operations in sorted(by_key.items()):
            seen = observe(connection, key)
            if seen.status == 200 and seen.content_type != CONTENT_TYPE:
                problems.append(f"key {key!r}: Content-Type {seen.content_type!r}, stored as {CONTENT_TYPE!r}")
            check = check_shared_key if key.startswith("shared-") else check_own_key
            if problem := check(key, key_operations, seen, journal):
                problems.append(problem)
            # Shared keys have no TTL: any expired event for them is wrong.
            allowed = [] if key.startswith("shared-") else own_key_states(key_operations, journal)
            if problem := check_expired_events(key, allowed, expired, complete, journal):
                problems.append(problem)
            counts["had to expire since the restart"] += must_expire_after_restart(allowed, complete, journal)
        problems += [
            f"key {key!r}: an expired event after the restart, though nobody wrote it"
            for key in expired if key not in by_key
        ]
        everywhere: Counter[bytes] = Counter()
        for name, (pushes, pops) in sorted(by_queue.items()):
            found = read_queue(connection, name)
            everywhere.update(set(found))
            problems += check_queue(name, pushes, pops, found, journal)
        problems += [
            f"{text(message)} is in {count} queues"
            for message, count in everywhere.items() if count > 1 and message not in deliveries
        ]
        # Queues were just read without popping (when they fit in a peek); keys must be known.
        unknown = list_keys(connection) - set(by_key) - set(by_queue) - {MARKER_KEY}
        if unknown:
            problems.append(f"keys nobody wrote: {sorted(unknown)}")
    finally:
        connection.close()
    return problems, dict(counts), sum(expired.values())


# --- A disk that loses what was not synced -------------------------------------------------

# Preloaded into the first server of each round: every write(2) to a regular file is held in
# the process until that file is synced (fsync, fdatasync), truncated or closed, and a shared
# writable mapping of a regular file is made private, its changed pages copied to the file only
# when the file is synced (or mapped again, or truncated). A SIGKILL then loses what a power cut
# loses from a disk's cache, so a write acknowledged before its log record was synced is lost
# for the test to see; without it a kill keeps every write(2) and every mapped page in the
# kernel's page cache, and --fsync always could not be told from --fsync no.
#
# A mapping's changes are found from a little before where the last sync ended to the first
# page of zeros, which is how an append-only log with room allocated ahead looks (a record
# holding a whole page of zeros would stop the copy early; the test writes none). The copy
# starts again 16 pages back because a record in flight during a sync changes pages the copy
# has passed: its header is stored after its body, and the kernel would write such a page
# again at the next sync.
UNSYNCED_WRITES_LOST = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

enum { MAX_DESCRIPTORS = 65536 };
struct held { char *bytes; size_t length, capacity; };
static struct held held[MAX_DESCRIPTORS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_ftruncate)(int, off_t);
static int (*real_close)(int);
static void *(*real_mmap)(void *, size_t, int, int, int, off_t);
static int (*real_munmap)(void *, size_t);

enum { MAX_MAPPINGS = 256, PAGE = 4096 };
struct mapping { char *base; size_t length; off_t offset; int descriptor; size_t synced; };
static struct mapping mappings[MAX_MAPPINGS];

/* Resolved on first use: libraries loaded before this one may map memory before any
   constructor of ours runs. */
static void find_real_functions(void)
{
    if (real_munmap != NULL)
        return;
    real_write = (ssize_t (*)(int, const void *, size_t)) dlsym(RTLD_NEXT, "write");
    real_fsync = (int (*)(int)) dlsym(RTLD_NEXT, "fsync");
    real_fdatasync = (int (*)(int)) dlsym(RTLD_NEXT, "fdatasync");
    real_ftruncate = (int (*)(int, off_t)) dlsym(RTLD_NEXT, "ftruncate");
    real_close = (int (*)(int)) dlsym(RTLD_NEXT, "close");
    real_mmap = (void *(*)(void *, size_t, int, int, int, off_t)) dlsym(RTLD_NEXT, "mmap");
    real_munmap = (int (*)(void *, size_t)) dlsym(RTLD_NEXT, "munmap");
}

/* Before the server starts its threads. */
__attribute__((constructor)) static void resolve_early(void)
{
    find_real_functions();
}

static int all_zeros(const char *page, size_t length)
{
    for (size_t index = 0; index < length; index++)
        if (page[index] != 0)
            return 0;
    return 1;
}

/* Copies a private mapping's changes to its file: the pages from where the last copy ended to
   the first page of zeros. Called with the lock held. */
static int write_back(struct mapping *map)
{
    size_t page = map->synced / PAGE * PAGE;
    while (page < map->length) {
        size_t length = map->length - page < PAGE ? map->length - page : PAGE;
        if (all_zeros(map->base + page, length))
            break;
        size_t done = 0;
        while (done < length) {
            ssize_t written = pwrite(map->descriptor, map->base + page + done, length - done,
                                     map->offset + (off_t) (page + done));
            if (written < 0 && errno == EINTR)
                continue;
            if (written < 0)
                return -1;
            done += (size_t) written;
        }
        /* The last pages with data may still change: copied again next time. A record being
           appended while this runs may reach back a page or more (Keygate writes a record's
           header after its body), so the copy starts again 16 pages before the last one. */
        map->synced = page >= 16 * PAGE ? page - 16 * PAGE : 0;
        page += PAGE;
    }
    return 0;
}

static int is_held(int descriptor)
{
    struct stat status;
    return descriptor >= 0 && descriptor < MAX_DESCRIPTORS && fstat(descriptor, &status) == 0
        && S_ISREG(status.st_mode);
}

/* Writes what DESCRIPTOR holds, and its mappings' changes; called with the lock held. */
static int release(int descriptor)
{
    if (descriptor < 0 || descriptor >= MAX_DESCRIPTORS)
        return 0;
    for (int index = 0; index < MAX_MAPPINGS; index++)
        if (mappings[index].base != NULL && mappings[index].descriptor == descriptor
            && write_back(&mappings[index]) != 0)
            return -1;
    struct held *file = &held[descriptor];
    size_t done = 0;
    while (done < file->length) {
        ssize_t written = real_write(descriptor, file->bytes + done, file->length - done);
        if (written < 0 && errno == EINTR)
            continue;
        if (written < 0)
            return -1;
        done += (size_t) written;
    }
    file->length = 0;
    return 0;
}

ssize_t write(int descriptor, const void *bytes, size_t length)
{
    find_real_functions();
    if (!is_held(descriptor))
        return real_write(descriptor, bytes, length);
    pthread_mutex_lock(&lock);
    struct held *file = &held[descriptor];
    if (file->length + length > file->capacity) {
        size_t capacity = (file->length + length) * 2;
        char *grown = realloc(file->bytes, capacity);
        if (grown == NULL) {
            pthread_mutex_unlock(&lock);
            errno = ENOMEM;
            return -1;
        }
        file->bytes = grown;
        file->capacity = capacity;
    }
    memcpy(file->bytes + file->length, bytes, length);
    file->length += length;
    pthread_mutex_unlock(&lock);
    return (ssize_t) length;
}

void *mmap(void *address, size_t length, int protection, int flags, int descriptor, off_t offset)
{
    find_real_functions();
    if ((flags & MAP_ANONYMOUS) || !(flags & MAP_SHARED) || !(protection & PROT_WRITE) || !is_held(descriptor))
        return real_mmap(address, length, protection, flags, descriptor, offset);
    pthread_mutex_lock(&lock);
    /* A new mapping reads the file: what the old ones changed goes there first. */
    if (release(descriptor) != 0) {
        pthread_mutex_unlock(&lock);
        return MAP_FAILED;
    }
    void *base = real_mmap(address, length, protection, (flags & ~MAP_SHARED) | MAP_PRIVATE,
                           descriptor, offset);
    if (base != MAP_FAILED) {
        for (int index = 0; index < MAX_MAPPINGS; index++) {
            if (mappings[index].base == NULL) {
                mappings[index] = (struct mapping) { base, length, offset, descriptor, 0 };
                break;
            }
        }
    }
    pthread_mutex_unlock(&lock);
    return base;
}

/* Unmapped pages stay in the page cache, to be synced later through the descriptor: copied to
   the file here (a kill keeps them; only a power cut would not). */
int munmap(void *address, size_t length)
{
    find_real_functions();
    int failed = 0;
    pthread_mutex_lock(&lock);
    for (int index = 0; index < MAX_MAPPINGS; index++) {
        if (mappings[index].base == address) {
            failed = write_back(&mappings[index]);
            mappings[index].base = NULL;
        }
    }
    pthread_mutex_unlock(&lock);
    if (failed != 0)
        return -1;
    return real_munmap(address, length);
}

#define RELEASING(call) \
    find_real_functions(); \
    pthread_mutex_lock(&lock); \
    int released = release(descriptor); \
    pthread_mutex_unlock(&lock); \
    return released != 0 ? -1 : (call)

int fsync(int descriptor) { RELEASING(real_fsync(descriptor)); }
int fdatasync(int descriptor) { RELEASING(real_fdatasync(descriptor)); }
int ftruncate(int descriptor, off_t size) { RELEASING(real_ftruncate(descriptor, size)); }
int close(int descriptor) { RELEASING(real_close(descriptor)); }
"""


@pytest.fixture(scope="session")
def losing_unsynced_writes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment that preloads UNSYNCED_WRITES_LOST, compiled once per session."""
    compiler = next((name for name in ("cc", "clang", "gcc") if shutil.which(name)), None)
    if compiler is None:
        pytest.fail("the crash test needs a C compiler (cc, clang or gcc) for its lossy disk")
    folder = tmp_path_factory.mktemp("lossy-disk")
    source, library = folder / "unsynced-writes-lost.c", folder / "unsynced-writes-lost.so"
    source.write_text(UNSYNCED_WRITES_LOST)
    built = subprocess.run(
        [compiler, "-O2", "-Wall", "-shared", "-fPIC", "-o", str(library), str(source), "-ldl", "-lpthread"],
        capture_output=True, text=True, check=False,
    )
    assert built.returncode == 0, f"cannot build the lossy disk:\n{built.stderr}"
    return {"LD_PRELOAD": str(library)}


# --- The tests ----------------------------------------------------------------------------


def health(server: RunningServer) -> dict[str, Any]:
    """The body of /healthz."""
    connection = Connection(server)
    try:
        status, body = connection.json("GET", "/healthz")
    finally:
        connection.close()
    assert status == 200, f"/healthz answered {status}: {body}"
    return dict(body)


def assert_persists(server: RunningServer, fsync: str) -> None:
    """/healthz says the server persists to its data directory with the `fsync` policy."""
    persistence = health(server)["persistence"]
    assert persistence["enabled"] is True and persistence["fsync"] == fsync, persistence
    assert server.data_dir is not None and Path(persistence["directory"]).resolve() == server.data_dir.resolve(), persistence


@pytest.fixture(autouse=True)
def require_persistence() -> None:
    """Every test here needs a binary with persistence: without, they fail rather than skip."""
    if not supports_persistence():
        pytest.fail(f"{BINARY} has no --data-dir: persistence (issue 7) is not built in")


@pytest.mark.parametrize("round_number", range(1, ROUNDS + 1), ids=lambda number: f"round{number}")
def test_acknowledged_writes_survive_kill_9(
    request: pytest.FixtureRequest, round_number: int, losing_unsynced_writes: dict[str, str]
) -> None:
    """Concurrent clients, `kill -9` at a random moment, a restart on the same directory:
    every acknowledged write is there, nothing unacknowledged twice, TTLs continue."""
    seed = FIRST_SEED + round_number
    compacting = round_number % 2 == 0 and "--memory-only" not in SERVER_ARGUMENTS
    compaction = ("--compaction-min-bytes", str(SMALL_COMPACTION_BYTES)) if compacting else ()
    first = start_server(request, PUBLIC, (*SERVER_ARGUMENTS, *compaction), environment=losing_unsynced_writes)
    assert first.data_dir is not None or "--memory-only" in SERVER_ARGUMENTS
    if "--memory-only" not in SERVER_ARGUMENTS:
        policy = SERVER_ARGUMENTS[SERVER_ARGUMENTS.index("--fsync") + 1] if "--fsync" in SERVER_ARGUMENTS else "everysec"
        assert_persists(first, policy)
    journal = run_and_kill(first, seed)
    time.sleep(journal.down)
    journal.restarted = time.monotonic()
    restarted = start_server(request, PUBLIC, data_dir=first.data_dir) if first.data_dir else start_server(request, PUBLIC)
    await_ready(restarted)
    assert_persists(restarted, "everysec")
    problems, counts, expired = check_run(journal, restarted)
    summary = (
        f"round {round_number} (CRASH_SEED={FIRST_SEED}, seed {seed}; killed {journal.killed - journal.start:.3f} s "
        f"into the run, after {journal.compactions} compactions; {expired} keys expired since the restart; "
        f"{', '.join(f'{count} {name}' for name, count in sorted(counts.items()))})"
    )
    assert not problems, f"{summary}: {len(problems)} problems after the restart:\n" + "\n".join(problems[:60])
    # A vacuous round proves nothing: the clients must have written, and been cut off.
    assert counts.get("PUT acknowledged", 0) > 0 and counts.get("push acknowledged", 0) > 0, summary
    assert sum(operation.in_flight for operation in journal.operations) > 0, f"{summary}: no request was in flight at the kill"
    # Shown with `pytest -rP`: what each round did.
    print(summary)


# --- Leases across kill -9 ------------------------------------------------------------------

# The queue-worker crash test: producers push LEASE_MESSAGES messages while workers receive on
# a lease, sometimes "die" before acknowledging (their connection dropped, their messages
# left leased), and acknowledge the others; the server is killed with SIGKILL LEASE_KILLS times
# (on the lossy disk, under --fsync always) and restarted on the same directory each time.
LEASE_MESSAGES = int(os.environ.get("CRASH_LEASE_MESSAGES", "600"))
LEASE_KILLS = int(os.environ.get("CRASH_LEASE_KILLS", "4"))
LEASE_QUEUE = "work"
LEASE_PRODUCERS = 2
LEASE_WORKERS = 4
# Seconds a lease lasts: long enough for a worker to acknowledge a batch on a busy debug build.
LEASE_VISIBILITY = 2.0
LEASE_BATCH = 3
# How often a worker dies with a batch in hand.
LEASE_DEATH_RATE = 0.08
# The longest the workers may take to drain the queue after the last restart.
LEASE_DRAIN_SECONDS = 90.0


class Cluster:
    """The server of the moment, restarted on the same data directory after each kill; clients
    wait for it while it is down."""

    def __init__(self, request: pytest.FixtureRequest, environment: dict[str, str]) -> None:
        self.request = request
        self.environment = environment
        self.lock = threading.Lock()
        self.up = threading.Event()
        self.server = self.start(None, lossy=True)
        self.up.set()
        self.restarts = 0

    def start(self, data_dir: Path | None, lossy: bool) -> RunningServer:
        server = start_server(self.request, PUBLIC, ("--fsync", "always"), data_dir=data_dir,
                              environment=self.environment if lossy else None)
        if lossy:
            # Killed however the test ends: the lossy disk's library cannot unmap the log at a
            # clean stop.
            self.request.addfinalizer(lambda: server.kill() if server.process.poll() is None else None)
        return server

    def connect(self, stop: threading.Event) -> Connection | None:
        """A connection to the server of the moment, once one runs; `None` once `stop` is set."""
        while not stop.is_set():
            if self.up.wait(timeout=0.1):
                with self.lock:
                    return Connection(self.server)
        return None

    def kill_and_restart(self, down: float, lossy: bool = True) -> None:
        """Kills the server with SIGKILL, and restarts it on its directory after `down` seconds:
        on the lossy disk again, or (for the last look) on the real one, which lets it stop
        cleanly (the lossy disk's library cannot unmap the log at a clean stop)."""
        with self.lock:
            self.up.clear()
            self.server.kill()
            data_dir = self.server.data_dir
        time.sleep(down)
        server = self.start(data_dir, lossy)
        await_ready(server)
        with self.lock:
            self.server = server
            self.restarts += 1
        self.up.set()


@dataclass
class Delivery:
    """One message a worker received on a lease, and what the worker did with it."""

    number: int
    body: str
    id: str
    attempts: int
    receipt: str
    visible_until: int
    worker: int
    # "received" (the server died before the worker acknowledged it), "died" (the worker died
    # with it), "acking" (the server died before the acknowledgement's answer came), "acked"
    # (204) or "expired" (410).
    outcome: str = "received"


def produce(cluster: Cluster, producer: int, numbers: range, pushes: list[tuple[int, int, bool]],
            stop: threading.Event) -> None:
    """Pushes each message until a push of it is acknowledged; a push with no answer (the server
    died) is tried again, as a real producer would, with a new try number in its body."""
    for number in numbers:
        attempt = 0
        while not stop.is_set():
            attempt += 1
            connection = cluster.connect(stop)
            if connection is None:
                return
            try:
                status, _, _ = connection.send("POST", f"/v1/queues/{LEASE_QUEUE}",
                                               f"{number}:{producer}:{attempt}".encode(), CONTENT_TYPE)
            except (OSError, http.client.HTTPException):
                pushes.append((number, attempt, False))
                continue
            finally:
                connection.close()
            assert status == 201, f"a push answered {status}"
            pushes.append((number, attempt, True))
            break


def work(cluster: Cluster, worker: int, seed: int, deliveries: list[Delivery], stop: threading.Event) -> None:
    """Receives batches on a lease and acknowledges each message, or dies with the batch."""
    rng = random.Random(seed)
    query = f"wait=0.5&visibility={LEASE_VISIBILITY}&max={LEASE_BATCH}"
    while not stop.is_set():
        connection = cluster.connect(stop)
        if connection is None:
            return
        try:
            while not stop.is_set():
                status, body, _ = connection.send("POST", f"/v1/queues/{LEASE_QUEUE}/receive?{query}")
                if status == 204:
                    continue
                assert status == 200, f"a receive answered {status}: {body[:200]!r}"
                batch = [
                    Delivery(int(message["text"].split(":")[0]), message["text"], message["id"], message["attempts"],
                             message["receipt"], message["visibleUntil"], worker)
                    for message in json.loads(body)["messages"]
                ]
                deliveries.extend(batch)
                if rng.random() < LEASE_DEATH_RATE:
                    for delivery in batch:
                        delivery.outcome = "died"
                    break  # the worker dies: its connection goes, its leases stay until they end
                for delivery in batch:
                    delivery.outcome = "acking"
                    status, body, _ = connection.send(
                        "DELETE", f"/v1/queues/{LEASE_QUEUE}/leases/{delivery.receipt}")
                    assert status in (204, 410), f"an acknowledgement answered {status}: {body[:200]!r}"
                    delivery.outcome = "acked" if status == 204 else "expired"
        except (OSError, http.client.HTTPException):
            pass  # the server died: a new connection to its successor
        finally:
            connection.close()


def acknowledged_numbers(deliveries: list[Delivery]) -> set[int]:
    """The messages acknowledged: with a 204, or by an acknowledgement the server died before
    answering, as the last delivery of its message (which then never came back: the queue is
    empty in the end, so the server did take the acknowledgement)."""
    last: dict[str, Delivery] = {}
    for delivery in deliveries:
        if delivery.id not in last or delivery.attempts > last[delivery.id].attempts:
            last[delivery.id] = delivery
    acked = {delivery.number for delivery in deliveries if delivery.outcome == "acked"}
    return acked | {delivery.number for delivery in last.values() if delivery.outcome == "acking"}


def queue_counts(cluster: Cluster) -> dict[str, Any]:
    connection = Connection(cluster.server)
    try:
        status, state = connection.json("GET", f"/v1/queues/{LEASE_QUEUE}")
    finally:
        connection.close()
    assert status == 200, state
    return dict(state)


def test_every_message_is_acknowledged_at_least_once_across_kill_9(
    request: pytest.FixtureRequest, losing_unsynced_writes: dict[str, str]
) -> None:
    """Producers, workers that receive on a lease and sometimes die before acknowledging, and
    repeated `kill -9` under `--fsync always`: in the end every message was acknowledged at
    least once and none is left; an acknowledged message never came back, and a leased one
    came back only once its lease had ended. Prints how many were delivered twice."""
    seed = FIRST_SEED
    rng = random.Random(seed)
    cluster = Cluster(request, losing_unsynced_writes)
    stop = threading.Event()
    pushes: list[tuple[int, int, bool]] = []
    deliveries: list[Delivery] = []
    share = -(-LEASE_MESSAGES // LEASE_PRODUCERS)
    threads = [
        threading.Thread(target=produce, args=(cluster, producer, range(producer * share,
                         min(LEASE_MESSAGES, (producer + 1) * share)), pushes, stop), daemon=True)
        for producer in range(LEASE_PRODUCERS)
    ] + [
        threading.Thread(target=work, args=(cluster, worker, rng.getrandbits(32), deliveries, stop), daemon=True)
        for worker in range(LEASE_WORKERS)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        for _ in range(LEASE_KILLS):
            time.sleep(rng.uniform(0.4, 1.2))
            cluster.kill_and_restart(rng.uniform(0.1, 0.4))
        for producer in threads[:LEASE_PRODUCERS]:
            producer.join(timeout=LEASE_DRAIN_SECONDS)
            assert not producer.is_alive(), "a producer did not finish"
        deadline = time.monotonic() + LEASE_DRAIN_SECONDS
        while True:
            acked = acknowledged_numbers(deliveries)
            state = queue_counts(cluster)
            if len(acked) == LEASE_MESSAGES and state["length"] == 0:
                break
            assert time.monotonic() < deadline, (
                f"after {LEASE_DRAIN_SECONDS} s, {LEASE_MESSAGES - len(acked)} messages never acknowledged "
                f"(such as {sorted(set(range(LEASE_MESSAGES)) - acked)[:10]}); the queue holds {state}")
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)
    elapsed = time.monotonic() - started
    # One more kill, once everything was acknowledged: nothing comes back after the restart.
    cluster.kill_and_restart(0.1, lossy=False)

    problems: list[str] = []
    # None left: nothing visible, in flight or delayed.
    state = queue_counts(cluster)
    if (state["length"], state["visible"], state["inFlight"], state["delayed"]) != (0, 0, 0, 0):
        problems.append(f"messages left in the queue: {state}")
    by_id: dict[str, list[Delivery]] = {}
    for delivery in deliveries:
        by_id.setdefault(delivery.id, []).append(delivery)
    for id, seen in by_id.items():
        seen.sort(key=lambda delivery: delivery.attempts)
        attempts = [delivery.attempts for delivery in seen]
        if len(set(attempts)) != len(attempts):
            problems.append(f"message {id} ({seen[0].body}) delivered twice with the same attempts: {attempts}")
        acked = [delivery for delivery in seen if delivery.outcome == "acked"]
        if len(acked) > 1:
            problems.append(f"message {id} ({seen[0].body}) acknowledged {len(acked)} times")
        if acked and acked[0] is not seen[-1]:
            problems.append(f"message {id} ({seen[0].body}) came back after it was acknowledged: {attempts}")
        for earlier, later in zip(seen, seen[1:]):
            # The later lease began (its end less the visibility) no earlier than the earlier
            # lease ended, on the server's clock (milliseconds, rounded up).
            began = later.visible_until - round(LEASE_VISIBILITY * 1000)
            if began < earlier.visible_until - 1:
                problems.append(
                    f"message {id} ({seen[0].body}) delivered again {earlier.visible_until - began} ms before "
                    f"its lease ended (attempts {earlier.attempts} then {later.attempts})")
    if missing := sorted(set(range(LEASE_MESSAGES)) - acknowledged_numbers(deliveries)):
        problems.append(f"{len(missing)} messages lost, never acknowledged: {missing[:20]}")
    in_doubt = sum(1 for seen in by_id.values() if seen[-1].outcome == "acking")

    per_number: dict[int, list[Delivery]] = {}
    for delivery in deliveries:
        per_number.setdefault(delivery.number, []).append(delivery)
    twice = [number for number, seen in per_number.items() if len(seen) > 1]
    after_death = [number for number in twice
                   if any(delivery.outcome == "died" for delivery in per_number[number][:-1])]
    retried_pushes = sum(1 for _, _, acknowledged in pushes if not acknowledged)
    stored_twice = [number for number, seen in per_number.items() if len({delivery.body for delivery in seen}) > 1]
    summary = (
        f"CRASH_SEED={seed}: {LEASE_MESSAGES} messages, {cluster.restarts - 1} kill -9 and restarts while "
        f"working and one after, "
        f"{len(deliveries)} deliveries in {elapsed:.1f} s; {len(twice)} messages delivered more than once "
        f"({len(after_death)} after a worker died with them, as designed; "
        f"{len(twice) - len(after_death)} for a crash: an answer lost in the kill, or a push tried again "
        f"after one, {len(stored_twice)} stored twice by {retried_pushes} pushes without an answer); "
        f"{sum(delivery.outcome == 'expired' for delivery in deliveries)} acknowledgements came after the lease ended, "
        f"{in_doubt} acknowledgements went unanswered (the server died first) and their messages never came back"
    )
    assert not problems, f"{summary}:\n" + "\n".join(problems[:40])
    assert cluster.restarts == LEASE_KILLS + 1, summary
    assert any(delivery.outcome == "died" for delivery in deliveries), f"{summary}: no worker died"
    # Shown with `pytest -rP` (and in the report): the at-least-once figures.
    print(summary)


def put_value(connection: Connection, key: str, value: bytes, ttl: float | None = None) -> float:
    """Stores a value; returns the monotonic time the request was sent."""
    sent = time.monotonic()
    query = "" if ttl is None else f"?ttl={ttl}"
    status, body, _ = connection.send("PUT", f"/v1/cache/{quoted(key)}{query}", value, CONTENT_TYPE)
    assert status in (201, 204), f"PUT {key} answered {status}: {body[:200]!r}"
    return sent


def read_ttl(connection: Connection, key: str) -> tuple[int, float | None]:
    status, body = connection.json("GET", f"/v1/cache/{quoted(key)}/ttl")
    return status, body["ttl"] if status == 200 else None


def test_a_ttl_continues_across_a_clean_restart(request: pytest.FixtureRequest) -> None:
    """SIGTERM, then a restart: a key restarted before its deadline is there with what was left
    and expires on time, with its `expired` event; one whose deadline passed while the server
    was down is gone."""
    first = start_server(request, PUBLIC)
    connection = Connection(first)
    sent = put_value(connection, "short", b"s", 2.0)
    # The deadline was set between sending and this answer: the upper bound counts from here.
    answered = time.monotonic()
    wall_sent = time.time()
    put_value(connection, "long", b"l", LONG_TTL)
    long_answered = time.monotonic()
    put_value(connection, "forever", b"f")
    connection.close()
    first.stop()

    second = start_server(request, PUBLIC, data_dir=first.data_dir)
    await_ready(second)
    connection = Connection(second)
    stream = EventStream(second, "type=expired&key=short")
    try:
        before = time.monotonic()
        status, left = read_ttl(connection, "short")
        assert status == 200 and left is not None, f"'short' (2 s TTL) is gone {before - sent:.3f} s after its PUT"
        assert 0 < left <= 2.0 - (before - answered) + CLOCK_SLACK, (
            f"'short' has {left} s left {before - sent:.3f} s after a PUT with a 2 s TTL: the TTL did not continue"
        )
        status, long_left = read_ttl(connection, "long")
        assert status == 200 and long_left is not None and long_left <= LONG_TTL - (before - long_answered) + CLOCK_SLACK, (
            f"'long' has {long_left} ({status}) left {before - sent:.3f} s after a PUT with {LONG_TTL} s"
        )
        assert read_ttl(connection, "forever") == (200, None)
        event = stream.next_event(timeout=5.0)
        # The restored deadline fires when it was due, not 2 s after the restart.
        lateness = event["time"] / 1000 - (wall_sent + 2.0)
        assert event["key"] == "short" and -0.1 <= lateness <= 0.5, f"expired event {event}, {lateness:.3f} s after the deadline"
        status, _, _ = connection.send("GET", "/v1/cache/short")
        assert status == 404, "'short' is still there after its expired event"
        # A key whose deadline passes while the server is down.
        sent = put_value(connection, "down", b"d", 1.0)
    finally:
        stream.close()
        connection.close()
    second.stop()
    time.sleep(max(0.0, sent + 1.0 + 0.2 - time.monotonic()))

    third = start_server(request, PUBLIC, data_dir=first.data_dir)
    await_ready(third)
    connection = Connection(third)
    try:
        for key in ("short", "down"):
            status, body, _ = connection.send("GET", f"/v1/cache/{key}")
            assert status == 404, f"{key!r} is there after its deadline passed ({status} {body!r})"
        for key, value in (("long", b"l"), ("forever", b"f")):
            status, body, _ = connection.send("GET", f"/v1/cache/{key}")
            assert (status, body) == (200, value), f"{key!r} lost across two restarts: {status} {body!r}"
    finally:
        connection.close()


@pytest.mark.parametrize(
    "tail",
    [
        # A record header promising 100 bytes, and 10 of them: a write cut short.
        (100).to_bytes(4, "little") + bytes(4) + b"0123456789",
        # Zeros to the end, as a file system may leave after a crash.
        bytes(4096),
        # Fewer bytes than a record header.
        b"\x05\x00",
    ],
    ids=["cut-record", "zeros", "cut-header"],
)
def test_a_torn_last_write_is_cut_off(request: pytest.FixtureRequest, tail: bytes) -> None:
    """A crash in the middle of a log write leaves a torn tail on the newest log: the server
    starts, with every acknowledged write, and goes on writing after the cut."""
    first = start_server(request, PUBLIC, ("--fsync", "always"))
    connection = Connection(first)
    try:
        for index in range(20):
            put_value(connection, f"torn-{index}", f"value-{index}".encode())
    finally:
        connection.close()
    first.kill()
    assert first.data_dir is not None
    logs = sorted(first.data_dir.glob("log-*.kgl"))
    assert logs, f"no log-*.kgl in {first.data_dir}: {sorted(path.name for path in first.data_dir.iterdir())}"
    with logs[-1].open("ab") as log:
        log.write(tail)

    second = start_server(request, PUBLIC, data_dir=first.data_dir)
    await_ready(second)
    connection = Connection(second)
    try:
        for index in range(20):
            status, body, _ = connection.send("GET", f"/v1/cache/torn-{index}")
            assert (status, body) == (200, f"value-{index}".encode()), f"torn-{index} after a torn tail: {status} {body!r}"
        put_value(connection, "after", b"cut")
    finally:
        connection.close()
    second.stop()
    third = start_server(request, PUBLIC, data_dir=first.data_dir)
    await_ready(third)
    connection = Connection(third)
    try:
        status, body, _ = connection.send("GET", "/v1/cache/after")
        assert (status, body) == (200, b"cut"), f"a write after the cut was lost: {status} {body!r}"
        status, body, _ = connection.send("GET", "/v1/cache/torn-19")
        assert (status, body) == (200, b"value-19"), f"torn-19 lost at the second restart: {status} {body!r}"
    finally:
        connection.close()


def test_a_memory_only_server_says_so(request: pytest.FixtureRequest) -> None:
    """`--memory-only`: /healthz reports persistence disabled."""
    server = start_server(request, PUBLIC, ("--memory-only",))
    assert server.data_dir is None
    assert health(server)["persistence"] == {"enabled": False}


def test_a_second_server_on_the_same_data_dir_refuses_to_start(request: pytest.FixtureRequest) -> None:
    """The data directory is locked: a second server on it exits with an error, and the first
    keeps serving."""
    first = start_server(request, PUBLIC)
    assert first.data_dir is not None
    environment = {name: value for name, value in os.environ.items() if not name.startswith("KEYGATE_")}
    try:
        second = subprocess.run(
            [
                str(BINARY), "--port", "0", "--public", str(PUBLIC), "--openapi", str(SPEC_FILE),
                "--data-dir", str(first.data_dir),
            ],
            capture_output=True, text=True, timeout=STARTUP_TIMEOUT, env=environment, check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"a second server on {first.data_dir} kept running for {STARTUP_TIMEOUT} s (killed)")
    assert second.returncode != 0, f"a second server started on {first.data_dir}:\n{second.stderr}"
    assert "address=" not in second.stderr, f"the second server listened:\n{second.stderr}"
    connection = Connection(first)
    try:
        put_value(connection, "still", b"here")
    finally:
        connection.close()
