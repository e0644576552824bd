"""Token files for the tests of access control: random tokens, their SHA-256 in the server's
format, written with the owner-only mode `keygate tokens add` gives."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path


def write_token_file(path: Path, scopes: dict[str, list[str]]) -> dict[str, str]:
    """Writes a token file granting each name its scopes; answers each name's new token."""
    tokens = {name: secrets.token_urlsafe(32) for name in scopes}
    entries = [
        {"name": name, "sha256": hashlib.sha256(tokens[name].encode()).hexdigest(), "scopes": granted}
        for name, granted in scopes.items()
    ]
    path.write_text(json.dumps({"tokens": entries}, indent=2), encoding="utf-8")
    os.chmod(path, 0o600)
    return tokens


def bearer(token: str) -> dict[str, str]:
    """The header that carries `token`."""
    return {"Authorization": f"Bearer {token}"}
