"""GitHub's own REST description (``@octokit/openapi``'s ``generated/api.github.com.json``,
installed by scripts/test.sh under .cache/node) as JSON Schema the tests can validate with.

OpenAPI 3.0 marks null with ``nullable: true``, which JSON Schema does not know; it is turned
into ``type: [T, "null"]`` (or ``anyOf [..., null]``) once, on load.
"""

from __future__ import annotations

import copy
import functools
import json
import os
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

REPO = Path(__file__).resolve().parent.parent
NODE = Path(os.environ.get("LLMOPS_NODE_PREFIX", REPO / ".cache" / "node"))
SPEC = NODE / "node_modules" / "@octokit" / "openapi" / "generated" / "api.github.com.json"
PRISM = NODE / "node_modules" / ".bin" / "prism"


def _nullable(node):
    if isinstance(node, dict):
        node = {k: _nullable(v) for k, v in node.items()}
        if node.pop("nullable", False):
            if "type" in node and not any(k in node for k in ("$ref", "allOf", "anyOf", "oneOf")):
                node["type"] = [node["type"], "null"] if isinstance(node["type"], str) else [*node["type"], "null"]
                if "enum" in node:
                    node["enum"] = [*node["enum"], None]
            else:
                node = {"anyOf": [node, {"type": "null"}]}
        return node
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    return node


@functools.lru_cache(maxsize=1)
def spec() -> dict:
    if not SPEC.is_file():
        raise RuntimeError(f"{SPEC} is missing: scripts/test.sh installs @octokit/openapi with npm "
                           "(or point LLMOPS_NODE_PREFIX at a prefix that has it)")
    return _nullable(json.loads(SPEC.read_text()))


@functools.lru_cache(maxsize=1)
def _registry() -> Registry:
    return Registry().with_resource("github", Resource(contents=spec(), specification=DRAFT202012))


def _pointer(*parts: str) -> str:
    return "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def _response(template: str, method: str, status: int) -> dict | None:
    op = spec()["paths"][template][method.lower()]
    resp = op["responses"].get(str(status))
    if resp is None:
        return None
    if "$ref" in resp:
        resp = spec()["components"]["responses"][resp["$ref"].rsplit("/", 1)[-1]]
    return (resp.get("content") or {}).get("application/json")


def response_errors(template: str, method: str, status: int, body) -> list[str]:
    """What is wrong with ``body`` as GitHub's answer to METHOD TEMPLATE with STATUS."""
    content = _response(template, method, status)
    if content is None:
        return [f"{method} {template}: the spec has no {status} JSON answer"]
    ref = "github#/" + _pointer("paths", template, method.lower(), "responses", str(status), "content",
                                "application/json", "schema")
    validator = Draft202012Validator({"$ref": ref}, registry=_registry())
    return [f"{method} {template} {status}: {'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message[:200]}"
            for e in validator.iter_errors(body)]


def example(template: str, method: str, status: int) -> object:
    """A deep copy of the spec's first example answer for the operation."""
    content = _response(template, method, status)
    examples = content.get("examples") or {}
    first = next(iter(examples.values()))
    if "$ref" in first:
        first = spec()["components"]["examples"][first["$ref"].rsplit("/", 1)[-1]]
    return copy.deepcopy(first["value"])
