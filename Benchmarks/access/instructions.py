#!/usr/bin/env python3
"""Instructions per GET with a bearer token and without access control, counted by callgrind.

The token is made by `keygate tokens add` into a token file in OUT_DIR, with a few scopes, the
one granting the GET last, as an operator would give a reader. Each mode runs the server under
valgrind for a few and for many GETs (see Benchmarks/common/callgrind.py).
Usage: instructions.py KEYGATE_BINARY PUBLIC_DIR OUT_DIR
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "common"))
from callgrind import Mode, compare_gets  # noqa: E402


def token_file(binary: str, out: Path) -> tuple[Path, str]:
    """A new token file in `out` with one token, and the token."""
    path = out / "callgrind-tokens.json"
    path.unlink(missing_ok=True)
    scopes = ["subscribe:bench-*", "write:bench-*", "read:bench-*"]
    added = subprocess.run(
        [binary, "tokens", "add", "--file", str(path), "--name", "bench",
         *(argument for scope in scopes for argument in ("--scope", scope))],
        check=True, capture_output=True, text=True)
    return path, added.stdout.strip()


if __name__ == "__main__":
    path, token = token_file(sys.argv[1], Path(sys.argv[3]))
    compare_gets(
        "access", without=Mode(),
        with_=Mode(flags=["--auth-tokens", str(path)], headers={"Authorization": f"Bearer {token}"}))
