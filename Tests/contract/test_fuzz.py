"""Contract fuzzing: schemathesis drives every fuzzable operation of `openapi.yaml` against
the real server, with all of its checks.

The server runs from the binary under test on port 0 with `--max-wait 1`, so that no pop
parks longer than a second, and with access control: schemathesis sends the bearer token of
a token granted everything, and its `ignored_auth` check tries every secured operation
without it and with a wrong one (each must be a 401). The document schemathesis reads is `openapi.yaml` with one
change, made here in plain sight: the `wait` parameter's pattern is narrowed to what this
server accepts (at most its `--max-wait`), because the document can only describe that bound
in words (it is a flag, 60 s by default). Every other rule, and what is excluded (event
streams and the WebSocket upgrade, which never end), is in `schemathesis.toml` with its
reason.

Every check runs (schemathesis' default, the same set as `--checks all`): statuses, content
types, headers and bodies as documented, no 5xx, invalid data refused, valid data accepted,
`Allow` and unsupported methods, through the examples, coverage, fuzzing and stateful phases.
Runs are reproducible: the seed is fixed (`KEYGATE_FUZZ_SEED` picks another), and
`KEYGATE_FUZZ_EXAMPLES` sets how many cases each operation gets in each phase.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from access_tokens import write_token_file
from keygate_server import REPO, SPEC_FILE, start_server

CONFIG = Path(__file__).with_name("schemathesis.toml")
# The fuzz server's --max-wait, and the `wait` values it accepts: decimal seconds from 0 to 1
# in the document's syntax (leading zeros allowed, as the server takes them).
MAX_WAIT = "1"
BOUNDED_WAIT_PATTERN = r"^(0*1(\.0*)?|0+(\.[0-9]*)?|0*\.[0-9]+)$"
# Enough for the run to find what a change breaks, few enough that it takes about 2 minutes.
MAX_EXAMPLES = int(os.environ.get("KEYGATE_FUZZ_EXAMPLES", "20"))
SEED = os.environ.get("KEYGATE_FUZZ_SEED", "20261201")
# The run stops here whatever happens (a hang is a failure).
RUN_TIMEOUT = 600.0


def bounded_document(directory: Path) -> Path:
    """`openapi.yaml` with the `wait` parameter bounded by the fuzz server's --max-wait."""
    document = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
    schema = document["components"]["parameters"]["Wait"]["schema"]
    assert schema == {"type": "string", "pattern": r"^([0-9]+(\.[0-9]*)?|\.[0-9]+)$"}, (
        f"the Wait parameter changed ({schema}): update BOUNDED_WAIT_PATTERN to match")
    schema["pattern"] = BOUNDED_WAIT_PATTERN
    path = directory / "openapi.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def test_bounded_wait_pattern_accepts_exactly_waits_up_to_the_maximum() -> None:
    pattern = re.compile(BOUNDED_WAIT_PATTERN)
    for wait in ["0", "00", "0.", ".0", ".5", "0.999", "0.9999", "1", "1.", "1.000", "01", "001.0"]:
        assert pattern.match(wait), wait
    for wait in ["", ".", "1.001", "1.0001", "2", "10", "01.5", "1e0", "-0", "+1", "0.5.", " 1"]:
        assert not pattern.match(wait), wait


def test_schemathesis_finds_no_failure(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    # schemathesis sends targets of tens of KiB. Past twice --max-header-bytes a head does not
    # fit the connection's memory, and libmicrohttpd answers its own HTML 414 (described in
    # openapi.yaml's words, not as content); with a larger limit the server answers them all.
    tokens = write_token_file(tmp_path / "tokens.json", {"root": ["*:*", "admin"]})
    server = start_server(
        request, REPO / "public",
        ("--max-wait", MAX_WAIT, "--max-header-bytes", "131072", "--auth-tokens", str(tmp_path / "tokens.json")))
    document = bounded_document(tmp_path)
    command = [
        sys.executable, "-m", "schemathesis.cli", "--config-file", str(CONFIG), "--no-color",
        "run", str(document), "--url", server.base_url,
        "--max-examples", str(MAX_EXAMPLES), "--seed", SEED,
        "--header", f"Authorization: Bearer {tokens['root']}",
    ]
    started = time.monotonic()
    try:
        # In tmp_path: schemathesis writes nothing into the repository.
        run = subprocess.run(
            command, cwd=tmp_path, capture_output=True, text=True, timeout=RUN_TIMEOUT,
            env={**os.environ, "COLUMNS": "120"},
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"schemathesis did not finish within {RUN_TIMEOUT} s:\n{error.stdout}\n{error.stderr}")
    elapsed = time.monotonic() - started
    print(f"schemathesis: {elapsed:.1f} s, exit code {run.returncode}\n{run.stdout[-3000:]}")
    assert run.returncode == 0, (
        f"schemathesis found failures (seed {SEED}; rerun with the same KEYGATE_FUZZ_SEED):\n"
        f"{run.stdout}\n{run.stderr}\nserver log:\n{''.join(server.log[-50:])}")
    assert server.process.poll() is None, f"the server died under fuzzing:\n{''.join(server.log[-50:])}"
