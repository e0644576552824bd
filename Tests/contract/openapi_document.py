"""`openapi.yaml` as data, for the Python tests: JSON Pointer lookups, and validation of
instances against its schemas (JSON Schema 2020-12, references followed)."""

from __future__ import annotations

import urllib.parse
from typing import Any

import jsonschema
import yaml
from referencing import Registry
from referencing.jsonschema import DRAFT202012

from keygate_server import SPEC_FILE

SPEC: dict[str, Any] = yaml.safe_load(SPEC_FILE.read_text(encoding="utf-8"))
SPEC_URI = "urn:keygate:openapi"
REGISTRY = Registry().with_resource(SPEC_URI, DRAFT202012.create_resource(SPEC))


def escape_pointer_token(token: str) -> str:
    """One JSON Pointer reference token (RFC 6901)."""
    return token.replace("~", "~0").replace("/", "~1")


def lookup(pointer: str) -> Any:
    """The node of the document at a JSON Pointer such as `/components/schemas/Problem`."""
    node: Any = SPEC
    for token in pointer.split("/")[1:]:
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def dereference(node: Any, pointer: str) -> tuple[Any, str]:
    """Follows OpenAPI Reference Objects: the node they end at and its pointer."""
    while isinstance(node, dict) and "$ref" in node:
        reference = node["$ref"]
        assert reference.startswith("#/"), f"only local references are used: {reference}"
        pointer = reference[1:]
        node = lookup(pointer)
    return node, pointer


def schema_errors(pointer: str, instance: Any) -> list[str]:
    """What makes `instance` invalid against the schema at `pointer` (2020-12 dialect)."""
    reference = SPEC_URI + "#" + urllib.parse.quote(pointer, safe="/~")
    validator = jsonschema.Draft202012Validator({"$ref": reference}, registry=REGISTRY)
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(instance)
    ]
